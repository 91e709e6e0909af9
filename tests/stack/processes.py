"""The server stack as separate processes, for the stack tests and bench/stack_pipeline.py.

Each part runs as production runs it: gunicorn, a Celery worker and Celery beat with
``CONTROLPLANE_ENV=production`` against this machine's PostgreSQL (the application role,
no BYPASSRLS) and Redis, ClickHouse over HTTP from ``python -m
controlplane.analytics.chdb_server``, and edge nodes as ``python -m edge`` with their node
tokens and the bundle public keys. Each process gets a session (process group) of its
own, so ``kill()`` is a SIGKILL of the whole group: the worker's pool children die with
it, as on a crashed machine.
"""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import httpx

from edge.process import free_port

__all__ = ["free_port"]

REPO = Path(__file__).resolve().parents[2]

# The stack's own Redis database: the test suite's broker is REDIS_URL's and its caches
# are 1-15 by pytest-xdist worker (controlplane/settings_test.py), and a worker of the
# suite's own (tests/test_tasks_runtime.py) consumes the maintenance queue there.
STACK_REDIS_DB = 14
# Variables of the test process that must not reach the stack's processes.
_TEST_ONLY = ("PYTEST", "DJANGO_SETTINGS_MODULE", "CHDB_PATH", "CONTROLPLANE_")


def stack_redis_url(redis_url: str) -> str:
    return urlunsplit(urlsplit(redis_url)._replace(path=f"/{STACK_REDIS_DB}"))


def database_url(settings_dict: Mapping[str, object]) -> str:
    """A ``postgres://`` URL for the database Django's connection uses."""
    user = quote(str(settings_dict.get("USER") or ""), safe="")
    password = str(settings_dict.get("PASSWORD") or "")
    credentials = f"{user}:{quote(password, safe='')}" if password else user
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or 5432
    return f"postgres://{credentials}@{host}:{port}/{settings_dict['NAME']}"


def app_env(
    *,
    var_dir: Path,
    database_url: str,
    redis_url: str,
    clickhouse_url: str,
    field_encryption_keys: list[str],
    bundle_signing_keys: list[str],
    **extra: str,
) -> dict[str, str]:
    """The environment of web, worker and beat: production settings, nothing from the
    test process (it runs with CONTROLPLANE_ENV=test and its own CHDB_PATH)."""
    (var_dir / "staticfiles").mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(_TEST_ONLY)}
    env.update(
        CONTROLPLANE_ENV="production",
        CONTROLPLANE_VAR_DIR=str(var_dir),
        SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="127.0.0.1",
        SECURE_SSL_REDIRECT="false",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        CLICKHOUSE_URL=clickhouse_url,
        FIELD_ENCRYPTION_KEYS=",".join(field_encryption_keys),
        BUNDLE_SIGNING_KEYS=",".join(bundle_signing_keys),
        EVIDENCE_SIGNING_KEYS="e1:" + base64.b64encode(secrets.token_bytes(32)).decode(),
        LOG_LEVEL="WARNING",
        **extra,
    )
    return env


class Service:
    """One process of the stack: started, waited for, killed or stopped, restarted."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        *,
        env: Mapping[str, str],
        log_dir: Path,
        ready: Callable[[], bool] | None = None,
        ready_text: str = "",
        start_timeout: float = 60.0,
    ) -> None:
        """Ready when ``ready()`` is true, or when the log since this start shows
        ``ready_text``."""
        self.name = name
        self.argv = argv
        self.env = dict(env)
        self.log = log_dir / f"{name}.log"
        self.ready = ready or (lambda: ready_text in self.log_since_start())
        self.start_timeout = start_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    def log_since_start(self) -> str:
        with self.log.open("rb") as log:
            log.seek(self._log_offset)
            return log.read().decode(errors="replace")

    def start(self, *, wait: bool = True) -> Service:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self._log_offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self.argv,
                cwd=REPO,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"{self.name} exited at start:\n{self.tail()}")
            if self.ready():
                return
            time.sleep(0.1)
        raise AssertionError(f"{self.name} was not ready in {self.start_timeout} s:\n{self.tail()}")

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL to the process and all its children."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if not self.running:
            return
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.kill()

    def tail(self, lines: int = 40) -> str:
        if not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def http_ok(url: str, **headers: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            return httpx.get(url, headers=headers, timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    return check


def clickhouse_server(*, path: Path, port: int, password: str, log_dir: Path) -> Service:
    return Service(
        "clickhouse",
        [
            sys.executable,
            "-m",
            "controlplane.analytics.chdb_server",
            "--path",
            str(path),
            "--port",
            str(port),
        ],
        env={**os.environ, "CLICKHOUSE_SERVER_PASSWORD": password},
        log_dir=log_dir,
        ready=http_ok(f"http://127.0.0.1:{port}/ping"),
    )


def web(*, env: Mapping[str, str], port: int, log_dir: Path) -> Service:
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        "controlplane.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "2",
        "--no-control-socket",  # one per user by default, shared by every gunicorn
    ]
    ready = http_ok(f"http://127.0.0.1:{port}/livez", Host="127.0.0.1")
    return Service("web", argv, env=env, log_dir=log_dir, ready=ready)


def worker(
    name: str, *, env: Mapping[str, str], log_dir: Path, concurrency: int = 2, queues: str = ""
) -> Service:
    argv = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "controlplane",
        "worker",
        "-Q",
        queues or "default,telemetry,maintenance",
        "--concurrency",
        str(concurrency),
        "-n",
        f"{name}@%h",
        "--without-gossip",
        "--without-mingle",
        "--loglevel",
        "INFO",
    ]
    return Service(name, argv, env=env, log_dir=log_dir, ready_text=" ready.")


def beat(*, env: Mapping[str, str], log_dir: Path, var_dir: Path) -> Service:
    argv = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "controlplane",
        "beat",
        "--schedule",
        str(var_dir / "celerybeat-schedule"),
        "--loglevel",
        "INFO",
    ]
    return Service("beat", argv, env=env, log_dir=log_dir, ready_text="beat:")


def edge(
    name: str,
    *,
    data_dir: Path,
    port: int,
    node_token: str,
    bundle_public_keys: str,
    log_dir: Path,
) -> Service:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(_TEST_ONLY)},
        "EDGE_HOST": "127.0.0.1",
        "EDGE_PORT": str(port),
        "EDGE_DATA_DIR": str(data_dir),
        "EDGE_NODE_TOKEN": node_token,
        "EDGE_BUNDLE_PUBLIC_KEYS": bundle_public_keys,
    }
    return Service(
        name,
        [sys.executable, "-m", "edge"],
        env=env,
        log_dir=log_dir,
        ready=http_ok(
            f"http://127.0.0.1:{port}/v1/heartbeat", Authorization=f"Bearer {node_token}"
        ),
    )

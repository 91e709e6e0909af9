"""docker/compose.yaml, checked without Docker: every service's environment, interpolated
from an operator's docker/.env (made from .env.example the way it says), against what
the code requires: the app's production settings load and pass ``check --deploy``, the
edge's settings load with a node token and the public keys of the app's bundle signing
keys, and no service sets a variable the code never reads."""

from __future__ import annotations

import base64
import os
import re
import secrets
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.fernet import Fernet

from controlplane.gateway.signing import SigningRing
from edge.settings import load_settings

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker" / "compose.yaml"
ENV_EXAMPLE = REPO / "docker" / ".env.example"
APP_SERVICES = ("migrate", "web", "worker", "beat")

_VARIABLE = re.compile(r"\$(?:\$|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\})")
# Read by a process's command or by gunicorn, not by the settings modules.
_PROCESS_VARIABLES = {
    "POSTGRES_ADMIN_URL",  # migrate's command
    "WORKER_CONCURRENCY",  # worker's command
    "WEB_CONCURRENCY",  # gunicorn
    "FORWARDED_ALLOW_IPS",  # gunicorn, in the image's command
}


class MissingVariable(Exception):
    pass


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's interpolation: ``${X}``, ``${X:-default}``, ``${X-default}``,
    ``${X:?error}``, ``${X?error}``, and ``$$`` for a literal ``$``."""

    def replace(match: re.Match[str]) -> str:
        name, operator, argument = match.groups()
        if name is None:
            return "$"
        value = env.get(name)
        unset_or_empty = not value
        missing = unset_or_empty if operator in (":-", ":?") else value is None
        if operator in (":-", "-") and missing:
            return interpolate(argument, env)
        if operator in (":?", "?") and missing:
            raise MissingVariable(f"{name}: {argument}")
        return value or ""

    return _VARIABLE.sub(replace, text)


def resolve(node: Any, env: dict[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, list):
        return [resolve(item, env) for item in node]
    if isinstance(node, dict):
        return {key: resolve(value, env) for key, value in node.items()}
    return node


def env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name] = value.strip('"')
    return values


@cache
def operator_env() -> dict[str, str]:
    """docker/.env as an operator fills it: every empty value made as the file says; the
    edge's public keys printed by ``manage.py bundle_public_keys`` in the web container."""
    values = env_example()
    made = {
        "SECRET_KEY": secrets.token_urlsafe(64),
        "FIELD_ENCRYPTION_KEYS": "k1:" + Fernet.generate_key().decode(),
        "BUNDLE_SIGNING_KEYS": "b1:" + base64.b64encode(os.urandom(32)).decode(),
        "EVIDENCE_SIGNING_KEYS": "e1:" + base64.b64encode(os.urandom(32)).decode(),
        "EDGE_NODE_TOKEN": "acpn_" + secrets.token_urlsafe(32),
    }
    for name, value in values.items():
        if not value and name != "EDGE_BUNDLE_PUBLIC_KEYS":
            values[name] = made.get(name) or secrets.token_hex(24)  # passwords: hex
    return values


@cache
def compose(env: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE.read_text())
    services: dict[str, Any] = resolve(document["services"], dict(env))
    return services


def service_env(name: str, env: dict[str, str] | None = None) -> dict[str, str]:
    services = compose(tuple(sorted((env or operator_env()).items())))
    environment = services[name].get("environment") or {}
    return {key: "" if value is None else str(value) for key, value in environment.items()}


def names_the_code_reads() -> set[str]:
    settings = (REPO / "controlplane" / "settings.py").read_text()
    edge = (REPO / "edge" / "settings.py").read_text()
    return set(re.findall(r"env\.\w+\(\s*\"([A-Z][A-Z0-9_]+)\"", settings)) | set(
        re.findall(r"\"(EDGE_[A-Z0-9_]+)\"", edge)
    )


def run_django(env: dict[str, str], code: str) -> subprocess.CompletedProcess[str]:
    """``code`` after ``django.setup()`` in a process with exactly the service's
    environment (and the image's own ENV), as the container would run it."""
    image_env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(REPO),
        "CONTROLPLANE_VAR_DIR": tempfile.gettempdir(),
        "PORT": "8000",
        "DJANGO_SETTINGS_MODULE": "controlplane.settings",
    }
    script = f"import django\ndjango.setup()\n{code}"
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        env={**image_env, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_every_variable_compose_reads_is_in_env_example() -> None:
    lines = [line for line in COMPOSE.read_text().splitlines() if not line.lstrip().startswith("#")]
    referenced = {match[0] for match in _VARIABLE.findall("\n".join(lines)) if match[0]}
    assert referenced - set(env_example()) == set()


def test_compose_refuses_to_start_without_a_required_secret() -> None:
    without = {**operator_env(), "BUNDLE_SIGNING_KEYS": ""}
    with pytest.raises(MissingVariable, match="BUNDLE_SIGNING_KEYS"):
        service_env("web", without)


@pytest.mark.parametrize("service", APP_SERVICES)
def test_each_app_service_sets_only_what_the_code_reads(service: str) -> None:
    unknown = set(service_env(service)) - names_the_code_reads() - _PROCESS_VARIABLES
    assert unknown == set()


CHECK_DEPLOY = (
    "from django.core.management import call_command\n"
    "call_command('check', deploy=True, fail_level='WARNING')\n"
)
PUBLIC_KEYS = "from django.core.management import call_command\ncall_command('bundle_public_keys')"


@pytest.fixture(scope="module")
def django_runs() -> dict[str, subprocess.CompletedProcess[str]]:
    """``check --deploy`` in each app service's environment (then, in web's,
    ``bundle_public_keys``), as separate processes at once: each loads the settings."""
    jobs = {service: (service_env(service), CHECK_DEPLOY) for service in APP_SERVICES}
    jobs["web"] = (service_env("web"), CHECK_DEPLOY + PUBLIC_KEYS)
    with ThreadPoolExecutor(len(jobs)) as pool:
        futures = {name: pool.submit(run_django, *job) for name, job in jobs.items()}
        return {name: future.result() for name, future in futures.items()}


@pytest.mark.parametrize("service", APP_SERVICES)
def test_each_app_service_passes_the_production_checks(
    service: str, django_runs: dict[str, subprocess.CompletedProcess[str]]
) -> None:
    env = service_env(service)
    result = django_runs[service]
    assert result.returncode == 0, result.stderr
    commands = " ".join(map(str, compose_command(service)))
    for name in re.findall(r"\$\$\{?([A-Z_]+)", commands):
        assert env.get(name), f"{service}'s command reads {name}, which it is not given"


def compose_command(service: str) -> list[str]:
    raw = yaml.safe_load(COMPOSE.read_text())["services"][service]
    command = raw.get("command") or []
    return [command] if isinstance(command, str) else list(command)


def test_the_edge_takes_signed_bundles_and_can_open_provider_keys(
    django_runs: dict[str, subprocess.CompletedProcess[str]],
) -> None:
    web = service_env("web")
    printed = django_runs["web"]
    assert printed.returncode == 0, printed.stderr
    [line] = [line for line in printed.stdout.splitlines() if line.startswith("EDGE_BUNDLE")]
    name, _, public_keys = line.partition("=")
    assert name == "EDGE_BUNDLE_PUBLIC_KEYS"
    env = {**operator_env(), "EDGE_BUNDLE_PUBLIC_KEYS": public_keys}

    edge_env = service_env("edge", env)
    assert set(edge_env) <= names_the_code_reads()
    settings = load_settings(edge_env)
    assert settings.node_token == env["EDGE_NODE_TOKEN"]
    assert (
        dict(settings.bundle_public_keys)
        == SigningRing(web["BUNDLE_SIGNING_KEYS"].split(",")).public_keys()
    )
    raw = yaml.safe_load(COMPOSE.read_text())["services"]["edge"]
    assert any(volume.endswith(f":{edge_env['EDGE_DATA_DIR']}") for volume in raw["volumes"])

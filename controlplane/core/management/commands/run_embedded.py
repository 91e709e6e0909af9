import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from controlplane.agents.models import EdgeNode
from controlplane.agents.services import edge_node_token, sha256_hex
from controlplane.core.tenancy import all_tenants_context
from controlplane.gateway.signing import bundle_public_keys
from controlplane.tasks_runtime import start_in_process, stop_in_process

ROOT = Path(__file__).resolve().parents[4]
DEMO_RERUN_SECONDS = 90


class Command(BaseCommand):
    help = (
        "Run the whole control plane in one process (what `make run` does): embedded "
        "PostgreSQL and ClickHouse (chDB), migrations, demo data, an in-process Celery "
        "worker and beat, and the web server; beside it, the demo's edge nodes and the "
        "agent simulator as child processes."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=settings.PORT)
        parser.add_argument("--no-demo", action="store_true", help="No demo data or traffic.")
        parser.add_argument("--rate", type=float, default=2.0, help="simulated traces per second")
        parser.add_argument("--threads", type=int, default=8)

    def handle(
        self,
        *args: Any,
        host: str,
        port: int,
        no_demo: bool,
        rate: float,
        threads: int,
        **options: Any,
    ) -> None:
        if settings.TASK_RUNNER != "in-process" or settings.CLICKHOUSE_URL:
            raise CommandError(
                "run_embedded is the no-server mode: unset REDIS_URL and CLICKHOUSE_URL, or run "
                "the server stack (docker/compose.yaml) with separate web, worker and beat."
            )
        call_command("migrate", interactive=False, verbosity=0)
        call_command("migrate_clickhouse", verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        children: list[subprocess.Popen[bytes]] = []
        if not no_demo:
            call_command("seed_demo")
            children = self._start_demo_processes(rate)
        start_in_process()
        if not no_demo:
            # The catalog ran once in seed_demo, before any edge node was up; run it again
            # once the edges have been pulled, so availability shows them as they are.
            from compliance.tasks import run_scheduled

            run_scheduled.apply_async(countdown=DEMO_RERUN_SECONDS)

        from waitress import serve

        from controlplane.wsgi import application

        self.stdout.write(
            f"Agent Control Plane at http://{host}:{port}/  (Ctrl-C stops everything)"
        )
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        try:
            serve(application, host=host, port=port, threads=threads, ident="controlplane")
        except KeyboardInterrupt:
            pass
        finally:
            stop_in_process()
            for child in children:
                child.terminate()
            for child in children:
                try:
                    child.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    child.kill()
            self.stdout.write("stopped")

    def _start_demo_processes(self, rate: float) -> list[subprocess.Popen[bytes]]:
        """The simulated model provider, one edge node process per demo edge node, and the
        agent simulator."""
        children = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "edge.simprovider",
                    "--port",
                    "4400",
                    "--error-rate",
                    "0.03",
                    "--rate-limit-rate",
                    "0.02",
                ],
                cwd=ROOT,
            )
        ]
        with all_tenants_context():
            nodes = list(EdgeNode.unscoped.select_related("tenant"))
        public_keys = bundle_public_keys()
        for node in nodes:
            address = urlsplit(node.pull_url)
            token = edge_node_token(node)
            env = {
                **os.environ,
                "EDGE_HOST": address.hostname or "127.0.0.1",
                "EDGE_PORT": str(address.port or 4318),
                "EDGE_DATA_DIR": str(settings.VAR_DIR / "edge" / node.tenant.slug),
                "EDGE_NODE_TOKEN_SHA256": sha256_hex(token),
                # The token itself opens the provider keys in the bundle (docs/gateway.md);
                # the public keys verify the bundle's signature.
                "EDGE_NODE_TOKEN": token,
                "EDGE_BUNDLE_PUBLIC_KEYS": public_keys,
            }
            children.append(subprocess.Popen([sys.executable, "-m", "edge"], cwd=ROOT, env=env))
        children.append(
            subprocess.Popen(
                [sys.executable, "manage.py", "simulate_agents", "--rate", str(rate)], cwd=ROOT
            )
        )
        return children

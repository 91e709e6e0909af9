import signal
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from controlplane.tasks_runtime import start_in_process, stop_in_process


class Command(BaseCommand):
    help = (
        "Run the whole control plane in one process (what `make run` does): embedded "
        "PostgreSQL and ClickHouse (chDB), migrations, demo data, an in-process Celery "
        "worker and beat, and the web server."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=settings.PORT)
        parser.add_argument("--no-demo", action="store_true", help="Do not load demo data.")
        parser.add_argument("--threads", type=int, default=8)

    def handle(
        self, *args: Any, host: str, port: int, no_demo: bool, threads: int, **options: Any
    ) -> None:
        if settings.TASK_RUNNER != "in-process" or settings.CLICKHOUSE_URL:
            raise CommandError(
                "run_embedded is the no-server mode: unset REDIS_URL and CLICKHOUSE_URL, or run "
                "the server stack (docker/compose.yaml) with separate web, worker and beat."
            )
        call_command("migrate", interactive=False, verbosity=0)
        call_command("migrate_clickhouse", verbosity=0)
        if not no_demo:
            call_command("seed_demo")
        start_in_process()

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
            self.stdout.write("stopped")

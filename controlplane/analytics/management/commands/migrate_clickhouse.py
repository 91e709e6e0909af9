from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from controlplane.analytics import StoreError, get_store
from controlplane.analytics.migrations_runner import MigrationError, discover, migrate, plan, states


class Command(BaseCommand):
    help = (
        "Apply the ClickHouse migrations (controlplane/analytics/migrations/NNNN_*.sql) "
        "not applied yet, in order. Safe to run again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        show = parser.add_mutually_exclusive_group()
        show.add_argument("--list", action="store_true", help="Show every migration's state.")
        show.add_argument("--plan", action="store_true", help="Show what would be applied.")

    def handle(self, *args: Any, **options: Any) -> None:
        cluster = getattr(settings, "CLICKHOUSE_CLUSTER", "") or ""
        verbose = options["verbosity"] >= 1
        try:
            store = get_store()
            if options["list"]:
                for state in states(store, discover(), cluster):
                    when = f"  {state.applied_at:%Y-%m-%d %H:%M:%S}" if state.applied_at else ""
                    self.stdout.write(f"{state.state:<8} {state.name}{when}")
            elif options["plan"]:
                pending = [migration.name for migration in plan(store, discover(), cluster)]
                self.stdout.write("\n".join(pending) if pending else "Nothing to apply.")
            else:
                applied = migrate(
                    store, cluster=cluster, log=self.stdout.write if verbose else None
                )
                if verbose and not applied:
                    self.stdout.write("No ClickHouse migrations to apply.")
        except (MigrationError, StoreError) as exc:
            raise CommandError(str(exc)) from exc

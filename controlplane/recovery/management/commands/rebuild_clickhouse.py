from collections import Counter
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from controlplane.analytics import StoreError
from controlplane.core.tenancy import all_tenants_context
from controlplane.recovery.services import clickhouse_rebuild, parse_period
from tenants.models import Tenant


class Command(BaseCommand):
    help = (
        "Put back into ClickHouse, from the PostgreSQL ledger, every event of a period that "
        "it lacks (without bodies, which only ClickHouse had). Idempotent: run it again "
        "and nothing is added. Each hour compared is recorded as a reconciliation run."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--from", dest="start", required=True, help="start, ISO date or datetime (UTC)"
        )
        parser.add_argument("--to", dest="end", help="end, exclusive (default: now)")
        parser.add_argument("--tenant", help="only this tenant (its slug)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            since, until = parse_period(options["start"], options["end"])
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        tenant = None
        if options["tenant"]:
            with all_tenants_context():
                tenant = Tenant.objects.filter(slug=options["tenant"]).first()
            if tenant is None:
                raise CommandError(f"--tenant: no tenant with slug {options['tenant']!r}")
        try:
            runs = clickhouse_rebuild(since=since, until=until, tenant=tenant)
        except StoreError as exc:
            raise CommandError(f"ClickHouse: {exc}") from exc
        outcomes = Counter(run.outcome for run in runs)
        self.stdout.write(
            f"{len(runs)} hours compared from {since.isoformat()} to {until.isoformat()}: "
            f"{sum(run.repaired_events for run in runs)} events re-inserted, "
            f"{outcomes['matched']} matched, {outcomes['repaired']} repaired, "
            f"{outcomes['mismatch']} still differ"
        )
        if outcomes["mismatch"]:
            raise CommandError("some hours still differ from the ledger (see reconciliation runs)")

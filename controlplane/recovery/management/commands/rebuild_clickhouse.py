from collections import Counter
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from controlplane.analytics import StoreError
from controlplane.core.tenancy import all_tenants_context
from controlplane.recovery.management.commands._period import add_period_arguments, period
from controlplane.recovery.services import clickhouse_rebuild
from tenants.models import Tenant


class Command(BaseCommand):
    help = (
        "Put back into ClickHouse, from the PostgreSQL ledger, every event of a period that "
        "it lacks (without bodies, which only ClickHouse had). Idempotent: run it again "
        "and nothing is added. Each hour compared is recorded as a reconciliation run."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        add_period_arguments(parser, "the period to rebuild")
        parser.add_argument("--tenant", help="only this tenant (its slug)")

    def handle(self, *args: Any, **options: Any) -> None:
        since, until = period(options)
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

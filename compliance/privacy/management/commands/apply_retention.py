from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from compliance.privacy.models import RetentionRun
from compliance.privacy.retention import continue_run, start_sweep
from tenants.models import Tenant


class Command(BaseCommand):
    help = (
        "Apply retention now, in this process (what the daily task does): every tenant's, "
        "or one tenant's. Prints what each run removed per store; idempotent."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", help="only this tenant (slug)")

    def handle(self, *args: Any, tenant: str | None, **options: Any) -> None:
        chosen = None
        if tenant is not None:
            chosen = Tenant.objects.filter(slug=tenant).first()
            if chosen is None:
                raise CommandError(f"--tenant: no tenant with the slug {tenant!r}")
        runs = start_sweep(
            trigger=RetentionRun.Trigger.MANUAL,
            requested_by="manage.py apply_retention",
            tenants=[chosen] if chosen else None,
        )
        failed = 0
        for started in runs:
            run = continue_run(started.pk)
            slug = Tenant.objects.get(pk=run.tenant_id).slug
            self.stdout.write(f"{slug}: {run.state}, {run.total_removed} removed")
            for item in run.removed:
                if item["rows"]:
                    self.stdout.write(
                        f"  {item['store']} {item['target']} ({item['kind']}, "
                        f"{item['how']}): {item['rows']}"
                    )
            for note in run.kept:
                self.stdout.write(f"  kept: {note}")
            failed += run.state == RetentionRun.State.PARTIAL
        if failed:
            raise CommandError(f"{failed} runs could not finish every store; see their errors")

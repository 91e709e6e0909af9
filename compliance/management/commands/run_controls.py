from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from compliance.catalog import catalog_sync
from compliance.models import TestRun
from compliance.runs import test_run_execute, test_run_request
from controlplane.audit.services import Actor
from tenants.models import Tenant


class Command(BaseCommand):
    help = (
        "Load the control catalog (compliance/catalog/tsc2017.yaml) and run its tests now, "
        "in this process: every tenant's and the MSP's own, or one tenant's."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", help="only this tenant's tests (its slug)")

    def handle(self, *args: Any, tenant: str | None, **options: Any) -> None:
        only = None
        if tenant:
            only = Tenant.objects.filter(slug=tenant).first()
            if only is None:
                raise CommandError(f"--tenant: no tenant with the slug {tenant!r}")
        controls = catalog_sync()
        run = test_run_request(
            actor=Actor.system("manage.py run_controls"),
            trigger=TestRun.Trigger.CONSOLE,
            tenant=only,
            enqueue=False,
        )
        run = test_run_execute(run_id=run.pk)
        self.stdout.write(
            f"{len(controls)} controls; {run.evidence_count} evidence records, "
            f"{run.failed_count} failing"
        )

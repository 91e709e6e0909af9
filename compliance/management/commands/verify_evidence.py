from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from compliance.evidence import evidence_verify
from tenants.models import Tenant


class Command(BaseCommand):
    help = (
        "Check the hash chains of the compliance evidence (one per tenant and the MSP's "
        "own); name the first altered, missing or reordered record of each."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", help="only this tenant's chain (its slug)")

    def handle(self, *args: Any, tenant: str | None, **options: Any) -> None:
        only = None
        if tenant:
            only = Tenant.objects.filter(slug=tenant).first()
            if only is None:
                raise CommandError(f"--tenant: no tenant with the slug {tenant!r}")
        result = evidence_verify(tenant=only)
        if not result.ok:
            problems = "\n".join(f"  {problem}" for problem in result.problems)
            raise CommandError(f"evidence verification FAILED:\n{problems}")
        self.stdout.write(
            f"evidence OK: {result.checked} records in {result.chains} chains, intact"
        )

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from controlplane.audit.services import audit_verify


class Command(BaseCommand):
    help = "Check the audit trail's hash chain; report the first tampered or missing entry."

    def handle(self, *args: Any, **options: Any) -> None:
        result = audit_verify()
        if not result.ok:
            raise CommandError(f"audit log verification FAILED: {result.problem}")
        self.stdout.write(f"audit log OK: {result.checked} entries, chain intact")

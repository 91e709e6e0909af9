from typing import Any

import pyotp
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from tenants.demo import DEMO_TOTP_SECRET, STAFF


class Command(BaseCommand):
    help = "Print the current two-factor code of the demo staff accounts (demo only)."

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.IS_PRODUCTION:
            raise CommandError("demo accounts do not exist in production")
        self.stdout.write(pyotp.TOTP(DEMO_TOTP_SECRET).now())
        self.stderr.write(f"valid for: {', '.join(email for email, _, _ in STAFF)}")

"""Issue a personal API token from the command line.

Only the token goes to stdout, so scripts can capture it:
``TOKEN=$(manage.py create_api_token --email ops@msp.example --read-only)``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from controlplane.accounts.models import User
from controlplane.accounts.services import user_tenant_id
from controlplane.api.tokens import api_token_create
from controlplane.audit.services import Actor
from tenants.models import Tenant


class Command(BaseCommand):
    help = "Create a personal API token for a user and print it (shown only once)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--email", required=True, help="The user the token acts for.")
        parser.add_argument("--name", default="command line", help="A label to recognise it.")
        parser.add_argument("--read-only", action="store_true", help="Allow only reads.")
        parser.add_argument(
            "--expires-days",
            type=int,
            default=settings.API_TOKEN_DEFAULT_DAYS,
            help="Days until the token expires (default: %(default)s).",
        )
        parser.add_argument("--tenant", metavar="SLUG", help="Limit a staff token to this tenant.")

    def handle(self, *args: Any, **options: Any) -> None:
        email: str = options["email"].strip()
        user = User.objects.filter(email__iexact=email).first()
        if user is None:
            raise CommandError(f"--email: no user has the email {email!r}.")
        if not user.is_active:
            raise CommandError(f"--email: the user {user.email} is deactivated.")
        name: str = options["name"].strip()
        if not name or len(name) > 100:
            raise CommandError("--name: give 1 to 100 characters.")
        days: int = options["expires_days"]
        if days < 1:
            raise CommandError("--expires-days: give a number of days of at least 1.")
        own_tenant = user_tenant_id(user)
        tenant_id = self._tenant_id(options["tenant"], user=user, own_tenant=own_tenant)

        _, plaintext = api_token_create(
            actor=Actor.system("manage.py create_api_token"),
            user=user,
            name=name,
            read_only=options["read_only"],
            tenant_id=tenant_id,
            expires_in=dt.timedelta(days=days),
        )
        self.stdout.write(plaintext)

    @staticmethod
    def _tenant_id(
        slug: str | None, *, user: User, own_tenant: uuid.UUID | None
    ) -> uuid.UUID | None:
        if slug is None:
            return own_tenant
        tenant = Tenant.objects.filter(slug=slug).first()
        if tenant is None:
            raise CommandError(f"--tenant: no tenant has the slug {slug!r}.")
        if not user.is_msp_staff and tenant.pk != own_tenant:
            raise CommandError(f"--tenant: {user.email} is not a member of {slug!r}.")
        return tenant.pk

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from controlplane.db.embedded import bootstrap_role_and_database


class Command(BaseCommand):
    help = (
        "Create the application's PostgreSQL role (no SUPERUSER, no BYPASSRLS, so row-level "
        "security applies to it) and its database, using an administrator connection."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--admin-url",
            required=True,
            help="An administrator connection, e.g. postgres://postgres@127.0.0.1:5432/postgres",
        )

    def handle(self, *args: Any, admin_url: str, **options: Any) -> None:
        database = settings.DATABASES["default"]
        role, name = database.get("USER"), database.get("NAME")
        if not role or not name:
            raise CommandError("DATABASE_URL must name the application role and database")
        bootstrap_role_and_database(
            admin_url, role=role, database=name, password=database.get("PASSWORD") or None
        )
        self.stdout.write(f"role {role!r} and database {name!r} are ready")

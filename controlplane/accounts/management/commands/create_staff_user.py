import getpass
import sys
from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from controlplane.accounts.models import StaffRole, User
from controlplane.audit.services import Actor
from tenants.services import staff_user_create


class Command(BaseCommand):
    help = (
        "Create an MSP staff account (the first admin of a new deployment, for one). The "
        "person sets up two-factor sign-in at their first sign-in."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--email", required=True)
        parser.add_argument("--role", required=True, choices=StaffRole.values)
        parser.add_argument("--name", default="")
        parser.add_argument(
            "--password-stdin", action="store_true", help="read the password from standard input"
        )

    def handle(
        self, *args: Any, email: str, role: str, name: str, password_stdin: bool, **options: Any
    ) -> None:
        email = email.strip().lower()
        if User.objects.filter(email__iexact=email).exists():
            raise CommandError(f"--email: {email} already has an account")
        password = sys.stdin.readline().rstrip("\n") if password_stdin else getpass.getpass()
        try:
            validate_password(password, User(email=email, full_name=name))
        except ValidationError as exc:
            raise CommandError(f"password: {' '.join(exc.messages)}") from None
        staff_user_create(
            actor=Actor.system("manage.py create_staff_user"),
            email=email,
            role=role,
            password=password,
            full_name=name,
        )
        self.stdout.write(f"created {role} {email}; two-factor setup happens at first sign-in")

"""System checks: the database role must not bypass row-level security."""

from __future__ import annotations

from typing import Any

from django.core.checks import Error, Tags, register
from django.db import connection
from django.db.utils import OperationalError


@register(Tags.database)
def check_role_is_subject_to_rls(app_configs: Any, **kwargs: Any) -> list[Error]:
    databases = kwargs.get("databases") or []
    if "default" not in databases:
        return []
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"
            )
            row = cursor.fetchone()
    except OperationalError:
        return []
    if row and (row[0] or row[1]):
        return [
            Error(
                "The database role is a superuser or has BYPASSRLS, so row-level security "
                "does not protect tenant data.",
                hint="Connect with the non-superuser role that `manage.py bootstrap_db` creates.",
                id="controlplane.E001",
            )
        ]
    return []

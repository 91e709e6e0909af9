"""Helpers for the sign-in tests."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pyotp
import pytest
from django.core.cache import cache
from django.test import Client

from controlplane.accounts.models import User
from controlplane.audit.models import AuditEvent
from controlplane.core.tenancy import all_tenants_context
from tests.conftest import PASSWORD


@pytest.fixture(autouse=True)
def _fresh_counters() -> Iterator[None]:
    """Lockout counters live in the cache, which outlives a test's transaction."""
    cache.clear()
    yield
    cache.clear()


def sign_in(client: Client, email: str, password: str = PASSWORD, **extra: str) -> Any:
    return client.post("/login/", {"email": email, "password": password, **extra})


def audit_events(user: User) -> list[AuditEvent]:
    with all_tenants_context():
        return list(
            AuditEvent.unscoped.filter(
                target_type="accounts.user", target_id=str(user.pk)
            ).order_by("seq")
        )


def audit_actions(user: User) -> list[str]:
    return [event.action for event in audit_events(user)]


def wrong_code(totp: pyotp.TOTP) -> str:
    """A 6-digit code that no step near now accepts."""
    now = time.time()
    valid = {totp.at(now + shift) for shift in (-60, -30, 0, 30, 60)}
    candidate = 123456
    while f"{candidate:06d}" in valid:
        candidate += 1
    return f"{candidate:06d}"


def is_signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session

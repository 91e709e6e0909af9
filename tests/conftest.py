"""Shared fixtures: two tenants with people of every role, and MSP staff.

Tests see the real PostgreSQL with row-level security: the embedded server when
DATABASE_URL is not set, the CI machine's server otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import count
from typing import Any

import pyotp
import pytest
from django.test import Client
from django.utils import timezone

from controlplane.accounts.mfa import SESSION_MFA_VERIFIED_AT
from controlplane.accounts.models import TOTPDevice, User
from controlplane.audit.services import Actor
from controlplane.core.crypto import key_ring
from tenants.models import Tenant
from tenants.services import customer_user_create, staff_user_create, tenant_create

PASSWORD = "correct horse battery staple"
SYSTEM = Actor.system("tests")
_numbers = count(1)


@pytest.fixture
def tenant_a(db: None) -> Tenant:
    return tenant_create(actor=SYSTEM, slug="acme", name="Acme Corp")


@pytest.fixture
def tenant_b(db: None) -> Tenant:
    return tenant_create(actor=SYSTEM, slug="globex", name="Globex")


@pytest.fixture
def make_customer(db: None) -> Callable[..., User]:
    def make(tenant: Tenant, role: str = "member", email: str | None = None) -> User:
        address = email or f"{role}{next(_numbers)}@{tenant.slug}.example"
        return customer_user_create(
            actor=SYSTEM, tenant=tenant, email=address, role=role, password=PASSWORD
        )

    return make


def enroll_totp(user: User) -> pyotp.TOTP:
    """Give ``user`` a confirmed authenticator; return it to generate codes."""
    secret = pyotp.random_base32()
    TOTPDevice.objects.update_or_create(
        user=user,
        defaults={"encrypted_secret": key_ring().encrypt(secret), "confirmed_at": timezone.now()},
    )
    return pyotp.TOTP(secret)


@pytest.fixture
def make_staff(db: None) -> Callable[..., User]:
    def make(role: str = "admin", *, with_mfa: bool = True) -> User:
        user = staff_user_create(
            actor=SYSTEM,
            email=f"staff-{role}{next(_numbers)}@msp.example",
            role=role,
            password=PASSWORD,
        )
        if with_mfa:
            enroll_totp(user)
        return user

    return make


def signed_in(user: User, *, mfa_passed: bool = True) -> Client:
    """A browser session for ``user``, past the second factor unless told otherwise."""
    client = Client()
    client.force_login(user)
    if mfa_passed:
        session = client.session
        session[SESSION_MFA_VERIFIED_AT] = timezone.now().isoformat()
        session.save()
    return client


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None, django_db_blocker: Any) -> None:
    """Mark the test database as disposable, so that emptying it between transactional
    tests may truncate the audit trail (see audit migration 0002)."""
    from django.db import connection

    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS disposable_test_database ()")


@pytest.fixture(scope="session", autouse=True)
def clickhouse_schema() -> None:
    """Apply the ClickHouse migrations once per test process (its own chDB directory)."""
    from controlplane.analytics import get_store
    from controlplane.analytics.migrations_runner import migrate

    migrate(get_store())


@pytest.fixture(autouse=True)
def celery_app_stays_ours() -> Iterator[None]:
    """A test that makes another Celery app current (``Celery(...)`` without
    ``set_as_current=False``) would send every later test's tasks in this process to that
    app's broker instead of running them eagerly; name it here instead."""
    from celery import current_app

    from controlplane.celery import app

    yield
    current = current_app._get_current_object()  # type: ignore[attr-defined]
    assert current is app, "a test left another Celery app current"


@pytest.fixture
def clickhouse_down(settings: Any) -> Iterator[None]:
    """ClickHouse really unreachable: the store points at a closed local port."""
    from controlplane.analytics import reset_store

    settings.CLICKHOUSE_URL = "http://default:@127.0.0.1:9/"
    reset_store()
    yield
    reset_store()  # the next use builds the store from the restored settings

"""Outside auditors of tenant A, with the web tests' two tenants and fleets."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from django.utils import timezone

from compliance.periods import Period
from controlplane.accounts.auditors import auditor_create
from controlplane.accounts.models import User
from tenants.models import Tenant
from tests.conftest import PASSWORD, SYSTEM, enroll_totp
from tests.web.conftest import fleet_a, fleet_b, make_fleet, world

__all__ = ["fleet_a", "fleet_b", "make_fleet", "world"]


def last_quarter() -> Period:
    return Period.last_full_quarter(timezone.now().date())


def around_today() -> Period:
    today = timezone.now().date()
    return Period(today - dt.timedelta(days=20), today + dt.timedelta(days=5))


@pytest.fixture
def make_auditor(db: None) -> Callable[..., User]:
    """An auditor of ``tenants`` with a password and (unless told) an authenticator."""
    numbers = iter(range(1, 1000))

    def make(
        *tenants: Tenant,
        period: Period | None = None,
        lasts: dt.timedelta = dt.timedelta(days=30),
        with_mfa: bool = True,
    ) -> User:
        account = auditor_create(
            actor=SYSTEM,
            email=f"auditor{next(numbers)}@cpa.example",
            tenants=list(tenants),
            period=period or last_quarter(),
            expires_at=timezone.now() + lasts,
            organization="Example CPA LLP",
        )
        user = account.user
        user.set_password(PASSWORD)
        user.save(update_fields=["password"])
        if with_mfa:
            enroll_totp(user)
        return User.objects.select_related("auditor_account").get(pk=user.pk)

    return make

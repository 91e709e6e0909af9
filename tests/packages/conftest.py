"""Packages of a tenant with traffic, audit entries and a saved diagram in the period."""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.utils import timezone

from compliance.models import EvidencePackage
from compliance.packages.services import package_request
from compliance.periods import Period
from controlplane.core.tenancy import tenant_context
from tenants.models import Tenant
from tests.compliance.traffic import send_traffic
from tests.conftest import SYSTEM
from tests.web.conftest import fleet_a, fleet_b, make_fleet, world

__all__ = ["fleet_a", "fleet_b", "make_fleet", "world"]


def this_month() -> Period:
    """A period around today, so what the test makes now lies inside it."""
    today = timezone.now().date()
    return Period(today - dt.timedelta(days=20), today + dt.timedelta(days=5))


@dataclass
class Built:
    package: EvidencePackage
    data: bytes

    def members(self) -> dict[str, bytes]:
        with zipfile.ZipFile(io.BytesIO(self.data)) as archive:
            return {name: archive.read(name) for name in archive.namelist()}


@pytest.fixture
def build(django_capture_on_commit_callbacks: Callable) -> Callable[..., Built]:
    """Request a package and let the (eager) Celery task build it after the commit."""

    def make(tenant: Tenant, period: Period | None = None) -> Built:
        with django_capture_on_commit_callbacks(execute=True):
            package = package_request(actor=SYSTEM, tenant=tenant, period=period or this_month())
        with tenant_context(tenant):
            package = EvidencePackage.objects.get(pk=package.pk)
        assert package.status == EvidencePackage.Status.READY, package.error
        return Built(package=package, data=bytes(package.content))

    return make


def with_traffic(fleet: object) -> None:
    send_traffic(fleet, timezone.now() - dt.timedelta(hours=2))  # type: ignore[arg-type]

"""The ledger keeps monthly partitions ahead of time and drops the expired ones."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection

from billing.pricing import PriceBook
from controlplane.core.tenancy import tenant_context
from controlplane.telemetry.ledger import ledger_insert
from controlplane.telemetry.maintenance import maintain_ledger_partitions
from controlplane.telemetry.partitions import existing_partitions
from controlplane.telemetry.records import build_batch
from tenants.models import Tenant
from tests.telemetry.records import spool_line

pytestmark = pytest.mark.django_db


def test_events_land_in_the_partition_of_their_month(tenant_a: Tenant) -> None:
    when = dt.datetime(2025, 3, 15, 12, tzinfo=dt.UTC)
    batch = build_batch(
        [spool_line(tenant_a, when=when, trace=1, span=1)], prices=PriceBook([]), retention_days={}
    )
    with tenant_context(tenant_a):
        assert ledger_insert(batch.ledger) == 1
        assert ledger_insert(batch.ledger) == 0  # the same event again
    assert dt.date(2025, 3, 1) in existing_partitions()
    with connection.cursor() as cursor, tenant_context(tenant_a):
        cursor.execute("SELECT count(*) FROM telemetry_usageevent_y2025m03")
        assert cursor.fetchone() == (1,)


def test_maintenance_creates_months_ahead() -> None:
    months = maintain_ledger_partitions(today=dt.date(2026, 11, 26))

    assert months == [dt.date(2026, 11, 1), dt.date(2026, 12, 1), dt.date(2027, 1, 1)]
    assert set(months) <= set(existing_partitions())

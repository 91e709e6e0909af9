"""The ledger takes each event once, whatever mix of new and known events a batch holds."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import IntegrityError, connection

from billing.pricing import PriceBook
from controlplane.core.tenancy import tenant_context
from controlplane.telemetry.ledger import ledger_insert
from controlplane.telemetry.records import LEDGER_COLUMNS, build_batch
from tenants.models import Tenant
from tests.telemetry.records import spool_line

pytestmark = pytest.mark.django_db

WHEN = dt.datetime(2026, 11, 20, 9, tzinfo=dt.UTC)


def _rows(tenant: Tenant, spans: range) -> list[tuple[object, ...]]:
    lines = [
        spool_line(tenant, when=WHEN + dt.timedelta(seconds=span), trace=1, span=span)
        for span in spans
    ]
    return build_batch(lines, prices=PriceBook([]), retention_days={}).ledger


def _ledger(tenant: Tenant) -> list[str]:
    with tenant_context(tenant), connection.cursor() as cursor:
        cursor.execute("SELECT span_id FROM telemetry_usageevent ORDER BY span_id")
        return [row[0] for row in cursor.fetchall()]


def test_a_batch_overlapping_the_ledger_adds_only_its_new_events(tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        assert ledger_insert(_rows(tenant_a, range(1, 4))) == 3
        # Events 2 and 3 again (a replay), with 4 and 5 new, and 5 twice in the batch.
        assert ledger_insert(_rows(tenant_a, range(2, 6)) + _rows(tenant_a, range(5, 6))) == 2

    assert _ledger(tenant_a) == [f"{span:016x}" for span in range(1, 6)]


def test_a_row_the_ledger_refuses_still_fails_the_batch(tenant_a: Tenant) -> None:
    rows = _rows(tenant_a, range(1, 3))
    tokens = LEDGER_COLUMNS.index("input_tokens")
    negative = (*rows[1][:tokens], -1, *rows[1][tokens + 1 :])  # below the column's CHECK

    with pytest.raises(IntegrityError), tenant_context(tenant_a):
        ledger_insert([rows[0], negative])

    assert _ledger(tenant_a) == []

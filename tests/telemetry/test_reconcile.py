"""Reconciliation compares the ledger with ClickHouse per hour and repairs ClickHouse."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from billing.models import ModelPrice
from billing.pricing import PriceBook
from controlplane.analytics.store import get_store
from controlplane.core.tenancy import tenant_context
from controlplane.telemetry.ledger import ledger_insert
from controlplane.telemetry.models import ReconciliationRun, UsageEvent
from controlplane.telemetry.reconcile import reconcile_tenant
from controlplane.telemetry.records import LEDGER_COLUMNS, build_batch
from controlplane.telemetry.spans import hourly_totals, spans_insert
from tenants.models import Tenant
from tests.telemetry.records import spool_line

pytestmark = pytest.mark.django_db

HOUR = dt.datetime(2026, 11, 2, 10, tzinfo=dt.UTC)


def _store(tenant: Tenant, lines: list[bytes], *, clickhouse: bool = True) -> None:
    batch = build_batch(lines, prices=PriceBook.load(), retention_days={})
    with tenant_context(tenant):
        ledger_insert(batch.ledger)
    if clickhouse:
        spans_insert(batch.spans, dedup_token=f"test:{tenant.pk}:{len(lines)}:{lines[0][:60]!r}")


def _lines(tenant: Tenant, count: int, *, first: int = 0) -> list[bytes]:
    return [
        spool_line(tenant, when=HOUR + dt.timedelta(minutes=i % 60), trace=first + i, span=1)
        for i in range(count)
    ]


def test_matching_stores_are_recorded_as_matched(tenant_a: Tenant) -> None:
    _store(tenant_a, _lines(tenant_a, 20))
    runs = reconcile_tenant(tenant_a, since=HOUR, until=HOUR + dt.timedelta(hours=1))
    assert [(r.outcome, r.ledger_events, r.analytics_events) for r in runs] == [
        (ReconciliationRun.Outcome.MATCHED, 20, 20)
    ]


def test_events_missing_from_clickhouse_are_repaired_from_the_ledger(tenant_a: Tenant) -> None:
    _store(tenant_a, _lines(tenant_a, 10))
    _store(tenant_a, _lines(tenant_a, 5, first=100), clickhouse=False)  # a lost insert
    until = HOUR + dt.timedelta(hours=1)
    assert hourly_totals(tenant_a.pk, HOUR, until)[HOUR][0] == 10

    [run] = reconcile_tenant(tenant_a, since=HOUR, until=until)

    assert run.outcome == ReconciliationRun.Outcome.REPAIRED
    assert run.repaired_events == 5
    assert hourly_totals(tenant_a.pk, HOUR, until)[HOUR] == (15, 1500, 300)
    with tenant_context(tenant_a):
        assert ReconciliationRun.objects.get().analytics_events == 15
    # A second run finds nothing left to do.
    [again] = reconcile_tenant(tenant_a, since=HOUR, until=until)
    assert again.outcome == ReconciliationRun.Outcome.MATCHED


def test_a_replayed_batch_is_counted_once(tenant_a: Tenant) -> None:
    lines = _lines(tenant_a, 8)
    _store(tenant_a, lines)
    batch = build_batch(lines, prices=PriceBook.load(), retention_days={})
    spans_insert(batch.spans, dedup_token="another-token")  # replay that dodged the token
    with tenant_context(tenant_a):
        assert ledger_insert(batch.ledger) == 0
    [run] = reconcile_tenant(tenant_a, since=HOUR, until=HOUR + dt.timedelta(hours=1))
    assert (run.ledger_events, run.analytics_events) == (8, 8)


def test_cost_comes_from_the_price_in_force(tenant_a: Tenant) -> None:
    ModelPrice.objects.create(
        provider="openai",
        model="gpt-4o-mini",
        input_per_million=Decimal("0.15"),
        output_per_million=Decimal("0.60"),
        effective_from=HOUR - dt.timedelta(days=30),
    )
    ModelPrice.objects.create(
        provider="openai",
        model="gpt-4o-mini",
        input_per_million=Decimal("0.30"),
        output_per_million=Decimal("1.20"),
        effective_from=HOUR + dt.timedelta(minutes=30),
    )
    early = spool_line(
        tenant_a, when=HOUR, trace=1, span=1, input_tokens=1_000_000, output_tokens=1_000_000
    )
    late = spool_line(
        tenant_a,
        when=HOUR + dt.timedelta(minutes=45),
        trace=2,
        span=1,
        input_tokens=1_000_000,
        output_tokens=1_000_000,
    )
    batch = build_batch([early, late], prices=PriceBook.load(), retention_days={})
    cost = LEDGER_COLUMNS.index("cost")
    assert [row[cost] for row in batch.ledger] == [Decimal("0.75"), Decimal("1.50")]
    assert timezone.is_aware(batch.ledger[0][1])


def test_token_classes_are_priced_apart_and_kept_in_both_stores(tenant_a: Tenant) -> None:
    ModelPrice.objects.create(
        provider="openai",
        model="gpt-4o-mini",
        input_per_million=Decimal("2.50"),
        output_per_million=Decimal("10"),
        cached_input_per_million=Decimal("1.25"),
        reasoning_per_million=Decimal("40"),
        effective_from=HOUR - dt.timedelta(days=1),
    )
    line = spool_line(
        tenant_a,
        when=HOUR,
        trace=1,
        span=1,
        input_tokens=1_000_000,
        output_tokens=1_000_000,
        cached_input_tokens=400_000,
        reasoning_tokens=250_000,
    )
    _store(tenant_a, [line])
    with tenant_context(tenant_a):
        event = UsageEvent.objects.get()
    # 600k plain input x 2.50 + 400k cached x 1.25 + 750k output x 10 + 250k reasoning x 40
    assert event.cost == Decimal("19.500000000")
    assert (event.cached_input_tokens, event.cache_write_tokens, event.reasoning_tokens) == (
        400_000,
        0,
        250_000,
    )
    [run] = reconcile_tenant(tenant_a, since=HOUR, until=HOUR + dt.timedelta(hours=1))
    assert run.outcome == ReconciliationRun.Outcome.MATCHED
    row = get_store().query(
        "SELECT cached_input_tokens, reasoning_tokens FROM spans WHERE tenant_id = {t:UUID}",
        {"t": str(tenant_a.pk)},
    )
    assert [tuple(r.values()) for r in row] == [(400_000, 250_000)]

"""Shortening a tenant's retention removes its old data from PostgreSQL, ClickHouse
(spans and every rollup) and its edge node, and the run's evidence counts exactly what
each store lost; a legal hold stops it, and the run says so (docs/privacy.md)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.utils import timezone

from compliance.privacy.models import RetentionRun
from compliance.privacy.retention import cutoff
from compliance.privacy.selectors import retention_runs
from compliance.privacy.services import legal_hold_place, retention_policy_set
from compliance.privacy.tasks import retention_sweep
from controlplane.core.tenancy import all_tenants_context
from tenants.models import Tenant
from tests.conftest import SYSTEM
from tests.privacy.conftest import (
    clickhouse_rows,
    day,
    direct,
    ledger_rows,
    nanos,
    otlp_span,
    pull,
    send,
    settle,
    spooled,
)
from tests.telemetry.conftest import Site

pytestmark = pytest.mark.django_db


def _shorten(tenant: Tenant, *, spans: int = 30, ledger: int = 62) -> None:
    today = timezone.now().date()
    for kind, days in (("spans", spans), ("bodies", spans), ("ledger", ledger)):
        retention_policy_set(
            actor=SYSTEM, tenant=tenant, kind=kind, days=days, effective_from=today
        )


def _sweep(capture: Callable[..., Any]) -> dict[Any, RetentionRun]:
    """The daily task, through its queue, and every run it started."""
    started = timezone.now() - dt.timedelta(seconds=1)
    with capture(execute=True):
        retention_sweep.delay()
    with all_tenants_context():
        runs = RetentionRun.unscoped.filter(started_at__gte=started)
        return {run.tenant_id: run for run in runs}


def _removed(run: RetentionRun, store: str, target: str, kind: str | None = None) -> int:
    return sum(
        item["rows"]
        for item in run.removed
        if item["store"] == store and item["target"] == target and kind in (None, item["kind"])
    )


def test_shortening_retention_removes_old_data_everywhere_and_counts_it(
    configured: Site, tenant_b: Tenant, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    site, a = configured, configured.tenant
    now = timezone.now()
    old_month = day("2003-02-10")  # a month only this tenant has: it goes whole
    recent, fresh = now - dt.timedelta(days=100), now - dt.timedelta(days=5)
    send(
        site,
        [otlp_span(n, old_month + dt.timedelta(minutes=n)) for n in range(1, 4)]
        + [otlp_span(10 + n, recent + dt.timedelta(minutes=n), trace=2) for n in range(3)]
        + [otlp_span(20 + n, fresh + dt.timedelta(minutes=n), trace=3) for n in range(2)],
    )
    pull(site)
    # Not pulled yet: two old records and a fresh one wait in the edge's spool.
    send(
        site,
        [otlp_span(30 + n, recent, trace=4) for n in range(2)] + [otlp_span(40, fresh, trace=5)],
    )
    direct(tenant_b, [recent, recent + dt.timedelta(hours=1)])  # the other tenant, same month
    settle()
    spans_cutoff, ledger_cutoff = cutoff(now, 30), cutoff(now, 62)
    clickhouse_before = clickhouse_rows(a, spans_cutoff)
    ledger_before = ledger_rows(a, ledger_cutoff)
    spool_before = spooled(site)
    b_before = (clickhouse_rows(tenant_b), ledger_rows(tenant_b))
    assert ledger_before == 6 and clickhouse_before["spans"] == 6
    assert all(clickhouse_before[t] for t in ("spans_minute", "tenants_hour", "agents_hour"))

    _shorten(a)
    runs = _sweep(django_capture_on_commit_callbacks)

    run = runs[a.pk]
    assert run.state == RetentionRun.State.COMPLETED, run.error
    # PostgreSQL: the old month's partition dropped, the recent rows deleted; fresh kept.
    assert ledger_rows(a, ledger_cutoff) == 0
    assert ledger_rows(a) == 2
    assert _removed(run, "postgres", "telemetry_usageevent") == ledger_before
    assert {
        i["how"] for i in run.removed if i["target"] == "telemetry_usageevent" and i["rows"]
    } == {
        "partition",
        "rows",
    }
    # ClickHouse: spans and every rollup, each counted as it went.
    after = clickhouse_rows(a, spans_cutoff)
    assert all(rows == 0 for rows in after.values()), after
    for table, rows in clickhouse_before.items():
        assert _removed(run, "clickhouse", table, "spans") == rows, table
    assert clickhouse_rows(a)["spans"] == 2
    assert any(i["how"] == "partition" and i["store"] == "clickhouse" for i in run.removed)
    # The edge: the old unpulled records deleted, the fresh one kept.
    spool_after = spooled(site)
    old = [r for r in spool_before if r["start_time_unix_nano"] < nanos(ledger_cutoff)]
    assert len(old) == 2 and len(spool_after) == len(spool_before) - 2 == 1
    assert _removed(run, "edge", site.node.name, "spans") == 2
    # The other tenant keeps everything: its retention did not change.
    assert (clickhouse_rows(tenant_b), ledger_rows(tenant_b)) == b_before
    assert runs[tenant_b.pk].state == RetentionRun.State.COMPLETED
    assert runs[tenant_b.pk].total_removed == 0
    # The run is what the compliance checks read.
    assert retention_runs(a, now - dt.timedelta(minutes=5), timezone.now()) == [run]
    assert run.policy["spans"] == {
        "days": 30,
        "source": "tenant",
        "effective_from": str(now.date()),
    }
    assert run.cutoffs["ledger"] == ledger_cutoff.isoformat()


def test_a_legal_hold_on_the_tenant_stops_retention_and_the_run_says_so(
    configured: Site, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    site, a = configured, configured.tenant
    recent = timezone.now() - dt.timedelta(days=100)
    send(site, [otlp_span(n, recent + dt.timedelta(minutes=n)) for n in range(1, 4)])
    pull(site)
    send(site, [otlp_span(9, recent, trace=2)])
    settle()
    before = (clickhouse_rows(a), ledger_rows(a), len(spooled(site)))
    legal_hold_place(actor=SYSTEM, tenant=a, reason="Litigation", reference="CASE-7")
    _shorten(a)

    run = _sweep(django_capture_on_commit_callbacks)[a.pk]

    assert run.state == RetentionRun.State.HELD
    assert run.total_removed == 0
    assert run.kept == ["everything: legal hold CASE-7 on the whole tenant"]
    assert (clickhouse_rows(a), ledger_rows(a), len(spooled(site))) == before

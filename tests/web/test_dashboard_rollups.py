"""The dashboards read hourly rollups for whole-hour windows and the per-minute rollup
otherwise, and both give the same numbers.

A window of whole hours with one-minute buckets reads ``spans_minute``; the same window
with hourly buckets reads an hourly table, so comparing the two compares the rollups.
Data comes from the seeding module (traces of several providers, tools, agents and
departments, with errors, timeouts and refusals); chDB keeps data for the whole test
process, but each test's tenants are fresh rows with new ids.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import pytest

from controlplane.dashboards import queries
from controlplane.dashboards.queries import Filters, Window
from controlplane.telemetry.seeding import Fleet, load_events, seed_fleet
from controlplane.web.dashboard_views import window_of

pytestmark = pytest.mark.django_db

UNTIL = dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC)
SINCE = UNTIL - dt.timedelta(days=3)
HOURLY = Window(since=SINCE, until=UNTIL, bucket_seconds=3600)
QUARTERS = Window(since=SINCE, until=UNTIL, bucket_seconds=900)
MINUTES = Window(since=SINCE, until=UNTIL, bucket_seconds=60)


@pytest.fixture
def fleet() -> Fleet:
    seeded = seed_fleet(tenants=2, agents=8, seed=5)
    load_events(seeded, events=6000, days=3, seed=5, until=UNTIL)
    return seeded


def table(window: Window, *columns: str) -> str:
    return queries.rollup_for(window, frozenset(columns)).table


def test_each_dashboard_range_reads_the_smallest_rollup_that_fits() -> None:
    now = dt.datetime(2026, 11, 20, 12, 34, 56, tzinfo=dt.UTC)
    one_hour, one_day = window_of("1h", now), window_of("24h", now)
    assert table(one_hour, "status") == "spans_minute"
    assert table(one_day, "status") == "tenants_quarter_hour"
    for window in (one_hour, one_day):
        assert table(window, "provider", "status") == "spans_minute"
        assert table(window, "agent_id", "status") == "spans_minute"
    for range_key in ("7d", "30d"):
        window = window_of(range_key, now)
        assert table(window, "status") == "tenants_hour"
        assert table(window, "provider", "status") == "spans_hour"
        assert table(window, "kind", "provider", "status") == "spans_hour"
        assert table(window, "department_id", "status") == "spans_hour"
        assert table(window, "agent_id", "status") == "agents_hour"
        assert table(window, "agent_id", "department_id", "status") == "agents_hour"
        assert table(window, "agent_id", "model", "status") == "agent_models_hour"
        assert table(window, "agent_id", "kind", "provider", "status") == "agent_models_hour"
        assert table(window, "agent_id", "tool", "status") == "spans_minute"
    # A window that starts inside an hour reads the next smaller slots that tile it.
    inside = Window(SINCE + dt.timedelta(minutes=15), UNTIL, 3600)
    assert table(inside, "status") == "tenants_quarter_hour"
    inside = Window(SINCE + dt.timedelta(minutes=5), UNTIL, 3600)
    assert table(inside, "status") == "spans_minute"


def money(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows without the latency percentiles (t-digests merged in a different order give
    slightly different quantiles) and with costs as Decimal."""
    return [
        {
            key: Decimal(str(value)) if key == "cost" else value
            for key, value in row.items()
            if key not in ("p50_ms", "p95_ms", "success_ratio", "fault_rate")
        }
        for row in rows
    ]


@pytest.mark.parametrize(
    "filters",
    [
        Filters(),
        Filters(provider="openai"),
        Filters(model="gpt-4o-mini", provider="openai"),
    ],
    ids=["no filter", "provider", "provider and model"],
)
def test_hourly_and_minute_rollups_give_the_same_numbers(fleet: Fleet, filters: Filters) -> None:
    tenant_id = fleet.tenants[0].pk

    totals = queries.usage_totals(tenant_id, HOURLY, filters)
    assert totals == queries.usage_totals(tenant_id, MINUTES, filters)
    assert totals == queries.usage_totals(tenant_id, QUARTERS, filters)
    assert totals["requests"] > 100
    assert totals["faults"] > 0

    hours = queries.usage_series(tenant_id, HOURLY, filters)
    assert sum(int(row["requests"]) for row in hours) == totals["requests"]
    assert sum(Decimal(str(row["cost"])) for row in hours) == totals["cost"]
    assert (
        sum(int(row["faults"]) for row in queries.usage_series(tenant_id, MINUTES, filters))
        == (totals["faults"])
    )

    for dimension in ("provider", "model", "agent", "department", "tool"):
        by_hour = queries.usage_by(tenant_id, HOURLY, filters, dimension)
        assert money(by_hour) == money(queries.usage_by(tenant_id, MINUTES, filters, dimension))
        hotspots = queries.fault_hotspots(tenant_id, HOURLY, filters, dimension)
        assert money(hotspots) == money(
            queries.fault_hotspots(tenant_id, MINUTES, filters, dimension)
        )
    assert money(queries.provider_availability(tenant_id, HOURLY, filters)) == money(
        queries.provider_availability(tenant_id, MINUTES, filters)
    )


def test_an_agent_filter_gives_the_same_numbers_on_every_rollup(fleet: Fleet) -> None:
    tenant_id = fleet.tenants[0].pk
    agent = next(a for a in fleet.agents if a.tenant_id == str(tenant_id))
    only_agent = Filters(agent_id=uuid.UUID(agent.id))
    totals = queries.usage_totals(tenant_id, HOURLY, only_agent)
    assert 0 < totals["requests"] < queries.usage_totals(tenant_id, HOURLY, Filters())["requests"]
    assert totals == queries.usage_totals(tenant_id, MINUTES, only_agent)
    for dimension in ("agent", "department", "provider", "model", "tool"):
        assert money(queries.usage_by(tenant_id, HOURLY, only_agent, dimension)) == money(
            queries.usage_by(tenant_id, MINUTES, only_agent, dimension)
        )
    assert money(queries.provider_availability(tenant_id, HOURLY, only_agent)) == money(
        queries.provider_availability(tenant_id, MINUTES, only_agent)
    )
    with_model = Filters(agent_id=uuid.UUID(agent.id), model="gpt-4o-mini")
    assert queries.usage_totals(tenant_id, HOURLY, with_model) == queries.usage_totals(
        tenant_id, MINUTES, with_model
    )


def test_the_fleet_view_counts_the_same_from_either_rollup(fleet: Fleet) -> None:
    ours = {str(t.pk) for t in fleet.tenants}

    def rows(window: Window) -> list[dict[str, Any]]:
        found = [row for row in queries.fleet_overview(window) if str(row["tenant_id"]) in ours]
        return sorted(money(found), key=lambda row: str(row["tenant_id"]))

    by_hour = rows(HOURLY)
    assert len(by_hour) == 2
    assert by_hour == rows(MINUTES) == rows(QUARTERS)

"""The dashboards read the coarsest rollups that fit a window, and every rollup gives the
same numbers.

A window of whole hours reads hourly tables (and, without chart buckets, its whole UTC
days from the daily ones); the same window ending a minute later holds the same spans
but reads ``spans_minute``, so comparing the two compares the rollups. Data comes from
the seeding module (traces of several providers, tools, agents and departments, with
errors, timeouts and refusals); chDB keeps data for the whole test process, but each
test's tenants are fresh rows with new ids.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import pytest

from controlplane.analytics.scoped import tenant_query
from controlplane.dashboards import fleet as fleet_queries
from controlplane.dashboards import queries
from controlplane.dashboards.panels import DIMENSIONS
from controlplane.dashboards.queries import Filters, Window
from controlplane.dashboards.rollups import rollup_for, source_for
from controlplane.telemetry.seeding import Fleet, load_events, seed_fleet
from controlplane.web.dashboard_views import window_of

pytestmark = pytest.mark.django_db

UNTIL = dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC)
SINCE = UNTIL - dt.timedelta(days=3)
MINUTE = dt.timedelta(minutes=1)
# Whole hours and two whole days; the last 20 hours (no whole day); and each of them
# ending a minute later (the seeded spans end at UNTIL, so the same spans): spans_minute.
DAYS = Window(SINCE, UNTIL, 3600)
HOURS = Window(UNTIL - dt.timedelta(hours=20), UNTIL, 3600)


def by_minute(window: Window) -> Window:
    return Window(window.since, window.until + MINUTE, 60)


@pytest.fixture
def fleet() -> Fleet:
    seeded = seed_fleet(tenants=2, agents=8, seed=5)
    load_events(seeded, events=6000, days=3, seed=5, until=UNTIL)
    return seeded


def table(window: Window, *columns: str, bucketed: bool = True) -> str:
    source = source_for(window, frozenset(columns), bucketed=bucketed)
    table = source.rollup.table
    return f"{source.rollup.daily} + {table}" if source.days else table


def test_each_dashboard_range_reads_the_coarsest_rollups_that_fit() -> None:
    now = dt.datetime(2026, 11, 20, 12, 34, 56, tzinfo=dt.UTC)
    one_hour, one_day = window_of("1h", now), window_of("24h", now)
    assert table(one_hour, "status") == "spans_minute"
    assert table(one_day, "status") == "tenants_quarter_hour"
    for window in (one_hour, one_day):
        for bucketed in (True, False):
            assert table(window, "provider", "status", bucketed=bucketed) == "spans_minute"
            assert table(window, "agent_id", "status", bucketed=bucketed) == "spans_minute"
    for range_key in ("7d", "30d"):
        window = window_of(range_key, now)
        assert table(window, "status") == "tenants_hour"
        # Without chart buckets: the whole UTC days from the daily tables.
        assert table(window, "status", bucketed=False) == "tenants_day + tenants_hour"
        assert table(window, "kind", "provider", "status", bucketed=False) == (
            "spans_day + spans_hour"
        )
        assert table(window, "department_id", "status", bucketed=False) == (
            "spans_day + spans_hour"
        )
        assert table(window, "agent_id", "status", bucketed=False) == "agents_day + agents_hour"
        assert table(window, "agent_id", "model", "status", bucketed=False) == ("agent_models_hour")
        assert table(window, "dimension", "key", "status", bucketed=False) == (
            "breakdowns_day + breakdowns_hour"
        )
        assert table(window, "agent_id", "tool", "status", bucketed=False) == "spans_minute"
    # A window that starts inside an hour reads the next smaller slots that tile it.
    inside = Window(SINCE + dt.timedelta(minutes=15), UNTIL, 3600)
    assert rollup_for(inside, frozenset({"status"})).table == "tenants_quarter_hour"
    inside = Window(SINCE + dt.timedelta(minutes=5), UNTIL, 3600)
    assert rollup_for(inside, frozenset({"status"})).table == "spans_minute"
    # Less than a whole UTC day: hours only.
    assert table(HOURS, "agent_id", "status", bucketed=False) == "agents_hour"


def decimal_costs(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows with costs as Decimal (the daily and hourly tables' types differ)."""
    return [
        {key: Decimal(str(value)) if key.endswith("cost") else value for key, value in row.items()}
        for row in rows
    ]


def everything(tenant_id: uuid.UUID, window: Window, filters: Filters) -> dict[str, Any]:
    """Every panel query's answer."""
    found: dict[str, Any] = {}
    for group in queries.breakdown_groups(window, filters, DIMENSIONS):
        result = queries.breakdowns(tenant_id, window, filters, group)
        for dimension in group:
            found[f"usage {dimension}"] = decimal_costs(result.usage[dimension])
            found[f"hotspots {dimension}"] = result.hotspots[dimension]
        if result.availability is not None:
            found["availability"] = decimal_costs(result.availability)
    overview = queries.usage_overview(tenant_id, window, filters)
    found["totals"] = overview.totals
    found["before"] = overview.before
    return found


@pytest.mark.parametrize(
    "filters",
    [
        Filters(),
        Filters(provider="openai"),
        Filters(model="gpt-4o-mini", provider="openai"),
        "one agent",
        "one agent, one model",
    ],
    ids=["no filter", "provider", "provider and model", "agent", "agent and model"],
)
def test_daily_hourly_and_minute_rollups_give_the_same_numbers(
    fleet: Fleet, filters: Filters | str
) -> None:
    tenant_id = fleet.tenants[0].pk
    agent = uuid.UUID(next(a.id for a in fleet.agents if a.tenant_id == str(tenant_id)))
    if filters == "one agent":
        filters = Filters(agent_id=agent)
    elif filters == "one agent, one model":
        filters = Filters(agent_id=agent, model="gpt-4o-mini")
    assert isinstance(filters, Filters)

    for window in (DAYS, HOURS):
        found = everything(tenant_id, window, filters)
        assert found == everything(tenant_id, by_minute(window), filters)
        assert found["totals"]["requests"] > 10
        assert found["totals"]["faults"] > 0
    days = everything(tenant_id, DAYS, filters)
    assert days["usage provider"] and days["hotspots agent"] and days["availability"]


def test_a_breakdown_ranks_and_cuts_as_a_query_of_its_own(fleet: Fleet) -> None:
    """The merged query's lists are those of one query per breakdown: most requests
    first (ties by key, in ClickHouse's order), cut at the limit."""
    tenant_id = fleet.tenants[0].pk
    for window in (DAYS, by_minute(DAYS)):
        for group in queries.breakdown_groups(window, Filters(), DIMENSIONS):
            merged = queries.breakdowns(tenant_id, window, Filters(), group)
            for dimension in group:
                alone = queries.usage_by(tenant_id, window, Filters(), dimension)
                assert merged.usage[dimension] == alone, dimension
                cut = queries.usage_by(tenant_id, window, Filters(), dimension, limit=3)
                assert [row["key"] for row in alone[:3]] == [row["key"] for row in cut]
                everyone = queries.usage_by(tenant_id, window, Filters(), dimension, 1000)
                faulty = [row for row in everyone if row["faults"]]
                assert {row["key"] for row in merged.hotspots[dimension]} <= {
                    row["key"] for row in faulty
                }
                rates = [row["fault_rate"] for row in merged.hotspots[dimension]]
                assert rates == sorted(rates, reverse=True)
                assert len(rates) == min(len(faulty), queries.HOTSPOT_LIMIT)


def test_the_daily_tables_hold_the_hourly_rows_of_each_day(fleet: Fleet) -> None:
    """The chained views: each daily table equals its hourly table summed by UTC day,
    latency states included, so reading whole days from it changes no number."""
    tenant_id = fleet.tenants[0].pk
    for hourly, daily, key in (
        ("spans_hour", "spans_day", "department_id, kind, provider, model, tool, status"),
        ("agents_hour", "agents_day", "agent_id, department_id, status"),
        ("tenants_hour", "tenants_day", "status"),
        ("breakdowns_hour", "breakdowns_day", "dimension, key, status"),
    ):
        measures = (
            "sum(requests) AS requests, sum(cost) AS cost, sum(output_tokens) AS tokens, "
            "quantileTimingMerge(0.95)(duration_ms_timing) AS p95"
        )
        day_rows, hour_rows = (
            tenant_query(
                f"SELECT {time} AS day, {key}, {measures} FROM {name} "
                f"WHERE tenant_id = {{tenant_id:UUID}} GROUP BY day, {key} ORDER BY day, {key}",
                tenant_id=tenant_id,
            )
            for name, time in ((daily, "day"), (hourly, "toStartOfDay(hour)"))
        )
        assert len(day_rows) > 3
        assert day_rows == hour_rows, daily


def test_the_breakdown_rows_hold_each_value_of_the_hourly_rows(fleet: Fleet) -> None:
    """breakdowns_hour: each breakdown's value with the sums and latency of spans_hour's
    rows that have it; `served`: the providers' model calls the gateway let through."""
    tenant_id = fleet.tenants[0].pk
    measures = (
        "sum(requests) AS requests, sum(cost) AS cost, "
        "quantileTimingMerge(0.95)(duration_ms_timing) AS p95"
    )
    for dimension, value, only in (
        ("provider", "provider", "1"),
        ("model", "model", "1"),
        ("department", "toString(department_id)", "1"),
        ("tool", "tool", "1"),
        ("served", "provider", "kind = 'model' AND status != 'refused'"),
    ):
        by_value = tenant_query(
            f"SELECT hour, key, status, {measures} FROM breakdowns_hour "
            "WHERE tenant_id = {tenant_id:UUID} AND dimension = {dimension:String} "
            "GROUP BY hour, key, status ORDER BY hour, key, status",
            tenant_id=tenant_id,
            params={"dimension": dimension},
        )
        from_spans = tenant_query(
            f"SELECT hour, {value} AS key, status, {measures} FROM spans_hour "
            f"WHERE tenant_id = {{tenant_id:UUID}} AND {only} "
            "GROUP BY hour, key, status ORDER BY hour, key, status",
            tenant_id=tenant_id,
        )
        assert len(by_value) > 10
        assert by_value == from_spans, dimension


def test_the_fleet_view_counts_the_same_from_every_rollup(fleet: Fleet) -> None:
    ours = {str(t.pk) for t in fleet.tenants}

    def rows(window: Window) -> list[dict[str, Any]]:
        found = [row for row in fleet_queries.usage(window) if str(row["tenant_id"]) in ours]
        # The range only: by_minute's is a minute longer, and so the range before it.
        current = [
            {key: value for key, value in row.items() if not key.startswith("previous_")}
            for row in found
        ]
        return sorted(decimal_costs(current), key=lambda row: str(row["tenant_id"]))

    for window in (DAYS, HOURS):
        found = rows(window)
        assert len(found) == 2
        assert found == rows(by_minute(window))

"""The fleet view's queries against the events themselves: a range's totals and latency,
the range before it (the trend) and the thinned sparkline series count exactly the spans
they cover, whichever rollups (daily, hourly, per minute) answer.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from controlplane.analytics.scoped import tenant_query
from controlplane.dashboards import fleet as fleet_queries
from controlplane.dashboards.queries import Window
from controlplane.telemetry.seeding import Fleet, load_events, seed_fleet

pytestmark = pytest.mark.django_db

UNTIL = dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC)
MINUTE, QUARTER = dt.timedelta(minutes=1), dt.timedelta(minutes=15)
HOUR, DAY = dt.timedelta(hours=1), dt.timedelta(days=1)
# Events over the 3 days before UNTIL. Ranges, with the one before each:
WINDOWS = {
    # 36 h of hourly buckets: a whole UTC day from tenants_day, the rest hours; the range
    # before likewise (12 hours and a day).
    "days and hours": Window(UNTIL - 36 * HOUR, UNTIL, 3600),
    # 30 days of 6-hour buckets ending at 18:00: 120 buckets, 40 sparkline points.
    "30 days": Window(UNTIL + 6 * HOUR - 30 * DAY, UNTIL + 6 * HOUR, 6 * 3600),
    # 24 h of 15-minute buckets from quarter hours; 1 h of minutes from spans_minute.
    "quarter hours": Window(UNTIL - DAY + QUARTER, UNTIL + QUARTER, 900),
    "minutes": Window(UNTIL - HOUR + MINUTE, UNTIL + MINUTE, 60),
}


@pytest.fixture
def seeded() -> Fleet:
    fleet = seed_fleet(tenants=2, agents=6, seed=11)
    load_events(fleet, events=5000, days=3, seed=11, until=UNTIL)
    return fleet


def from_spans(tenant_id: Any, since: dt.datetime, until: dt.datetime) -> dict[str, Any]:
    [row] = tenant_query(
        """
        SELECT count() AS requests, countIf(status IN ('error', 'timeout')) AS faults,
               countIf(status = 'refused') AS refused, sum(cost) AS cost,
               quantileTiming(0.95)(duration_ms) AS p95_ms
        FROM spans FINAL
        WHERE tenant_id = {tenant_id:UUID}
          AND start_time >= {since:DateTime('UTC')} AND start_time < {until:DateTime('UTC')}
        """,
        tenant_id=tenant_id,
        params={"since": since, "until": until},
    )
    return row


def test_the_fleet_usage_and_trend_count_the_events(seeded: Fleet) -> None:
    for name, window in WINDOWS.items():
        before = window.before()
        assert (before.since, before.until) == (
            window.since - (window.until - window.since),
            window.since,
        )
        usage = {str(row["tenant_id"]): row for row in fleet_queries.usage(window)}
        for tenant in seeded.tenants:
            now = from_spans(tenant.pk, window.since, window.until)
            then = from_spans(tenant.pk, before.since, before.until)
            assert now["requests"] > 0 and (then["requests"] > 0 or name == "30 days")
            row = usage[str(tenant.pk)]
            for key in ("requests", "faults", "refused"):
                assert row[key] == now[key], (name, key)
            assert Decimal(row["cost"]) == Decimal(now["cost"]), name
            assert row["previous_requests"] == then["requests"], name
            assert Decimal(row["previous_cost"]) == Decimal(then["cost"]), name
            assert row["p95_ms"] == now["p95_ms"], name


def test_the_thinned_sparkline_counts_the_events_of_each_point(seeded: Fleet) -> None:
    for name, window in WINDOWS.items():
        step = dt.timedelta(seconds=fleet_queries.spark_step(window))
        points = fleet_queries.spark_points(window)
        assert step.total_seconds() % window.bucket_seconds == 0
        assert points <= fleet_queries.SPARK_POINTS
        assert points * step >= window.until - window.since > (points - 1) * step
        series = {str(row["tenant_id"]): row["requests"] for row in fleet_queries.series(window)}
        for tenant in seeded.tenants:
            expected = [
                from_spans(
                    tenant.pk,
                    window.since + i * step,
                    min(window.since + (i + 1) * step, window.until),
                )["requests"]
                for i in range(points)
            ]
            assert sum(expected) > 0
            assert series[str(tenant.pk)] == expected, name


def test_the_sparkline_steps_of_the_fleet_ranges() -> None:
    """Each range's points: whole chart buckets, at most SPARK_POINTS of them."""
    until = dt.datetime(2026, 11, 20, 18, tzinfo=dt.UTC)
    for length, bucket, step, points in (
        (HOUR, 60, 120, 30),
        (DAY, 900, 1800, 48),
        (7 * DAY, 3600, 4 * 3600, 42),
        (30 * DAY, 6 * 3600, 18 * 3600, 40),
    ):
        window = Window(until - length, until, bucket)
        assert (fleet_queries.spark_step(window), fleet_queries.spark_points(window)) == (
            step,
            points,
        )

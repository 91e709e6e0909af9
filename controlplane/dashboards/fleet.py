"""The staff fleet view's queries: every tenant's usage of a range and of the range of the
same length before it, and its requests over the range for a sparkline
(docs/decisions/0047-fleet-view-from-daily-rows.md).

Both read every tenant: for the MSP staff console only (``all_tenants_query``). ``usage``
reads both ranges in one query, each from the source that ``rollups.source_for`` picks
for a total (over 7 and 30 days the whole UTC days from ``tenants_day``), and merges the
latency states of the range only. ``series`` sums requests into at most
``SPARK_POINTS`` slots of whole chart buckets, in SQL: the points the sparkline draws.

A range that ends now is read, with the cache on, as its
settled hours (cached under the fleet's ``settled`` token) and its open tail
(``split_usage``, ``split_series``; docs/decisions/0048-dashboard-split-windows.md).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from functools import partial
from typing import Any

from controlplane.analytics.scoped import all_tenants_query
from controlplane.dashboards import split
from controlplane.dashboards.cache import cached
from controlplane.dashboards.rollups import (
    STATE,
    Filters,
    Window,
    percentile,
    rollup_for,
    source_for,
)

# A sparkline is 6rem wide (about 96 pixels): more points than half its pixels draw nothing.
SPARK_POINTS = 48
_STATUS = frozenset({"status"})


def _ranges(window: Window) -> list[tuple[str, str, dt.datetime, dt.datetime]]:
    """``(table, time column, since, until)`` that tile ``window`` for a total: whole UTC
    days from the daily table where there is one, the rest from the rollup."""
    source = source_for(window, _STATUS, bucketed=False)
    rollup = source.rollup
    if source.days is None:
        return [(rollup.table, rollup.time, window.since, window.until)]
    assert rollup.daily is not None
    first, last = source.days
    edges = [(window.since, first), (last, window.until)]
    return [(rollup.daily, "day", first, last)] + [
        (rollup.table, rollup.time, since, until) for since, until in edges if since < until
    ]


def _rows(ranges: list[tuple[int, Window]]) -> tuple[str, dict[str, object]]:
    """A ``UNION ALL`` of every tenant's rows over ``ranges`` (``(current, range)``: 1 for
    the range shown, 0 for the one before), with its parameters. The range before gives
    counts only: an empty latency state, so none of its states is read."""
    parts: list[str] = []
    params: dict[str, object] = {}
    empty = "arrayReduce('quantileTimingState', emptyArrayFloat64())"
    for current, of in ranges:
        for table, time, since, until in _ranges(of):
            n = len(parts)
            state = STATE if current else empty
            parts.append(
                f"SELECT tenant_id, status, requests, cost, {state} AS {STATE}, "  # noqa: S608
                f"{current} AS current FROM {table} "
                f"WHERE {time} >= {{since{n}:DateTime('UTC')}} "
                f"AND {time} < {{until{n}:DateTime('UTC')}}"
            )
            params |= {
                f"since{n}": since.replace(microsecond=0),
                f"until{n}": until.replace(microsecond=0),
            }
    return " UNION ALL ".join(parts), params


_CURRENT = """
    sumIf(r.requests, current) AS requests,
    sumIf(r.requests, current AND r.status IN ('error', 'timeout')) AS faults,
    sumIf(r.requests, current AND r.status = 'refused') AS refused,
    sumIf(r.cost, current) AS cost"""
_PREVIOUS = """
    sumIf(r.requests, NOT current) AS previous_requests,
    sumIf(r.cost, NOT current) AS previous_cost"""


def usage(window: Window) -> list[dict[str, Any]]:
    """Per tenant with spans in ``window`` or the range before it: ``requests``,
    ``faults``, ``refused``, ``cost`` and ``p95_ms`` of ``window``, and
    ``previous_requests`` and ``previous_cost`` of the range before."""
    rows, params = _rows([(0, window.before()), (1, window)])
    return all_tenants_query(
        f"""
        SELECT tenant_id, {_CURRENT}, {percentile(0.95)} AS p95_ms, {_PREVIOUS}
        FROM ({rows}) AS r
        GROUP BY tenant_id
        """,  # noqa: S608 (tables and columns are constants of the rollups; values bound)
        params,
    )


def usage_part(part: Window) -> list[dict[str, Any]]:
    """Per tenant with spans in ``part`` (of a split window, ``split_usage``): its
    counts and cost, and its latency state (``hex(quantileTimingMergeState)``)."""
    rows, params = _rows([(1, part)])
    found = all_tenants_query(
        f"""
        SELECT tenant_id, {_CURRENT}, hex(quantileTimingMergeState(r.{STATE})) AS state
        FROM ({rows}) AS r
        GROUP BY tenant_id
        """,  # noqa: S608 (tables and columns are constants of the rollups; values bound)
        params,
    )
    return [row | {"state": bytes.fromhex(row["state"])} for row in found]


def previous(earlier: Window) -> list[dict[str, Any]]:
    """Per tenant with spans in ``earlier`` (the range before the one shown):
    ``previous_requests`` and ``previous_cost``."""
    rows, params = _rows([(0, earlier)])
    return all_tenants_query(
        f"SELECT tenant_id, {_PREVIOUS} FROM ({rows}) AS r GROUP BY tenant_id",  # noqa: S608
        params,
    )


def spark_step(window: Window) -> int:
    """Seconds of one sparkline point: the fewest whole chart buckets that keep the
    range within ``SPARK_POINTS`` points."""
    buckets = max(int((window.until - window.since).total_seconds()) // window.bucket_seconds, 1)
    return window.bucket_seconds * -(-buckets // SPARK_POINTS)


def spark_points(window: Window, step: int | None = None) -> int:
    """Points of ``window``'s sparkline, of ``step`` seconds (``spark_step``)."""
    seconds = int((window.until - window.since).total_seconds())
    return max(-(-seconds // (step or spark_step(window))), 1)


def series(window: Window, step: int | None = None) -> list[dict[str, Any]]:
    """Per tenant with spans in ``window``: ``requests``, its requests per point of the
    sparkline (``spark_points``, of ``step`` seconds, ``spark_step`` by default, from
    ``since`` on, zero where none)."""
    step = step or spark_step(window)
    rollup = rollup_for(Window(window.since, window.until, step), frozenset())
    time = rollup.time
    return all_tenants_query(
        f"""
        SELECT tenant_id,
               groupArrayInsertAt(0, {{points:UInt32}})(requests, slot) AS requests
        FROM (
            SELECT tenant_id,
                   toUInt32(intDiv({time} - {{since:DateTime('UTC')}}, {{step:UInt32}})) AS slot,
                   sum(requests) AS requests
            FROM {rollup.table}
            WHERE {time} >= {{since:DateTime('UTC')}} AND {time} < {{until:DateTime('UTC')}}
            GROUP BY tenant_id, slot
        )
        GROUP BY tenant_id
        """,  # noqa: S608 (the table and column are constants of the rollups; values bound)
        {
            "since": window.since.replace(microsecond=0),
            "until": window.until.replace(microsecond=0),
            "step": step,
            "points": spark_points(window, step),
        },
    )


def costs_since(starts: Mapping[str, dt.datetime]) -> dict[str, dict[str, Decimal]]:
    """Per tenant with spans, its cost from each of ``starts`` (UTC midnights: the start
    of a budget's day or month) until now, by the same keys: the budgets' burn, from the
    daily table in one query rather than the month's ledger rows of every tenant
    (docs/decisions/0050-fleet-postgres-counts-in-sql.md)."""
    if not starts:
        return {}
    keys = list(starts)
    columns = ", ".join(
        f"sumIf(cost, day >= {{start{n}:DateTime('UTC')}}) AS cost{n}" for n in range(len(keys))
    )
    rows = all_tenants_query(
        f"""
        SELECT tenant_id, {columns}
        FROM tenants_day
        WHERE day >= {{first:DateTime('UTC')}}
        GROUP BY tenant_id
        """,  # noqa: S608 (columns numbered here; values bound)
        {f"start{n}": starts[key] for n, key in enumerate(keys)} | {"first": min(starts.values())},
    )
    return {
        str(row["tenant_id"]): {key: Decimal(str(row[f"cost{n}"])) for n, key in enumerate(keys)}
        for row in rows
    }


# --- a range that ends now, split (docs/decisions/0048-dashboard-split-windows.md) -----

_SUMS = ("requests", "faults", "refused", "cost")


def split_usage(window: Window, at: dt.datetime, now: dt.datetime) -> list[dict[str, Any]]:
    """``usage`` from the settled hours before ``at`` and the open tail (their sums
    added, their latency states merged: ``timing``), and the range before, all settled
    and cached whole."""
    settled, tail = split.parts("fleet_usage_part", None, window, Filters(), at, now, usage_part)
    earlier = window.before()
    counts = cached("fleet_previous", None, earlier, Filters(), partial(previous, earlier), now=now)
    merged: dict[Any, dict[str, Any]] = {}
    for row in [*settled, *tail]:
        found = merged.setdefault(row["tenant_id"], {"states": []})
        for name in _SUMS:
            found[name] = found[name] + row[name] if name in found else row[name]
        found["states"].append(row["state"])
    for row in counts:
        merged.setdefault(row["tenant_id"], {"states": []}).update(row)
    return [
        {
            "tenant_id": tenant_id,
            **{name: found.get(name, 0) for name in _SUMS},
            "p95_ms": split.latency(found["states"])[1],
            "previous_requests": found.get("previous_requests", 0),
            "previous_cost": found.get("previous_cost", 0),
        }
        for tenant_id, found in merged.items()
    ]


def split_series(window: Window, at: dt.datetime, now: dt.datetime) -> list[dict[str, Any]]:
    """``series`` from the points before the last point boundary by ``at`` (settled)
    and those from it on: each part's points are whole, so a tenant's points are the
    settled part's followed by the tail's."""
    step = spark_step(window)
    cut = window.since + dt.timedelta(
        seconds=int((at - window.since).total_seconds()) // step * step
    )
    if cut <= window.since:
        return series(window)
    settled, tail = split.parts(
        f"fleet_spark_part:{step}", None, window, Filters(), cut, now, partial(series, step=step)
    )
    points = spark_points(Window(window.since, cut, window.bucket_seconds), step)
    first = {row["tenant_id"]: row["requests"] for row in settled}
    second = {row["tenant_id"]: row["requests"] for row in tail}
    rest = spark_points(window) - points
    return [
        {
            "tenant_id": tenant_id,
            "requests": [*first.get(tenant_id, [0] * points), *second.get(tenant_id, [0] * rest)],
        }
        for tenant_id in first | second
    ]

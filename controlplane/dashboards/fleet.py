"""The staff fleet view's queries: every tenant's usage of a range and of the range of the
same length before it, and its requests over the range for a sparkline
(docs/decisions/0047-fleet-view-from-daily-rows.md).

Both read every tenant: for the MSP staff console only (``all_tenants_query``). ``usage``
reads both ranges in one query, each from the source that ``rollups.source_for`` picks
for a total (over 7 and 30 days the whole UTC days from ``tenants_day``), and merges the
latency states of the range only. ``series`` sums requests into at most
``SPARK_POINTS`` slots of whole chart buckets, in SQL: the points the sparkline draws.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from controlplane.analytics.scoped import all_tenants_query
from controlplane.dashboards.rollups import Window, rollup_for, source_for

# A sparkline is 6rem wide (about 96 pixels): more points than half its pixels draw nothing.
SPARK_POINTS = 48
_STATUS = frozenset({"status"})


def before(window: Window) -> Window:
    """The range of the same length just before ``window``."""
    return Window(window.since - (window.until - window.since), window.since, window.bucket_seconds)


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


def usage(window: Window) -> list[dict[str, Any]]:
    """Per tenant with spans in ``window`` or the range before it: ``requests``,
    ``faults``, ``refused``, ``cost`` and ``p95_ms`` of ``window``, and
    ``previous_requests`` and ``previous_cost`` of the range before."""
    parts: list[str] = []
    params: dict[str, object] = {}
    rollup = source_for(window, _STATUS, bucketed=False).rollup
    # The range before gives counts only: an empty latency state, so none of its states
    # is read.
    empty = f"arrayReduce('{rollup.merge.removesuffix('Merge')}State', emptyArrayFloat64())"
    for current, of in ((0, before(window)), (1, window)):
        for table, time, since, until in _ranges(of):
            n = len(parts)
            state = rollup.state if current else empty
            parts.append(
                f"SELECT tenant_id, status, requests, cost, {state} AS {rollup.state}, "  # noqa: S608
                f"{current} AS current FROM {table} "
                f"WHERE {time} >= {{since{n}:DateTime('UTC')}} "
                f"AND {time} < {{until{n}:DateTime('UTC')}}"
            )
            params |= {
                f"since{n}": since.replace(microsecond=0),
                f"until{n}": until.replace(microsecond=0),
            }
    return all_tenants_query(
        f"""
        SELECT tenant_id,
               sumIf(r.requests, current) AS requests,
               sumIf(r.requests, current AND r.status IN ('error', 'timeout')) AS faults,
               sumIf(r.requests, current AND r.status = 'refused') AS refused,
               sumIf(r.cost, current) AS cost,
               {rollup.percentile(0.95)} AS p95_ms,
               sumIf(r.requests, NOT current) AS previous_requests,
               sumIf(r.cost, NOT current) AS previous_cost
        FROM ({" UNION ALL ".join(parts)}) AS r
        GROUP BY tenant_id
        """,  # noqa: S608 (tables and columns are constants of the rollups; values bound)
        params,
    )


def spark_step(window: Window) -> int:
    """Seconds of one sparkline point: the fewest whole chart buckets that keep the
    range within ``SPARK_POINTS`` points."""
    buckets = max(int((window.until - window.since).total_seconds()) // window.bucket_seconds, 1)
    return window.bucket_seconds * -(-buckets // SPARK_POINTS)


def spark_points(window: Window) -> int:
    seconds = int((window.until - window.since).total_seconds())
    return max(-(-seconds // spark_step(window)), 1)


def series(window: Window) -> list[dict[str, Any]]:
    """Per tenant with spans in ``window``: ``requests``, its requests per point of the
    sparkline (``spark_points``, from ``since`` on, zero where none)."""
    step = spark_step(window)
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
            "points": spark_points(window),
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

"""Utilization and fault panels, from ClickHouse's rollups of ``spans``.

Every query binds its values as ``{name:Type}`` parameters and filters by ``tenant_id``
first (every rollup's first sorting key), then by the time range; the fleet view's
queries, which read all tenants for the staff console, are in ``fleet``. Which rollup a query
reads, and the SQL fragments that read it, are in ``rollups``. The rollups are
AggregatingMergeTrees: rows of one key may not be merged yet, so every read aggregates
again: ``sum`` over the SimpleAggregateFunction columns and a quantile merge over the
latency states (``quantileTiming`` in every rollup).

A panel asks few queries (docs/decisions/0038-dashboard-panels.md): ``usage_overview``
(totals of the range and of the one before, and the chart, in one), ``breakdowns`` (every
breakdown, fault hotspot and provider availability that one rollup can answer, in one)
and ``provider_attempts``; ``controlplane.dashboards.panels`` runs them side by side.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from controlplane.analytics.scoped import all_tenants_query, tenant_query
from controlplane.dashboards.rollups import (
    PROVIDER_ATTEMPTS,
    TIMING_CAP_MS,
    Filters,
    Window,
    filter_columns,
    render,
    source_for,
)

__all__ = ["TIMING_CAP_MS", "Filters", "Window"]

FAULT_STATUSES = ("error", "timeout")
REFUSED = "refused"
USAGE_LIMIT = 20  # rows of a usage breakdown
HOTSPOT_LIMIT = 10  # rows of a fault hotspot list

# The breakdowns a panel may ask for: column, and which groups count (a fixed text,
# chosen by name, never user text).
DIMENSIONS = {
    "provider": ("provider", "provider != ''"),
    "model": ("model", "model != ''"),
    "agent": ("agent_id", "1"),
    "department": ("department_id", "1"),
    "tool": ("tool", "tool != ''"),
}
# A provider's model calls that the gateway let through: what its availability is
# judged on (refusals are the gateway's answer, not the provider's).
MODEL_CALL = "kind = 'model' AND status != 'refused'"
_TOTALS = ("requests", "faults", "timeouts", "refused", "input_tokens", "output_tokens")
_USAGE = (*_TOTALS, "cost", "p50_ms", "p95_ms")  # a usage breakdown's row, after the key
_HOTSPOT = ("requests", "faults", "timeouts")


def _query(sql: str, params: dict[str, object]) -> list[dict[str, Any]]:
    """The rows of ``sql`` for the tenant of ``params``; a ``latency`` column (``[p50,
    p95]``) becomes ``p50_ms`` and ``p95_ms``."""
    tenant_id = params["tenant_id"]
    assert isinstance(tenant_id, uuid.UUID)
    rows = tenant_query(sql, tenant_id=tenant_id, params=params)
    for row in rows:
        if "latency" in row:
            row["p50_ms"], row["p95_ms"] = row.pop("latency")
    return rows


# --- utilization ----------------------------------------------------------------------


@dataclass(frozen=True)
class Overview:
    """A range's totals, the totals of the range of the same length just before it, and
    its chart: per bucket with data, requests, faults, refusals, tokens and cost."""

    totals: dict[str, Any]
    before: dict[str, Any]
    series: list[dict[str, Any]]


def _totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    totals: dict[str, Any] = {name: sum(int(row[name] or 0) for row in rows) for name in _TOTALS}
    totals["cost"] = sum((Decimal(str(row["cost"] or 0)) for row in rows), Decimal(0))
    return totals


def usage_overview(tenant_id: uuid.UUID, window: Window, filters: Filters) -> Overview:
    """One query over the range and the one before it, in the range's chart buckets: the
    totals are the buckets' sums (whole buckets tile both ranges)."""
    rows = overview_buckets(
        tenant_id, Window(window.before().since, window.until, window.bucket_seconds), filters
    )
    return overview_of(rows, window)


# A chart bucket's start: ``{bucket}`` seconds wide, from the epoch.
BUCKET = "toStartOfInterval(r.$TIME, toIntervalSecond({bucket:UInt32}))"


def overview_buckets(tenant_id: uuid.UUID, span: Window, filters: Filters) -> list[dict[str, Any]]:
    """The sums of every chart bucket of ``span`` with data, by bucket start."""
    sql, params = render(
        """
        SELECT $BUCKET AS bucket,
               $MEASURES
        FROM $ROLLUP
        $WHERE
        GROUP BY bucket ORDER BY bucket
        """,
        span,
        tenant_id=tenant_id,
        filters=filters,
        bucketed=True,
        params={"bucket": span.bucket_seconds},
        fragments={"$BUCKET": BUCKET},
    )
    return [{**row, "bucket": utc(row["bucket"])} for row in _query(sql, params)]


def overview_of(rows: list[dict[str, Any]], window: Window) -> Overview:
    """The overview of ``window`` from the bucket rows of it and of the range before it."""
    series = [row for row in rows if row["bucket"] >= window.since]
    earlier = [row for row in rows if row["bucket"] < window.since]
    return Overview(totals=_totals(series), before=_totals(earlier), series=series)


def utc(value: Any) -> dt.datetime:
    """A bucket's start as an aware UTC datetime, whatever the store gave."""
    moment = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def usage_by(
    tenant_id: uuid.UUID,
    window: Window,
    filters: Filters,
    dimension: str,
    limit: int = USAGE_LIMIT,
) -> list[dict[str, Any]]:
    """Requests, tokens, cost, faults and latency grouped by ``dimension`` (a key of
    ``DIMENSIONS``), most requests first. ``key`` holds the group's value."""
    key, present = DIMENSIONS[dimension]
    sql, params = render(
        """
        SELECT $KEY AS key, $MEASURES, $LATENCY AS latency
        FROM $ROLLUP
        $WHERE
          AND $PRESENT
        GROUP BY key
        ORDER BY requests DESC, key
        LIMIT {limit:UInt32}
        """,
        window,
        tenant_id=tenant_id,
        filters=filters,
        columns=frozenset({key, "status"}),
        params={"limit": limit},
        fragments={"$KEY": key, "$PRESENT": present},
    )
    return _query(sql, params)


# --- breakdowns: usage, fault hotspots, provider availability -------------------------


@dataclass(frozen=True)
class Breakdowns:
    """Per dimension, the usage rows (most requests first, ``USAGE_LIMIT``) and the fault
    hotspots (groups with faults, highest fault rate first, ``HOTSPOT_LIMIT``); per
    provider with model calls, ``availability`` (lowest success first) when
    ``provider`` is one of the dimensions."""

    usage: dict[str, list[dict[str, Any]]]
    hotspots: dict[str, list[dict[str, Any]]]
    availability: list[dict[str, Any]] | None


def breakdown_columns(dimension: str) -> frozenset[str]:
    """What the breakdown by ``dimension`` reads (a provider's availability: the kind)."""
    key = DIMENSIONS[dimension][0]
    return frozenset({key, "status", "kind"} if dimension == "provider" else {key, "status"})


# The breakdowns that breakdowns_hour/_day hold one row per value of (migration 0007).
BY_VALUE = frozenset({"provider", "model", "department", "tool"})
BY_VALUE_COLUMNS = frozenset({"dimension", "key", "status"})


def reads_by_value(window: Window, filters: Filters) -> bool:
    """Whether the one-row-per-value tables answer the window's breakdowns: whole hours,
    no filter (they have no other column)."""
    if filters.values():
        return False
    return source_for(window, BY_VALUE_COLUMNS, bucketed=False).rollup.table == "breakdowns_hour"


def breakdown_groups(
    window: Window, filters: Filters, dimensions: tuple[str, ...]
) -> list[tuple[str, ...]]:
    """``dimensions`` in groups that read the same source: one ``breakdowns`` query each."""
    by_value = reads_by_value(window, filters)
    groups: dict[object, list[str]] = {}
    for dimension in dimensions:
        needed = breakdown_columns(dimension) | filter_columns(filters)
        source = (
            "by value"
            if by_value and dimension in BY_VALUE
            else source_for(window, needed, bucketed=False)
        )
        groups.setdefault(source, []).append(dimension)
    return [tuple(group) for group in groups.values()]


def breakdowns(
    tenant_id: uuid.UUID, window: Window, filters: Filters, dimensions: tuple[str, ...]
) -> Breakdowns:
    """Every breakdown of ``dimensions`` in one query (``GROUPING SETS``), ranked in SQL
    as ``usage_by`` orders a breakdown and the hotspot lists order faults (ClickHouse's
    order of UUIDs is not Python's). ``dimensions`` must read the same source
    (``breakdown_groups``)."""
    if set(dimensions) <= BY_VALUE and reads_by_value(window, filters):
        return _breakdowns_by_value(tenant_id, window, dimensions)
    sets = GroupingSets.of(dimensions)
    sql, params = render(
        """
        SELECT grouping($KEYS) AS grouping_set, $KEY_COLUMNS, $MEASURES, $LATENCY AS latency,
               row_number() OVER (PARTITION BY grouping_set ORDER BY requests DESC, $KEYS)
                   AS usage_rank,
               row_number() OVER (
                   PARTITION BY grouping_set ORDER BY faults / requests DESC, faults DESC, $KEYS
               ) AS fault_rank
        FROM $ROLLUP
        $WHERE
        GROUP BY GROUPING SETS ($SETS)
        HAVING $PRESENT
        QUALIFY usage_rank <= {usage_limit:UInt32}
             OR (faults > 0 AND fault_rank <= {hotspot_limit:UInt32})$AVAILABLE
        """,
        window,
        tenant_id=tenant_id,
        filters=filters,
        columns=frozenset().union(*(breakdown_columns(d) for d in dimensions)),
        params={"usage_limit": USAGE_LIMIT, "hotspot_limit": HOTSPOT_LIMIT},
        fragments={
            **sets.fragments,
            "$AVAILABLE": f" OR (grouping_set = {sets.served_mask} AND model_call)"
            if sets.served_mask is not None
            else "",
        },
    )
    return lists(*sets.split(_query(sql, params), dimensions))


@dataclass(frozen=True)
class GroupingSets:
    """The ``GROUPING SETS`` of a ``breakdowns`` query: one set per dimension, and the
    providers' model calls (``model_call``) when ``provider`` is one."""

    keys: tuple[str, ...]
    masks: tuple[int, ...]
    fragments: dict[str, str]
    served_mask: int | None

    @classmethod
    def of(cls, dimensions: tuple[str, ...]) -> GroupingSets:
        keys = [DIMENSIONS[dimension][0] for dimension in dimensions]
        sets: list[tuple[str, ...]] = [(key,) for key in keys]
        present = [DIMENSIONS[dimension][1] for dimension in dimensions]
        availability = "provider" in dimensions
        if availability:  # the providers' model calls: one more set, not a second state
            keys.append("model_call")
            sets.append(("provider", "model_call"))
            present.append("provider != ''")
        # grouping(keys) has a bit per key (the first one highest), set when the key is
        # not in the row's grouping set.
        masks = [
            sum(1 << (len(keys) - 1 - i) for i, key in enumerate(keys) if key not in keep)
            for keep in sets
        ]
        columns = {"model_call": f"{MODEL_CALL} AS model_call"}
        fragments = {
            "$KEY_COLUMNS": ", ".join(columns.get(key, key) for key in keys),
            "$KEYS": ", ".join(keys),
            "$SETS": ", ".join(f"({', '.join(keep)})" for keep in sets),
            "$PRESENT": " AND ".join(
                f"(grouping_set != {mask} OR {condition})"
                for mask, condition in zip(masks, present, strict=True)
                if condition != "1"
            )
            or "1",
        }
        return cls(
            tuple(keys),
            tuple(masks),
            fragments,
            served_mask=masks[-1] if availability else None,
        )

    def split(
        self, rows: list[dict[str, Any]], dimensions: tuple[str, ...]
    ) -> tuple[dict[str, list[dict[str, Any]]], list[dict[str, Any]] | None]:
        """``rows`` by dimension, each with its ``key``, and the providers' served model
        calls (None: ``provider`` is not a dimension)."""
        for row in rows:
            row["key"] = row[self.keys[self.masks.index(row["grouping_set"])]]
        by_set = {mask: [row for row in rows if row["grouping_set"] == mask] for mask in self.masks}
        served = None
        if self.served_mask is not None:
            served = [row for row in by_set[self.served_mask] if row["model_call"]]
            for row in served:
                row["key"] = row["provider"]
        groups = {
            dimension: by_set[mask] for dimension, mask in zip(dimensions, self.masks, strict=False)
        }
        return groups, served


def _breakdowns_by_value(
    tenant_id: uuid.UUID, window: Window, dimensions: tuple[str, ...]
) -> Breakdowns:
    """``breakdowns`` from the one-row-per-value tables: a department's id is its key as
    text, ordered as a UUID (``toUUIDOrZero``; other keys tie there and go by text)."""
    sql, params = render(
        """
        SELECT dimension, key, $MEASURES, $LATENCY AS latency,
               row_number() OVER (
                   PARTITION BY dimension ORDER BY requests DESC, toUUIDOrZero(key), key
               ) AS usage_rank,
               row_number() OVER (
                   PARTITION BY dimension
                   ORDER BY faults / requests DESC, faults DESC, toUUIDOrZero(key), key
               ) AS fault_rank
        FROM $ROLLUP
        $WHERE
          AND has({dimensions:Array(String)}, dimension)
        GROUP BY dimension, key
        HAVING key != ''
        QUALIFY usage_rank <= {usage_limit:UInt32}
             OR (faults > 0 AND fault_rank <= {hotspot_limit:UInt32})
             OR dimension = 'served'
        """,
        window,
        tenant_id=tenant_id,
        columns=BY_VALUE_COLUMNS,
        params={
            "dimensions": [*dimensions, *(["served"] if "provider" in dimensions else [])],
            "usage_limit": USAGE_LIMIT,
            "hotspot_limit": HOTSPOT_LIMIT,
        },
    )
    rows = _query(sql, params)
    for row in rows:
        if row["dimension"] == "department":
            row["key"] = uuid.UUID(row["key"])
    return lists(
        {
            dimension: [row for row in rows if row["dimension"] == dimension]
            for dimension in dimensions
        },
        [row for row in rows if row["dimension"] == "served"] if "provider" in dimensions else None,
    )


def lists(
    groups: dict[str, list[dict[str, Any]]], served: list[dict[str, Any]] | None
) -> Breakdowns:
    """The ranked lists of each dimension's rows (``key``, the sums, ``usage_rank`` and
    ``fault_rank``), and the providers' availability from the rows of their model calls
    the gateway let through (``served``, by ``key``)."""
    usage, hotspots = {}, {}
    for dimension, mine in groups.items():
        usage[dimension] = [
            {"key": row["key"], **{name: row[name] for name in _USAGE}}
            for row in sorted(mine, key=lambda row: row["usage_rank"])
            if row["usage_rank"] <= USAGE_LIMIT
        ]
        hotspots[dimension] = [
            {"key": row["key"], **{name: row[name] for name in _HOTSPOT}}
            | {"fault_rate": row["faults"] / row["requests"]}
            for row in sorted(mine, key=lambda row: row["fault_rank"])
            if row["faults"] > 0 and row["fault_rank"] <= HOTSPOT_LIMIT
        ]
    availability = None
    if served is not None:
        availability = sorted(
            (
                {
                    "provider": row["key"],
                    **{name: row[name] for name in _HOTSPOT},
                    "success_ratio": 1 - row["faults"] / row["requests"],
                    "p50_ms": row["p50_ms"],
                    "p95_ms": row["p95_ms"],
                }
                for row in served
            ),
            key=lambda row: (row["success_ratio"], row["provider"]),
        )
    return Breakdowns(usage=usage, hotspots=hotspots, availability=availability)


# --- gateway attempts -----------------------------------------------------------------


def provider_attempts_recent(*, since: dt.datetime, until: dt.datetime) -> list[dict[str, Any]]:
    """Per provider, every tenant's gateway attempts in ``[since, until)``: what the
    providers' health is rated on (``gateway.health``). Reads all tenants: providers
    serve many (MSP-wide ones every tenant), and only counts leave this query."""
    return all_tenants_query(
        """
        SELECT provider, sum(attempts) AS attempts, sum(failures) AS failures,
               sum(breaker_trips) AS breaker_trips
        FROM provider_attempts_minute
        WHERE minute >= {since:DateTime('UTC')} AND minute < {until:DateTime('UTC')}
          AND provider != ''
        GROUP BY provider
        """,
        {"since": since.replace(microsecond=0), "until": until.replace(microsecond=0)},
    )


def provider_attempts(
    tenant_id: uuid.UUID, window: Window, filters: Filters
) -> list[dict[str, Any]]:
    """Per provider, the edge gateway's attempts: failures, timeouts, failovers away from
    it and circuit-breaker trips (``provider_attempts_minute``), most trips first."""
    sql, params = render(
        """
        SELECT provider,
               sum(provider_attempts_minute.attempts) AS attempts,
               sum(provider_attempts_minute.failures) AS failures,
               sum(provider_attempts_minute.timeouts) AS timeouts,
               sum(provider_attempts_minute.failovers) AS failovers,
               sum(provider_attempts_minute.breaker_trips) AS breaker_trips
        FROM provider_attempts_minute
        $WHERE
          AND provider != ''
        GROUP BY provider
        ORDER BY breaker_trips DESC, failovers DESC, provider
        """,
        window,
        tenant_id=tenant_id,
        filters=filters,
        rollup=PROVIDER_ATTEMPTS,
    )
    return _query(sql, params)

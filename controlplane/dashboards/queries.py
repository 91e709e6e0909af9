"""Utilization and fault panels, from ClickHouse's rollups of ``spans``.

One function per panel. Every query binds its values as ``{name:Type}`` parameters and
filters by ``tenant_id`` first (every rollup's first sorting key), then by the time range;
only ``fleet_overview`` reads all tenants, and only the staff console calls it.

Each query reads the smallest rollup that has every column it groups or filters by and
whose time slots fit the window (``rollup_for``): the hourly ``tenants_hour``,
``spans_hour``, ``agents_hour`` and ``agent_models_hour`` (migration 0002) for whole-hour
windows and buckets (the 7- and 30-day ranges), ``tenants_quarter_hour`` for the 24-hour
range's totals, charts and fleet, the per-minute ``spans_minute`` otherwise. The rollups are
AggregatingMergeTrees: rows of one key may not be merged yet, so every read aggregates
again: ``sum`` over the SimpleAggregateFunction columns and a quantile merge over the
latency states (t-digests in ``spans_minute``, ``quantileTiming`` in the hourly tables).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from controlplane.analytics.scoped import all_tenants_query, tenant_query
from controlplane.telemetry.spans import IN_DEPARTMENTS

FAULT_STATUSES = ("error", "timeout")
REFUSED = "refused"


@dataclass(frozen=True)
class Window:
    """A time range and the width of its chart buckets, in seconds."""

    since: dt.datetime
    until: dt.datetime
    bucket_seconds: int


@dataclass(frozen=True)
class Filters:
    agent_id: uuid.UUID | None = None
    department_id: uuid.UUID | None = None
    provider: str | None = None
    model: str | None = None
    departments: frozenset[uuid.UUID] | None = None
    """Not a filter the person chose: a department-scoped person's limit (None: none)."""

    @property
    def active(self) -> bool:
        return any(
            value is not None
            for value in (self.agent_id, self.department_id, self.provider, self.model)
        )


# quantileTiming counts every latency above 30 s as 30 s, so a merged percentile at that
# cap means "30 s or more": it is returned as +inf for the pages to say so.
TIMING_CAP_MS = 30_000
_TIMING_PERCENTILE = (
    f"if(quantileTimingMerge({{level}})(duration_ms_timing) >= {TIMING_CAP_MS}, inf, "
    "quantileTimingMerge({level})(duration_ms_timing))"
)


@dataclass(frozen=True)
class Rollup:
    """A rollup table: its time column, the seconds of one row's time slot, the columns
    it keeps besides ``tenant_id`` and time, and how to merge its latency states
    (a format string of the quantile level)."""

    table: str
    time: str
    seconds: int
    columns: frozenset[str]
    quantile: str = _TIMING_PERCENTILE


SPANS_MINUTE = Rollup(
    "spans_minute",
    "minute",
    60,
    frozenset({"agent_id", "department_id", "kind", "provider", "model", "tool", "status"}),
    "quantileTDigestMerge({level})(duration_ms_digest)",
)
# Smallest first; spans_minute has every column and fits every window of whole minutes.
ROLLUPS = (
    Rollup("tenants_hour", "hour", 3600, frozenset({"status"})),
    Rollup("tenants_quarter_hour", "quarter_hour", 900, frozenset({"status"})),
    Rollup(
        "spans_hour",
        "hour",
        3600,
        frozenset({"department_id", "kind", "provider", "model", "tool", "status"}),
    ),
    Rollup("agents_hour", "hour", 3600, frozenset({"agent_id", "department_id", "status"})),
    Rollup(
        "agent_models_hour",
        "hour",
        3600,
        frozenset({"agent_id", "department_id", "kind", "provider", "model", "status"}),
    ),
    SPANS_MINUTE,
)
# The edge gateway's attempts (migration 0003): read by provider_attempts only.
PROVIDER_ATTEMPTS = Rollup(
    "provider_attempts_minute",
    "minute",
    60,
    frozenset({"agent_id", "department_id", "provider", "model"}),
)


def rollup_for(window: Window, columns: frozenset[str]) -> Rollup:
    """The smallest rollup with ``columns`` whose time slots tile the window and its
    buckets (a bucket never splits a row)."""
    for rollup in ROLLUPS:
        fits = all(
            seconds % rollup.seconds == 0
            for seconds in (
                int(window.since.timestamp()),
                int(window.until.timestamp()),
                window.bucket_seconds,
            )
        )
        if fits and columns <= rollup.columns:
            return rollup
    return SPANS_MINUTE


# Tenant first, then the range; then one condition per active filter (below).
_WHERE = """
    WHERE tenant_id = {tenant_id:UUID}
      AND $TIME >= {since:DateTime('UTC')}
      AND $TIME < {until:DateTime('UTC')}
"""
# Each filter's column and condition.
_FILTERS = {
    "agent_id": ("agent_id", "AND agent_id = {agent_id:UUID}"),
    "department_id": ("department_id", "AND department_id = {department_id:UUID}"),
    "provider": ("provider", "AND provider = {provider:String}"),
    "model": ("model", "AND model = {model:String}"),
    "departments": ("department_id", IN_DEPARTMENTS),
}

# The breakdowns a panel may ask for: fixed SQL, chosen by name, never user text.
_DIMENSIONS = {
    "provider": ("provider", "provider != ''"),
    "model": ("model", "model != ''"),
    "agent": ("agent_id", "1"),
    "department": ("department_id", "1"),
    "tool": ("tool", "tool != ''"),
}


_FAULTS = "sumIf(r.requests, r.status IN ('error', 'timeout'))"


def _params(tenant_id: uuid.UUID, window: Window, filters: Filters) -> dict[str, object]:
    params: dict[str, object] = {
        "tenant_id": tenant_id,
        "since": window.since.replace(microsecond=0),
        "until": window.until.replace(microsecond=0),
    }
    return params | _active(filters)


def _active(filters: Filters) -> dict[str, object]:
    values = {
        "agent_id": filters.agent_id,
        "department_id": filters.department_id,
        "provider": filters.provider,
        "model": filters.model,
        "departments": sorted(filters.departments) if filters.departments is not None else None,
    }
    return {name: value for name, value in values.items() if value is not None}


def _render(
    template: str,
    window: Window,
    *,
    filters: Filters | None = None,
    dimension: str | None = None,
    columns: frozenset[str] = frozenset({"status"}),
    rollup: Rollup | None = None,
) -> str:
    """``template`` for the rollup that fits (or for ``rollup``), with ``$ROLLUP``,
    ``$TIME``, ``$P50``/``$P95`` (latency), ``$WHERE`` (the active filters' conditions
    included) and ``$FAULTS`` (and, for a breakdown, ``$KEY``/``$PRESENT`` of
    ``dimension``) filled in. ``columns``: what the template reads besides the filters
    and the breakdown. Every fragment is constant text of this module."""
    active = _active(filters) if filters is not None else {}
    where = _WHERE + "".join(_FILTERS[name][1] for name in active)
    needed = set(columns) | {_FILTERS[name][0] for name in active}
    parts = {"$WHERE": where, "$FAULTS": _FAULTS}
    if dimension is not None:
        key, present = _DIMENSIONS[dimension]
        parts |= {"$KEY": key, "$PRESENT": present}
        needed.add(key)
    rollup = rollup or rollup_for(window, frozenset(needed))
    parts |= {
        "$ROLLUP": f"{rollup.table} AS r",
        "$TIME": rollup.time,
        "$P50": rollup.quantile.format(level=0.5),
        "$P95": rollup.quantile.format(level=0.95),
    }
    sql = template
    for marker, text in parts.items():
        sql = sql.replace(marker, text)
    if "$" in sql:
        raise ValueError(f"unfilled fragment in {sql!r}")
    return sql


def _query(
    template: str,
    window: Window,
    params: dict[str, object],
    **fragments: Any,
) -> list[dict[str, Any]]:
    """``template`` rendered (``_render``) and run for the tenant of ``params`` (from
    ``_params``); every value is a bound parameter."""
    tenant_id = params["tenant_id"]
    assert isinstance(tenant_id, uuid.UUID)
    return tenant_query(_render(template, window, **fragments), tenant_id=tenant_id, params=params)


# --- utilization ----------------------------------------------------------------------


def usage_totals(tenant_id: uuid.UUID, window: Window, filters: Filters) -> dict[str, Any]:
    """Requests, faults, refusals, tokens and cost of the range."""
    rows = _query(
        """
        SELECT sum(r.requests) AS requests, $FAULTS AS faults,
               sumIf(r.requests, status = 'timeout') AS timeouts,
               sumIf(r.requests, status = 'refused') AS refused,
               sum(r.input_tokens) AS input_tokens,
               sum(r.output_tokens) AS output_tokens,
               sum(r.cost) AS cost
        FROM $ROLLUP
        $WHERE
        """,
        window,
        _params(tenant_id, window, filters),
        filters=filters,
    )
    row = rows[0] if rows else {}
    return {
        "requests": int(row.get("requests") or 0),
        "faults": int(row.get("faults") or 0),
        "timeouts": int(row.get("timeouts") or 0),
        "refused": int(row.get("refused") or 0),
        "input_tokens": int(row.get("input_tokens") or 0),
        "output_tokens": int(row.get("output_tokens") or 0),
        "cost": Decimal(str(row.get("cost") or 0)),
    }


def usage_series(tenant_id: uuid.UUID, window: Window, filters: Filters) -> list[dict[str, Any]]:
    """Per bucket: requests, faults, refusals, tokens and cost (buckets with data only)."""
    return _query(
        """
        SELECT toStartOfInterval(r.$TIME, toIntervalSecond({bucket:UInt32})) AS bucket,
               sum(r.requests) AS requests, $FAULTS AS faults,
               sumIf(r.requests, status = 'timeout') AS timeouts,
               sumIf(r.requests, status = 'refused') AS refused,
               sum(r.input_tokens) AS input_tokens,
               sum(r.output_tokens) AS output_tokens,
               sum(r.cost) AS cost
        FROM $ROLLUP
        $WHERE
        GROUP BY bucket ORDER BY bucket
        """,
        window,
        {**_params(tenant_id, window, filters), "bucket": window.bucket_seconds},
        filters=filters,
    )


def usage_by(
    tenant_id: uuid.UUID, window: Window, filters: Filters, dimension: str, limit: int = 20
) -> list[dict[str, Any]]:
    """Requests, tokens, cost, faults and latency grouped by ``dimension`` (a key of
    ``_DIMENSIONS``), most requests first. ``key`` holds the group's value."""
    return _query(
        """
        SELECT $KEY AS key, sum(r.requests) AS requests, $FAULTS AS faults,
               sumIf(r.requests, status = 'timeout') AS timeouts,
               sumIf(r.requests, status = 'refused') AS refused,
               sum(r.input_tokens) AS input_tokens,
               sum(r.output_tokens) AS output_tokens,
               sum(r.cost) AS cost,
               $P50 AS p50_ms,
               $P95 AS p95_ms
        FROM $ROLLUP
        $WHERE
          AND $PRESENT
        GROUP BY key
        ORDER BY requests DESC, key
        LIMIT {limit:UInt32}
        """,
        window,
        {**_params(tenant_id, window, filters), "limit": limit},
        filters=filters,
        dimension=dimension,
    )


# --- faults ---------------------------------------------------------------------------


def fault_hotspots(
    tenant_id: uuid.UUID, window: Window, filters: Filters, dimension: str, limit: int = 10
) -> list[dict[str, Any]]:
    """Groups of ``dimension`` with faults, highest fault rate first."""
    return _query(
        """
        SELECT $KEY AS key, sum(r.requests) AS requests, $FAULTS AS faults,
               sumIf(r.requests, status = 'timeout') AS timeouts,
               faults / requests AS fault_rate
        FROM $ROLLUP
        $WHERE
          AND $PRESENT
        GROUP BY key
        HAVING faults > 0
        ORDER BY fault_rate DESC, faults DESC, key
        LIMIT {limit:UInt32}
        """,
        window,
        {**_params(tenant_id, window, filters), "limit": limit},
        filters=filters,
        dimension=dimension,
    )


def provider_availability(
    tenant_id: uuid.UUID, window: Window, filters: Filters
) -> list[dict[str, Any]]:
    """Per provider, model calls only: success ratio and p50/p95 latency (ms).
    Refusals are the gateway's answer, not the provider's, so they do not count."""
    return _query(
        """
        SELECT provider, sum(r.requests) AS requests, $FAULTS AS faults,
               sumIf(r.requests, status = 'timeout') AS timeouts,
               1 - faults / requests AS success_ratio,
               $P50 AS p50_ms,
               $P95 AS p95_ms
        FROM $ROLLUP
        $WHERE
          AND kind = 'model' AND provider != '' AND status != 'refused'
        GROUP BY provider
        ORDER BY success_ratio, provider
        """,
        window,
        _params(tenant_id, window, filters),
        filters=filters,
        columns=frozenset({"kind", "provider", "status"}),
    )


# --- fleet (staff console only) -------------------------------------------------------


def fleet_overview(window: Window) -> list[dict[str, Any]]:
    """Every tenant's requests, faults, refusals, cost and p95 latency in the range.
    Reads all tenants: for the MSP staff console only."""
    sql = _render(
        """
        SELECT tenant_id, sum(r.requests) AS requests, $FAULTS AS faults,
               sumIf(r.requests, status = 'refused') AS refused,
               sum(r.cost) AS cost,
               $P95 AS p95_ms
        FROM $ROLLUP
        WHERE $TIME >= {since:DateTime('UTC')} AND $TIME < {until:DateTime('UTC')}
        GROUP BY tenant_id
        """,
        window,
    )
    return all_tenants_query(
        sql,
        {
            "since": window.since.replace(microsecond=0),
            "until": window.until.replace(microsecond=0),
        },
    )


def fleet_series(window: Window) -> list[dict[str, Any]]:
    """Every tenant's requests per chart bucket of the range (buckets with data only),
    for the fleet's sparklines. Reads all tenants: for the MSP staff console only."""
    sql = _render(
        """
        SELECT tenant_id,
               toStartOfInterval(r.$TIME, toIntervalSecond({bucket:UInt32})) AS bucket,
               sum(r.requests) AS requests
        FROM $ROLLUP
        WHERE $TIME >= {since:DateTime('UTC')} AND $TIME < {until:DateTime('UTC')}
        GROUP BY tenant_id, bucket
        """,
        window,
        columns=frozenset(),
    )
    return all_tenants_query(
        sql,
        {
            "since": window.since.replace(microsecond=0),
            "until": window.until.replace(microsecond=0),
            "bucket": window.bucket_seconds,
        },
    )


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
    return _query(
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
        _params(tenant_id, window, filters),
        filters=filters,
        rollup=PROVIDER_ATTEMPTS,
    )

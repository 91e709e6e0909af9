"""Utilization and fault panels, from ClickHouse's per-minute rollup ``spans_minute``.

One function per panel. Every query binds its values as ``{name:Type}`` parameters and
filters by ``tenant_id`` first (the table's first sorting key), then by the time range;
only ``fleet_overview`` reads all tenants, and only the staff console calls it.

``spans_minute`` is an AggregatingMergeTree: rows of one key may not be merged yet, so
every read aggregates again: ``sum`` over the SimpleAggregateFunction columns and
``quantileTDigestMerge`` over the latency digest.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from controlplane.analytics import get_store

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

    @property
    def active(self) -> bool:
        return any(
            value is not None
            for value in (self.agent_id, self.department_id, self.provider, self.model)
        )


# Tenant first, then the range, then the optional filters (NULL: not filtered).
_WHERE = """
    WHERE tenant_id = {tenant_id:UUID}
      AND minute >= {since:DateTime('UTC')}
      AND minute < {until:DateTime('UTC')}
      AND ({agent_id:Nullable(UUID)} IS NULL OR agent_id = {agent_id:Nullable(UUID)})
      AND ({department_id:Nullable(UUID)} IS NULL
           OR department_id = {department_id:Nullable(UUID)})
      AND ({provider:Nullable(String)} IS NULL OR provider = {provider:Nullable(String)})
      AND ({model:Nullable(String)} IS NULL OR model = {model:Nullable(String)})
"""

# The breakdowns a panel may ask for: fixed SQL, chosen by name, never user text.
_DIMENSIONS = {
    "provider": ("provider", "provider != ''"),
    "model": ("model", "model != ''"),
    "agent": ("agent_id", "1"),
    "department": ("department_id", "1"),
    "tool": ("tool", "tool != ''"),
}


_FAULTS = "sumIf(spans_minute.requests, status IN ('error', 'timeout'))"


def _params(tenant_id: uuid.UUID, window: Window, filters: Filters) -> dict[str, object]:
    return {
        "tenant_id": tenant_id,
        "since": window.since.replace(microsecond=0),
        "until": window.until.replace(microsecond=0),
        "agent_id": filters.agent_id,
        "department_id": filters.department_id,
        "provider": filters.provider,
        "model": filters.model,
    }


def _query(
    template: str, params: dict[str, object], dimension: str | None = None
) -> list[dict[str, Any]]:
    """Run ``template`` with its ``$WHERE``/``$FAULTS`` (and, for a breakdown,
    ``$KEY``/``$PRESENT`` of ``dimension``) filled in. Every fragment is constant text
    of this module; every value is a bound parameter."""
    parts = {"$WHERE": _WHERE, "$FAULTS": _FAULTS}
    if dimension is not None:
        key, present = _DIMENSIONS[dimension]
        parts |= {"$KEY": key, "$PRESENT": present}
    sql = template
    for marker, text in parts.items():
        sql = sql.replace(marker, text)
    if "$" in sql:
        raise ValueError(f"unfilled fragment in {sql!r}")
    return get_store().query(sql, params)


# --- utilization ----------------------------------------------------------------------


def usage_totals(tenant_id: uuid.UUID, window: Window, filters: Filters) -> dict[str, Any]:
    """Requests, faults, refusals, tokens and cost of the range."""
    rows = _query(
        """
        SELECT sum(spans_minute.requests) AS requests, $FAULTS AS faults,
               sumIf(spans_minute.requests, status = 'timeout') AS timeouts,
               sumIf(spans_minute.requests, status = 'refused') AS refused,
               sum(spans_minute.input_tokens) AS input_tokens,
               sum(spans_minute.output_tokens) AS output_tokens,
               sum(spans_minute.cost) AS cost
        FROM spans_minute
        $WHERE
        """,
        _params(tenant_id, window, filters),
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
        SELECT toStartOfInterval(minute, toIntervalSecond({bucket:UInt32})) AS bucket,
               sum(spans_minute.requests) AS requests, $FAULTS AS faults,
               sumIf(spans_minute.requests, status = 'timeout') AS timeouts,
               sumIf(spans_minute.requests, status = 'refused') AS refused,
               sum(spans_minute.input_tokens) AS input_tokens,
               sum(spans_minute.output_tokens) AS output_tokens,
               sum(spans_minute.cost) AS cost
        FROM spans_minute
        $WHERE
        GROUP BY bucket ORDER BY bucket
        """,
        {**_params(tenant_id, window, filters), "bucket": window.bucket_seconds},
    )


def usage_by(
    tenant_id: uuid.UUID, window: Window, filters: Filters, dimension: str, limit: int = 20
) -> list[dict[str, Any]]:
    """Requests, tokens, cost, faults and latency grouped by ``dimension`` (a key of
    ``_DIMENSIONS``), most requests first. ``key`` holds the group's value."""
    return _query(
        """
        SELECT $KEY AS key, sum(spans_minute.requests) AS requests, $FAULTS AS faults,
               sumIf(spans_minute.requests, status = 'timeout') AS timeouts,
               sumIf(spans_minute.requests, status = 'refused') AS refused,
               sum(spans_minute.input_tokens) AS input_tokens,
               sum(spans_minute.output_tokens) AS output_tokens,
               sum(spans_minute.cost) AS cost,
               quantileTDigestMerge(0.5)(duration_ms_digest) AS p50_ms,
               quantileTDigestMerge(0.95)(duration_ms_digest) AS p95_ms
        FROM spans_minute
        $WHERE
          AND $PRESENT
        GROUP BY key
        ORDER BY requests DESC, key
        LIMIT {limit:UInt32}
        """,
        {**_params(tenant_id, window, filters), "limit": limit},
        dimension,
    )


# --- faults ---------------------------------------------------------------------------


def fault_hotspots(
    tenant_id: uuid.UUID, window: Window, filters: Filters, dimension: str, limit: int = 10
) -> list[dict[str, Any]]:
    """Groups of ``dimension`` with faults, highest fault rate first."""
    return _query(
        """
        SELECT $KEY AS key, sum(spans_minute.requests) AS requests, $FAULTS AS faults,
               sumIf(spans_minute.requests, status = 'timeout') AS timeouts,
               faults / requests AS fault_rate
        FROM spans_minute
        $WHERE
          AND $PRESENT
        GROUP BY key
        HAVING faults > 0
        ORDER BY fault_rate DESC, faults DESC, key
        LIMIT {limit:UInt32}
        """,
        {**_params(tenant_id, window, filters), "limit": limit},
        dimension,
    )


def provider_availability(
    tenant_id: uuid.UUID, window: Window, filters: Filters
) -> list[dict[str, Any]]:
    """Per provider, model calls only: success ratio and p50/p95 latency (ms).
    Refusals are the gateway's answer, not the provider's, so they do not count."""
    return _query(
        """
        SELECT provider, sum(spans_minute.requests) AS requests, $FAULTS AS faults,
               sumIf(spans_minute.requests, status = 'timeout') AS timeouts,
               1 - faults / requests AS success_ratio,
               quantileTDigestMerge(0.5)(duration_ms_digest) AS p50_ms,
               quantileTDigestMerge(0.95)(duration_ms_digest) AS p95_ms
        FROM spans_minute
        $WHERE
          AND kind = 'model' AND provider != '' AND status != 'refused'
        GROUP BY provider
        ORDER BY success_ratio, provider
        """,
        _params(tenant_id, window, filters),
    )


# --- fleet (staff console only) -------------------------------------------------------


def fleet_overview(window: Window) -> list[dict[str, Any]]:
    """Every tenant's requests, faults, refusals, cost and p95 latency in the range.
    Reads all tenants: for the MSP staff console only."""
    return _query(
        """
        SELECT tenant_id, sum(spans_minute.requests) AS requests, $FAULTS AS faults,
               sumIf(spans_minute.requests, status = 'refused') AS refused,
               sum(spans_minute.cost) AS cost,
               quantileTDigestMerge(0.95)(duration_ms_digest) AS p95_ms
        FROM spans_minute
        WHERE minute >= {since:DateTime('UTC')} AND minute < {until:DateTime('UTC')}
        GROUP BY tenant_id
        """,
        {
            "since": window.since.replace(microsecond=0),
            "until": window.until.replace(microsecond=0),
        },
    )


# --- gateway attempts -----------------------------------------------------------------


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
        _params(tenant_id, window, filters),
    )

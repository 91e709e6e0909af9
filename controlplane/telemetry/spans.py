"""ClickHouse queries of the spans domain. Parameters are always bound, never formatted."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import pyarrow as pa
from django.utils import timezone

from controlplane.analytics import freshness, get_store
from controlplane.analytics.scoped import tenant_query
from controlplane.telemetry.records import SPAN_COLUMNS


def spans_insert(columns: dict[str, list[Any]] | pa.Table, *, dedup_token: str) -> None:
    """Insert one batch: columns as build_batch gives them, or ``spans_table`` of them.
    The same token again (a retried batch) is dropped by ClickHouse."""
    table = columns if isinstance(columns, pa.Table) else spans_table(columns)
    if table.num_rows == 0:
        return
    try:
        get_store().insert("spans", table, SPAN_COLUMNS, dedup_token=dedup_token)
    finally:  # even a failed insert may have written a part: cached results go stale
        freshness.spans_arrived(table, now=timezone.now())


def spans_table(columns: dict[str, list[Any]]) -> pa.Table:
    """The batch as the Arrow table ``spans_insert`` sends. The token-class columns may
    be left out (spans made before them, or without cache and reasoning): zeros."""
    rows = len(columns["event_id"])
    data = {
        name: _texts(columns[name])
        if name in _UUID_COLUMNS
        else columns.get(name, [0] * rows)
        if name in _TOKEN_CLASS_COLUMNS
        else columns[name]
        for name in SPAN_COLUMNS
    }
    return pa.table(data, schema=SPANS_SCHEMA)


def _texts(values: list[Any]) -> pa.Array:
    """UUID column values as text; build_batch already gives text (converted as they
    are, without a look at each value first), other callers UUIDs."""
    try:
        return pa.array(values, type=pa.string())
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        return pa.array([str(value) for value in values], type=pa.string())


_TOKEN_CLASS_COLUMNS = frozenset({"cached_input_tokens", "cache_write_tokens", "reasoning_tokens"})
_UUID_COLUMNS = frozenset(
    {"tenant_id", "event_id", "department_id", "agent_id", "site_id", "edge_node_id"}
)
SPANS_SCHEMA = pa.schema(
    [
        ("tenant_id", pa.string()),
        ("event_id", pa.string()),
        ("trace_id", pa.string()),
        ("span_id", pa.string()),
        ("parent_span_id", pa.string()),
        ("department_id", pa.string()),
        ("agent_id", pa.string()),
        ("site_id", pa.string()),
        ("edge_node_id", pa.string()),
        ("kind", pa.string()),
        ("name", pa.string()),
        ("start_time", pa.timestamp("us", tz="UTC")),
        ("end_time", pa.timestamp("us", tz="UTC")),
        ("status", pa.string()),
        ("status_message", pa.string()),
        ("provider", pa.string()),
        ("model", pa.string()),
        ("tool", pa.string()),
        ("input_tokens", pa.uint32()),
        ("output_tokens", pa.uint32()),
        ("cached_input_tokens", pa.uint32()),
        ("cache_write_tokens", pa.uint32()),
        ("reasoning_tokens", pa.uint32()),
        ("cost", pa.decimal128(18, 9)),
        ("data_classes", pa.list_(pa.string())),
        ("attributes", pa.string()),
        ("request_body", pa.string()),
        ("response_body", pa.string()),
        ("content_hash", pa.string()),
        ("retention_days", pa.uint16()),
    ]
)


def hourly_totals(
    tenant_id: uuid.UUID, since: dt.datetime, until: dt.datetime
) -> dict[dt.datetime, tuple[int, int, int]]:
    """Per hour: distinct events and token sums. ``uniqExact`` and ``LIMIT 1 BY`` make a
    replayed span count once even before ReplacingMergeTree merges it away."""
    rows = tenant_query(
        """
        SELECT toStartOfHour(start_time) AS hour, count() AS events,
               sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens
        FROM (
            SELECT start_time, input_tokens, output_tokens FROM spans
            WHERE tenant_id = {tenant_id:UUID}
              AND start_time >= {since:DateTime64(6, 'UTC')}
              AND start_time < {until:DateTime64(6, 'UTC')}
            LIMIT 1 BY event_id
        )
        GROUP BY hour ORDER BY hour
        """,
        tenant_id=tenant_id,
        params={"since": since, "until": until},
    )
    return {
        _utc(row["hour"]): (int(row["events"]), int(row["input_tokens"]), int(row["output_tokens"]))
        for row in rows
    }


def event_ids_in_hour(tenant_id: uuid.UUID, hour: dt.datetime) -> set[uuid.UUID]:
    rows = tenant_query(
        "SELECT DISTINCT event_id FROM spans WHERE tenant_id = {tenant_id:UUID} "
        "AND start_time >= {hour:DateTime64(6, 'UTC')} "
        "AND start_time < {hour:DateTime64(6, 'UTC')} + INTERVAL 1 HOUR",
        tenant_id=tenant_id,
        params={"hour": hour},
    )
    return {uuid.UUID(str(row["event_id"])) for row in rows}


def event_stored(tenant_id: uuid.UUID, event_id: uuid.UUID) -> bool:
    """Whether ``spans`` has the event, however it got there (a replay, a repair)."""
    rows = tenant_query(
        "SELECT count() AS n FROM spans WHERE tenant_id = {tenant_id:UUID} "
        "AND event_id = {event_id:UUID}",
        tenant_id=tenant_id,
        params={"event_id": event_id},
    )
    return bool(rows[0]["n"])


def events_stored(
    tenant_id: uuid.UUID, event_ids: list[str], since: dt.datetime, until: dt.datetime
) -> set[str]:
    """Which of ``event_ids`` (spans that started in [since, until]) ``spans`` has:
    what an import of history leaves out, so that a span is counted once however often
    it is imported (controlplane/telemetry/otlp_import.py)."""
    rows = tenant_query(
        "SELECT DISTINCT event_id FROM spans WHERE tenant_id = {tenant_id:UUID} "
        "AND start_time >= {since:DateTime64(6, 'UTC')} "
        "AND start_time <= {until:DateTime64(6, 'UTC')} "
        "AND event_id IN {event_ids:Array(UUID)}",
        tenant_id=tenant_id,
        params={"since": since, "until": until, "event_ids": event_ids},
    )
    return {str(row["event_id"]) for row in rows}


@dataclass(frozen=True)
class TraceSearch:
    """What a trace must contain. Each given field must be matched by some span of the
    trace, not necessarily the same one; empty fields match everything."""

    agent_id: uuid.UUID | None = None
    department_id: uuid.UUID | None = None
    provider: str | None = None
    model: str | None = None
    tool: str | None = None
    text: str | None = None  # case-insensitive substring of SEARCH_TEXT

    def conditions(self) -> tuple[list[str], dict[str, Any]]:
        """Constant SQL conditions of the fields that are set, and their parameters."""
        values = {
            "agent_id": self.agent_id,
            "department_id": self.department_id,
            "provider": self.provider,
            "model": self.model,
            "tool": self.tool,
            "pattern": like_pattern(self.text) if self.text else None,
        }
        chosen = [name for name, value in values.items() if value is not None]
        return [_SEARCH_CONDITIONS[name] for name in chosen], {n: values[n] for n in chosen}


# What free text is searched in. No skipping index on it (docs/decisions/0012).
SEARCH_TEXT = (
    r"lowerUTF8(concat(name, '\n', status_message, '\n', tool, '\n', model, '\n', "
    r"request_body, '\n', response_body))"
)
_SEARCH_CONDITIONS = {
    "agent_id": "agent_id = {agent_id:UUID}",
    "department_id": "department_id = {department_id:UUID}",
    "provider": "provider = {provider:String}",
    "model": "model = {model:String}",
    "tool": "tool = {tool:String}",
    "pattern": SEARCH_TEXT + " LIKE lowerUTF8({pattern:String})",
}


# A trace's status is its worst span's, in this order (also the multiIf of _TRACE_LIST):
# a refusal is the gateway declining a call (policy, content filter, budget), a decision
# rather than a fault, so a timeout or an error of another span outranks it.
TRACE_STATUSES = ("timeout", "error", "refused", "ok")


def trace_status(span_statuses: set[str]) -> str:
    return next((status for status in TRACE_STATUSES if status in span_statuses), "ok")


def like_pattern(text: str) -> str:
    """A LIKE pattern matching ``text`` anywhere, its own ``%``, ``_`` and ``\\`` literal."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


_TRACES = """
SELECT trace_id, min(start_time) AS started_at, max(end_time) AS ended_at,
       count() AS spans, argMin(agent_id, start_time) AS agent_id,
       sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
       sum(cost) AS cost,
       multiIf(countIf(status = 'timeout') > 0, 'timeout',
               countIf(status = 'error') > 0, 'error',
               countIf(status = 'refused') > 0, 'refused', 'ok') AS status,
       argMin(name, start_time) AS root_name
FROM (
    SELECT * FROM spans
    WHERE tenant_id = {tenant_id:UUID}
      AND start_time >= {since:DateTime64(6, 'UTC')}
      AND start_time < {until:DateTime64(6, 'UTC')}
      $DEPARTMENTS
      $MATCHING
    LIMIT 1 BY event_id
)
GROUP BY trace_id
HAVING ({status:Nullable(String)} IS NULL OR status = {status:Nullable(String)})
"""
_TRACE_LIST = (
    _TRACES
    + """   $OLDER
ORDER BY started_at DESC, trace_id DESC
LIMIT {limit:UInt32}
"""
)
_TRACE_TOTALS = """
SELECT count() AS traces, sum(spans) AS spans, sum(input_tokens) AS input_tokens,
       sum(output_tokens) AS output_tokens, sum(cost) AS cost,
       countIf(status != 'ok') AS not_ok
FROM ($TRACES)
"""
# Traces with a span meeting the condition, in the same window; the outer query then
# totals every span of those traces, not just the matching ones. One subquery for each
# condition, each reading only the tenant's spans of the window.
_MATCHING = """
      AND trace_id IN (
          SELECT trace_id FROM spans
          WHERE tenant_id = {tenant_id:UUID}
            AND start_time >= {since:DateTime64(6, 'UTC')}
            AND start_time < {until:DateTime64(6, 'UTC')}
            $DEPARTMENTS
            AND $CONDITION
      )"""
_OLDER = "AND (started_at, trace_id) < ({before:DateTime64(6, 'UTC')}, {before_trace:String})"
# A department-scoped person's rows, in any table of spans or their rollups.
IN_DEPARTMENTS = "AND has({departments:Array(UUID)}, department_id)"


def department_limit(departments: frozenset[uuid.UUID] | None) -> tuple[str, dict[str, Any]]:
    """The condition (for ``$DEPARTMENTS``) and parameter that keep only rows of
    ``departments``; nothing when None (every department)."""
    if departments is None:
        return "", {}
    return IN_DEPARTMENTS, {"departments": sorted(departments)}


def _trace_query(
    sql: str,
    tenant_id: uuid.UUID,
    *,
    since: dt.datetime,
    until: dt.datetime,
    agent_id: uuid.UUID | None,
    status: str | None,
    search: TraceSearch | None,
    departments: frozenset[uuid.UUID] | None,
) -> tuple[str, dict[str, Any]]:
    """``sql`` (holding ``$MATCHING`` and ``$DEPARTMENTS``) for one tenant's traces of
    ``[since, until)`` that match the filters, and its parameters."""
    search = search or TraceSearch()
    if agent_id is not None:
        search = replace(search, agent_id=agent_id)
    conditions, params = search.conditions()
    matching = "".join(_MATCHING.replace("$CONDITION", condition) for condition in conditions)
    params |= {"tenant_id": tenant_id, "since": since, "until": until, "status": status}
    in_departments, limit_params = department_limit(departments)
    params |= limit_params
    return sql.replace("$MATCHING", matching).replace("$DEPARTMENTS", in_departments), params


def trace_list(
    tenant_id: uuid.UUID,
    *,
    since: dt.datetime,
    until: dt.datetime,
    limit: int = 50,
    agent_id: uuid.UUID | None = None,
    status: str | None = None,
    search: TraceSearch | None = None,
    before: tuple[dt.datetime, str] | None = None,
    departments: frozenset[uuid.UUID] | None = None,
) -> list[dict[str, Any]]:
    """Traces of a tenant that started in ``[since, until)``, newest first, with the
    totals of their spans in that window. ``before`` (started_at, trace_id) of the last
    trace of a page gives the next, older page. ``departments``: only spans of those
    (None: every department)."""
    sql = _TRACE_LIST.replace("$OLDER", _OLDER if before is not None else "")
    sql, params = _trace_query(
        sql,
        tenant_id,
        since=since,
        until=until,
        agent_id=agent_id,
        status=status,
        search=search,
        departments=departments,
    )
    params["limit"] = limit
    if before is not None:
        params |= {"before": before[0], "before_trace": before[1]}
    return tenant_query(sql, tenant_id=tenant_id, params=params)


def trace_totals(
    tenant_id: uuid.UUID,
    *,
    since: dt.datetime,
    until: dt.datetime,
    agent_id: uuid.UUID | None = None,
    status: str | None = None,
    search: TraceSearch | None = None,
    departments: frozenset[uuid.UUID] | None = None,
) -> dict[str, Any]:
    """How many traces ``trace_list`` finds with the same filters over every page, and
    their spans, tokens, cost and traces that did not end ``ok``."""
    sql, params = _trace_query(
        _TRACE_TOTALS.replace("$TRACES", _TRACES),
        tenant_id,
        since=since,
        until=until,
        agent_id=agent_id,
        status=status,
        search=search,
        departments=departments,
    )
    rows = tenant_query(sql, tenant_id=tenant_id, params=params)
    return rows[0] if rows else {}


def matching_as_shown(
    tenant_id: uuid.UUID,
    traces: list[dict[str, Any]],
    *,
    since: dt.datetime,
    until: dt.datetime,
    text: str | None,
    shown: Callable[[str], str] | None,
    departments: frozenset[uuid.UUID] | None = None,
) -> list[dict[str, Any]]:
    """Of ``traces`` (rows of ``trace_list`` searched for ``text``), those in which some
    span still contains ``text`` once its status message and bodies are as ``shown``
    (redacted): otherwise searching for an exact address would reveal which traces hold
    it while every page shows ``[EMAIL]``. All of them when there is no text or the
    text is shown as stored (``shown`` None)."""
    if not traces or not text or shown is None:
        return traces
    in_departments, limit_params = department_limit(departments)
    rows = tenant_query(
        """
        SELECT trace_id, name, status_message, tool, model, request_body, response_body
        FROM spans
        WHERE tenant_id = {tenant_id:UUID}
          AND start_time >= {since:DateTime64(6, 'UTC')}
          AND start_time < {until:DateTime64(6, 'UTC')}
          AND trace_id IN {trace_ids:Array(String)}
          $DEPARTMENTS
          AND $MATCHES
        LIMIT 1 BY event_id
        """.replace("$DEPARTMENTS", in_departments).replace(
            "$MATCHES", _SEARCH_CONDITIONS["pattern"]
        ),
        tenant_id=tenant_id,
        params={
            "since": since,
            "until": until,
            "trace_ids": [str(row["trace_id"]) for row in traces],
            "pattern": like_pattern(text),
            **limit_params,
        },
    )
    needle = text.lower()
    still = {
        row["trace_id"]
        for row in rows
        if needle
        in "\n".join(
            (
                str(row["name"]),
                shown(str(row["status_message"])),
                str(row["tool"]),
                str(row["model"]),
                shown(str(row["request_body"])),
                shown(str(row["response_body"])),
            )
        ).lower()
    }
    return [row for row in traces if row["trace_id"] in still]


def trace_spans(
    tenant_id: uuid.UUID, trace_id: str, *, departments: frozenset[uuid.UUID] | None = None
) -> list[dict[str, Any]]:
    """Every span of one trace of the tenant (of ``departments`` only, when given), in
    start order, bodies included."""
    in_departments, limit_params = department_limit(departments)
    return tenant_query(
        """
        SELECT event_id, span_id, parent_span_id, kind, name, start_time, end_time,
               duration_ms, status, status_message, provider, model, tool, input_tokens,
               output_tokens, cost, data_classes, agent_id, edge_node_id, request_body,
               response_body, attributes
        FROM spans
        WHERE tenant_id = {tenant_id:UUID} AND trace_id = {trace_id:String}
          $DEPARTMENTS
        ORDER BY start_time, span_id
        LIMIT 1 BY event_id
        """.replace("$DEPARTMENTS", in_departments),
        tenant_id=tenant_id,
        params={"trace_id": trace_id, **limit_params},
    )


def _utc(value: Any) -> dt.datetime:
    moment = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)

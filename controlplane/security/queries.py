"""ClickHouse queries of behavioral security: every read of the rollups of migration 0004.

Tenant first, parameters bound, times in event time. Results are plain dicts and lists
so the detectors (controlplane/security/detectors.py) stay free of I/O.
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from typing import Any

import pyarrow as pa

from controlplane.analytics.scoped import tenant_query, tenant_query_arrow
from controlplane.analytics.store import one_thread

VOLUME_METRICS = ("tasks", "tokens", "returned_rows", "cost")
# A run's reads of its last minutes, its hour or its day take less CPU on one thread
# than on several (docs/decisions/0057), and leave the other cores to the dashboards.
ONE_THREAD_UP_TO = dt.timedelta(days=1)


def _threads(sql: str, since: dt.datetime, until: dt.datetime) -> str:
    return one_thread(sql) if until - since <= ONE_THREAD_UP_TO else sql


@functools.lru_cache(maxsize=4096)
def _uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def _utc(value: Any) -> dt.datetime:
    moment: dt.datetime = value
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def agent_minutes(
    tenant_id: uuid.UUID, since: dt.datetime, until: dt.datetime
) -> list[dict[str, Any]]:
    """Per agent and minute in [since, until): volume metrics and the agent's site."""
    rows = tenant_query(
        _threads(
            """
            SELECT minute, agent_id, any(site_id) AS site_id,
                   sum(tasks) AS tasks, sum(model_calls) AS model_calls, sum(errors) AS errors,
                   sum(tokens) AS tokens, sum(returned_rows) AS returned_rows,
                   toFloat64(sum(cost)) AS cost
            FROM security_agent_minute
            WHERE tenant_id = {tenant_id:UUID}
              AND minute >= {since:DateTime('UTC')} AND minute < {until:DateTime('UTC')}
            GROUP BY minute, agent_id
            ORDER BY minute, agent_id
            """,
            since,
            until,
        ),
        tenant_id=tenant_id,
        params={"tenant_id": tenant_id, "since": since, "until": until},
    )
    for row in rows:
        row["minute"] = _utc(row["minute"])
        row["agent_id"] = _uuid(row["agent_id"])
        row["site_id"] = _uuid(row["site_id"])
    return rows


def agent_hours_table(tenant_id: uuid.UUID, since: dt.datetime, until: dt.datetime) -> pa.Table:
    """Per agent and hour in [since, until), ordered by agent and hour: the hour's totals
    and its busiest ten minutes (the peak the detectors compare a sliding ten-minute
    window with). Arrow: weeks of a large tenant's hours are too many for dicts."""
    return tenant_query_arrow(
        _threads(
            """
            SELECT agent_id, toStartOfHour(ten) AS hour,
                   sum(ten_tasks) AS tasks, sum(ten_tokens) AS tokens,
                   sum(ten_rows) AS returned_rows, sum(ten_cost) AS cost,
                   max(ten_tasks) AS peak_tasks, max(ten_tokens) AS peak_tokens,
                   max(ten_rows) AS peak_returned_rows, max(ten_cost) AS peak_cost
            FROM (
                SELECT agent_id, toStartOfTenMinutes(minute) AS ten,
                       sum(tasks) AS ten_tasks, sum(tokens) AS ten_tokens,
                       sum(returned_rows) AS ten_rows, toFloat64(sum(cost)) AS ten_cost
                FROM security_agent_minute
                WHERE tenant_id = {tenant_id:UUID}
                  AND minute >= {since:DateTime('UTC')} AND minute < {until:DateTime('UTC')}
                GROUP BY agent_id, ten
            )
            GROUP BY agent_id, hour
            ORDER BY agent_id, hour
            """,
            since,
            until,
        ),
        tenant_id=tenant_id,
        params={"tenant_id": tenant_id, "since": since, "until": until},
    )


def agent_hours(
    tenant_id: uuid.UUID, since: dt.datetime, until: dt.datetime
) -> list[dict[str, Any]]:
    """``agent_hours_table`` as dicts."""
    rows: list[dict[str, Any]] = agent_hours_table(tenant_id, since, until).to_pylist()
    for row in rows:
        row["hour"] = _utc(row["hour"])
        row["agent_id"] = _uuid(row["agent_id"])
    return rows


# A model item without a provider ("/acp/standard") is a request the gateway answered
# itself (a refusal, a cache hit): it names the model asked for, often a tier alias, not a
# provider's model the agent used.


def scope_history(
    tenant_id: uuid.UUID, since: dt.datetime, until: dt.datetime
) -> list[dict[str, Any]]:
    """Per agent, dimension and item used in [since, until): first and last use, uses
    and the number of days it was used on."""
    rows = tenant_query(
        _threads(
            """
            SELECT agent_id, dimension, item, min(minute) AS first_seen, max(minute) AS last_seen,
                   sum(uses) AS uses, uniqExact(toDate(minute)) AS days
            FROM security_scope_minute
            WHERE tenant_id = {tenant_id:UUID}
              AND minute >= {since:DateTime('UTC')} AND minute < {until:DateTime('UTC')}
              AND NOT (dimension = 'model' AND startsWith(item, '/'))
            GROUP BY agent_id, dimension, item
            """,
            since,
            until,
        ),
        tenant_id=tenant_id,
        params={"tenant_id": tenant_id, "since": since, "until": until},
    )
    for row in rows:
        row["agent_id"] = _uuid(row["agent_id"])
        row["first_seen"] = _utc(row["first_seen"])
        row["last_seen"] = _utc(row["last_seen"])
    return rows


def scope_minutes(
    tenant_id: uuid.UUID, since: dt.datetime, until: dt.datetime
) -> list[dict[str, Any]]:
    """Per minute, agent, dimension and item in [since, until): uses and returned rows."""
    rows = tenant_query(
        _threads(
            """
            SELECT minute, agent_id, dimension, item, sum(uses) AS uses,
                   sum(returned_rows) AS returned_rows
            FROM security_scope_minute
            WHERE tenant_id = {tenant_id:UUID}
              AND minute >= {since:DateTime('UTC')} AND minute < {until:DateTime('UTC')}
              AND NOT (dimension = 'model' AND startsWith(item, '/'))
            GROUP BY minute, agent_id, dimension, item
            ORDER BY minute
            """,
            since,
            until,
        ),
        tenant_id=tenant_id,
        params={"tenant_id": tenant_id, "since": since, "until": until},
    )
    for row in rows:
        row["minute"] = _utc(row["minute"])
        row["agent_id"] = _uuid(row["agent_id"])
    return rows


def first_activity(
    tenant_id: uuid.UUID, until: dt.datetime, *, since: dt.datetime | None = None
) -> dict[uuid.UUID, dt.datetime]:
    """Each agent's first minute with any span before ``until`` (and from ``since``)."""
    since = since or dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    rows = tenant_query(
        _threads(
            """
            SELECT agent_id, min(minute) AS first_minute
            FROM security_agent_minute
            WHERE tenant_id = {tenant_id:UUID} AND minute < {until:DateTime('UTC')}
              AND minute >= {since:DateTime('UTC')}
            GROUP BY agent_id
            """,
            since,
            until,
        ),
        tenant_id=tenant_id,
        params={"tenant_id": tenant_id, "since": since, "until": until},
    )
    return {uuid.UUID(str(row["agent_id"])): _utc(row["first_minute"]) for row in rows}


def agent_peaks(
    tenant_id: uuid.UUID, since: dt.datetime, until: dt.datetime
) -> dict[uuid.UUID, dict[str, float]]:
    """Per agent: its busiest minute's tokens and returned rows in [since, until)."""
    rows = tenant_query(
        """
        SELECT agent_id, max(tokens) AS tokens, max(returned_rows) AS returned_rows
        FROM (
            SELECT agent_id, minute, sum(tokens) AS tokens, sum(returned_rows) AS returned_rows
            FROM security_agent_minute
            WHERE tenant_id = {tenant_id:UUID}
              AND minute >= {since:DateTime('UTC')} AND minute < {until:DateTime('UTC')}
            GROUP BY agent_id, minute
        )
        GROUP BY agent_id
        """,
        tenant_id=tenant_id,
        params={"tenant_id": tenant_id, "since": since, "until": until},
    )
    return {
        uuid.UUID(str(row["agent_id"])): {
            "tokens": float(row["tokens"]),
            "returned_rows": float(row["returned_rows"]),
        }
        for row in rows
    }


def sample_traces(
    tenant_id: uuid.UUID,
    agent_ids: list[uuid.UUID],
    since: dt.datetime,
    until: dt.datetime,
    *,
    limit: int = 5,
) -> list[dict[str, Any]]:
    """A few traces of the agents in the window, for an alert's evidence links."""
    rows = tenant_query(
        """
        SELECT trace_id, min(start_time) AS started_at, any(agent_id) AS trace_agent
        FROM spans
        WHERE tenant_id = {tenant_id:UUID}
          AND start_time >= {since:DateTime64(6, 'UTC')}
          AND start_time < {until:DateTime64(6, 'UTC')}
          AND has({agent_ids:Array(UUID)}, agent_id)
        GROUP BY trace_id
        ORDER BY started_at
        LIMIT {limit:UInt32}
        """,
        tenant_id=tenant_id,
        params={
            "tenant_id": tenant_id,
            "agent_ids": agent_ids,
            "since": since,
            "until": until,
            "limit": limit,
        },
    )
    return [
        {
            "trace_id": row["trace_id"],
            "started_at": _utc(row["started_at"]).isoformat(),
            "agent_id": str(row["trace_agent"]),
        }
        for row in rows
    ]

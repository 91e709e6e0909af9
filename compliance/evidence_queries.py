"""The ClickHouse reads behind the automated control tests: one tenant, one period,
every value a bound parameter, the tenant first in every ``WHERE``.

Each function returns the rows with the exact SQL and parameters it sent, which the
evidence record keeps so an auditor can run the query again. Span counts read ``FINAL``
so that a span re-sent in a second batch counts once; rollups are sums already.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from controlplane.analytics.scoped import tenant_query

SAMPLE_TRACES = 3
INCOMPLETE_LIMIT = 1000
# Spans this recent are not judged for completeness: their parents (a root span is
# exported when the agent's run ends) may still be on their way.
SETTLE_MINUTES = 15


@dataclass(frozen=True)
class QueryResult:
    sql: str
    params: dict[str, Any]
    rows: list[dict[str, Any]]


def _run(sql: str, tenant_id: uuid.UUID, since: dt.datetime, until: dt.datetime) -> QueryResult:
    params: dict[str, Any] = {"tenant_id": tenant_id, "since": since, "until": until}
    sql = sql.strip()
    return QueryResult(sql, params, tenant_query(sql, tenant_id=tenant_id, params=params))


VERDICTS_SQL = """
SELECT agent_id,
       JSONExtractString(verdict, 'stage') AS stage,
       JSONExtractString(verdict, 'verdict') AS decision,
       JSONExtractString(verdict, 'code') AS code,
       count() AS calls,
       groupUniqArray(3)(JSONExtractString(verdict, 'reason')) AS reasons,
       groupUniqArray(3)(trace_id) AS sample_traces
FROM (
    SELECT agent_id, trace_id,
           arrayJoin(JSONExtractArrayRaw(attributes, 'acp.gateway.verdicts')) AS verdict
    FROM spans FINAL
    WHERE tenant_id = {tenant_id:UUID}
      AND start_time >= {since:DateTime64(6, 'UTC')}
      AND start_time < {until:DateTime64(6, 'UTC')}
      AND kind = 'model' AND JSONHas(attributes, 'acp.gateway.verdicts')
)
GROUP BY agent_id, stage, decision, code
ORDER BY agent_id, code, decision
"""


def gateway_verdicts(tenant_id: uuid.UUID, since: dt.datetime, until: dt.datetime) -> QueryResult:
    """Per agent and verdict (stage, decision, code): the gateway's model calls with that
    verdict, up to three reasons (types and scores, never the values) and sample traces."""
    return _run(VERDICTS_SQL, tenant_id, since, until)


REFUSALS_SQL = """
SELECT agent_id, count() AS refused,
       groupUniqArray(3)(status_message) AS messages,
       groupUniqArray(3)(trace_id) AS sample_traces
FROM spans FINAL
WHERE tenant_id = {tenant_id:UUID}
  AND start_time >= {since:DateTime64(6, 'UTC')}
  AND start_time < {until:DateTime64(6, 'UTC')}
  AND status = 'refused'
GROUP BY agent_id
ORDER BY agent_id
"""


def refusals(tenant_id: uuid.UUID, since: dt.datetime, until: dt.datetime) -> QueryResult:
    """Per agent: the calls the gateway refused (policy, filter, budget, rate)."""
    return _run(REFUSALS_SQL, tenant_id, since, until)


DATA_CLASSES_SQL = """
SELECT agent_id, item AS data_class, sum(uses) AS uses
FROM security_scope_minute
WHERE tenant_id = {tenant_id:UUID}
  AND minute >= {since:DateTime('UTC')} AND minute < {until:DateTime('UTC')}
  AND dimension = 'classification'
GROUP BY agent_id, item
ORDER BY agent_id, item
"""


def data_classes_accessed(
    tenant_id: uuid.UUID, since: dt.datetime, until: dt.datetime
) -> QueryResult:
    """Per agent and data classification: how many spans touched it."""
    return _run(DATA_CLASSES_SQL, tenant_id, since, until)


PROVIDER_ATTEMPTS_SQL = """
SELECT provider, sum(attempts) AS attempts, sum(failures) AS failures,
       sum(timeouts) AS timeouts, sum(failovers) AS failovers,
       sum(breaker_trips) AS breaker_trips
FROM provider_attempts_minute
WHERE tenant_id = {tenant_id:UUID}
  AND minute >= {since:DateTime('UTC')} AND minute < {until:DateTime('UTC')}
GROUP BY provider
ORDER BY provider
"""


def provider_attempts(tenant_id: uuid.UUID, since: dt.datetime, until: dt.datetime) -> QueryResult:
    """Per provider: the edge gateways' attempts, failures, failovers and breaker trips."""
    return _run(PROVIDER_ATTEMPTS_SQL, tenant_id, since, until)


MODEL_CALLS_SQL = """
SELECT provider, sum(requests) AS calls,
       sumIf(requests, status IN ('error', 'timeout')) AS failed
FROM spans_minute
WHERE tenant_id = {tenant_id:UUID}
  AND minute >= {since:DateTime('UTC')} AND minute < {until:DateTime('UTC')}
  AND kind = 'model' AND provider != '' AND status != 'refused'
GROUP BY provider
ORDER BY provider
"""


def model_calls_by_provider(
    tenant_id: uuid.UUID, since: dt.datetime, until: dt.datetime
) -> QueryResult:
    """Per provider: the model calls agents reported and how many failed or timed out."""
    return _run(MODEL_CALLS_SQL, tenant_id, since, until)


PEAK_RATE_SQL = """
SELECT agent_id, max(per_minute) AS peak_per_minute, sum(per_minute) AS requests
FROM (
    SELECT agent_id, minute, sum(requests) AS per_minute
    FROM spans_minute
    WHERE tenant_id = {tenant_id:UUID}
      AND minute >= {since:DateTime('UTC')} AND minute < {until:DateTime('UTC')}
      AND kind = 'model'
    GROUP BY agent_id, minute
)
GROUP BY agent_id
ORDER BY agent_id
"""


def peak_request_rates(tenant_id: uuid.UUID, since: dt.datetime, until: dt.datetime) -> QueryResult:
    """Per agent: its busiest minute of model calls, and all its calls."""
    return _run(PEAK_RATE_SQL, tenant_id, since, until)


INCOMPLETE_TRACES_SQL = """
SELECT trace_id, agent AS agent_id, length(parents) AS judged,
       arrayCount(p -> p != '' AND NOT has(ids, p), parents) AS orphans
FROM (
    SELECT trace_id, any(agent_id) AS agent, groupArray(span_id) AS ids,
           groupArrayIf(parent_span_id, start_time >= {since:DateTime64(6, 'UTC')}
               AND start_time < {until:DateTime64(6, 'UTC')} - INTERVAL $SETTLE MINUTE)
               AS parents
    FROM spans FINAL
    WHERE tenant_id = {tenant_id:UUID}
      AND start_time >= {since:DateTime64(6, 'UTC')} - INTERVAL 1 HOUR
      AND start_time < {until:DateTime64(6, 'UTC')} + INTERVAL 1 HOUR
    GROUP BY trace_id
)
WHERE orphans > 0
ORDER BY trace_id
LIMIT $LIMIT
""".replace("$SETTLE", str(SETTLE_MINUTES)).replace("$LIMIT", str(INCOMPLETE_LIMIT))

TRACE_COUNT_SQL = """
SELECT uniqExact(trace_id) AS traces, count() AS spans
FROM spans FINAL
WHERE tenant_id = {tenant_id:UUID}
  AND start_time >= {since:DateTime64(6, 'UTC')}
  AND start_time < {until:DateTime64(6, 'UTC')}
"""


def incomplete_traces(tenant_id: uuid.UUID, since: dt.datetime, until: dt.datetime) -> QueryResult:
    """Traces with a span of the period whose parent never arrived, looked for an hour
    either side of the period (at most ``INCOMPLETE_LIMIT`` traces)."""
    return _run(INCOMPLETE_TRACES_SQL, tenant_id, since, until)


def trace_count(tenant_id: uuid.UUID, since: dt.datetime, until: dt.datetime) -> QueryResult:
    """The traces and spans captured in the period."""
    return _run(TRACE_COUNT_SQL, tenant_id, since, until)


OLDEST_SQL = """
SELECT minOrNull(start_time) AS oldest, count() AS spans
FROM spans
WHERE tenant_id = {tenant_id:UUID}
  AND start_time >= {since:DateTime64(6, 'UTC')} AND start_time < {until:DateTime64(6, 'UTC')}
"""


def oldest_span(tenant_id: uuid.UUID, since: dt.datetime, until: dt.datetime) -> QueryResult:
    """The oldest span ClickHouse still holds in ``[since, until)`` (``since`` far back:
    whatever retention left)."""
    return _run(OLDEST_SQL, tenant_id, since, until)


CENTRAL_BODIES_SQL = """
SELECT trace_id, count() AS spans,
       countIf(request_body != '') AS request_bodies,
       countIf(response_body != '') AS response_bodies
FROM spans FINAL
WHERE tenant_id = {tenant_id:UUID}
  AND start_time >= {since:DateTime64(6, 'UTC')}
  AND start_time < {until:DateTime64(6, 'UTC')}
  AND (request_body != '' OR response_body != '')
GROUP BY trace_id
ORDER BY trace_id
LIMIT $LIMIT
""".replace("$LIMIT", str(INCOMPLETE_LIMIT))


def central_bodies(tenant_id: uuid.UUID, since: dt.datetime, until: dt.datetime) -> QueryResult:
    """Traces whose spans ClickHouse holds with a request or response body (at most
    ``INCOMPLETE_LIMIT`` traces): for a residency tenant, bodies that left its edge."""
    return _run(CENTRAL_BODIES_SQL, tenant_id, since, until)

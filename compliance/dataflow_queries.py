"""The ClickHouse read behind the data-flow diagram: one tenant's spans of a time range,
aggregated by where the data went.

One row per (site, edge node, department, agent, kind, path, provider, model, tool,
external host). ``path`` says how a model call left the site:

- ``gateway``: the edge gateway recorded it (its spans carry ``acp.gateway.*``
  attributes);
- ``relayed``: the agent's own span of a call the gateway also recorded (the gateway
  span's parent, or its grandparent when the agent's HTTP client span sits between),
  so the call is drawn once, through the gateway;
- ``agent``: only the agent reported it: it went to the provider without the gateway.

``host`` is the external system a tool or step span names in the OpenTelemetry
attributes ``server.address``, ``url.full`` or ``http.url``; empty for model spans
(their provider is the destination), for the agent's HTTP span of a call to the gateway
(a ``gateway_hops`` span: that hop is the edge node), and for spans that name none.

``FINAL`` counts a span re-sent in a second batch once, before ReplacingMergeTree has
merged the two rows; the hop lookups reach an hour past the range on either side, so a
call whose spans straddle an end of the range is still recognised.

Every value is a bound parameter; the tenant comes first in every ``WHERE``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from controlplane.analytics.scoped import tenant_query
from controlplane.telemetry.spans import department_limit

ROW_LIMIT = 5000
"""Distinct flows read at most: agents choose tool names and hosts, so a hostile one
could otherwise make the diagram arbitrarily large."""

FLOW_SQL = """
WITH
    gateway_hops AS (
        SELECT trace_id, parent_span_id AS hop_span_id FROM spans
        WHERE tenant_id = {tenant_id:UUID}
          AND start_time >= {since:DateTime64(6, 'UTC')} - INTERVAL 1 HOUR
          AND start_time < {until:DateTime64(6, 'UTC')} + INTERVAL 1 HOUR
          AND kind = 'model' AND parent_span_id != ''
          AND JSONHas(attributes, 'acp.gateway.route')
    ),
    hop_parents AS (
        SELECT trace_id, parent_span_id AS hop_parent_id FROM spans
        WHERE tenant_id = {tenant_id:UUID}
          AND start_time >= {since:DateTime64(6, 'UTC')} - INTERVAL 1 HOUR
          AND start_time < {until:DateTime64(6, 'UTC')} + INTERVAL 1 HOUR
          AND parent_span_id != ''
          AND (trace_id, span_id) IN (SELECT trace_id, hop_span_id FROM gateway_hops)
    )
SELECT site_id, edge_node_id, department_id, agent_id, kind, path, provider, model, tool,
       host,
       count() AS spans,
       countIf(status IN ('error', 'timeout')) AS errors,
       countIf(status = 'refused') AS refused,
       sum(input_tokens) AS input_tokens,
       sum(output_tokens) AS output_tokens,
       arraySort(groupUniqArrayArray(data_classes)) AS data_classes
FROM (
    SELECT site_id, edge_node_id, department_id, agent_id, kind, provider, model, tool,
           status, input_tokens, output_tokens, data_classes,
           (trace_id, span_id) IN (SELECT trace_id, hop_span_id FROM gateway_hops) AS hop,
           multiIf(
               kind != 'model', '',
               JSONHas(attributes, 'acp.gateway.route'), 'gateway',
               hop OR (trace_id, span_id) IN (SELECT trace_id, hop_parent_id FROM hop_parents),
               'relayed',
               'agent'
           ) AS path,
           if(
               kind = 'model' OR hop, '',
               lower(multiIf(
                   JSONExtractString(attributes, 'server.address') != '',
                   JSONExtractString(attributes, 'server.address'),
                   domain(JSONExtractString(attributes, 'url.full')) != '',
                   domain(JSONExtractString(attributes, 'url.full')),
                   domain(JSONExtractString(attributes, 'http.url'))
               ))
           ) AS host
    FROM spans FINAL
    WHERE tenant_id = {tenant_id:UUID}
      AND start_time >= {since:DateTime64(6, 'UTC')}
      AND start_time < {until:DateTime64(6, 'UTC')}
      $DEPARTMENTS
)
GROUP BY site_id, edge_node_id, department_id, agent_id, kind, path, provider, model, tool,
         host
ORDER BY site_id, edge_node_id, department_id, agent_id, kind, path, provider, model, tool,
         host
LIMIT {limit:UInt32}
"""


def flow_rows(
    tenant_id: uuid.UUID,
    *,
    since: dt.datetime,
    until: dt.datetime,
    limit: int = ROW_LIMIT,
    departments: frozenset[uuid.UUID] | None = None,
) -> list[dict[str, Any]]:
    """The tenant's span records of ``[since, until)`` (of ``departments`` only, when
    given) grouped by flow (see the module docstring); at most ``limit`` rows."""
    in_departments, limit_params = department_limit(departments)
    params = {"since": since, "until": until, "limit": limit}
    return tenant_query(
        FLOW_SQL.replace("$DEPARTMENTS", in_departments),
        tenant_id=tenant_id,
        params=params | limit_params,
    )

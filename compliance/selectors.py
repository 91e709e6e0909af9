"""Reads of the compliance app: the data-flow graph of a range and the saved snapshots.

Every read runs as the tenant it names (``tenant_context``): the ORM filter and
PostgreSQL's row-level security both keep other tenants' rows out, and the ClickHouse
query binds the tenant id.
"""

from __future__ import annotations

import datetime as dt
import uuid

from compliance import dataflow_queries
from compliance.dataflow import Graph, Names, build_graph
from compliance.models import DataFlowSnapshot
from controlplane.agents.models import Agent, EdgeNode, Site
from controlplane.core.tenancy import tenant_context
from tenants.models import Department, Tenant


def dataflow_names(tenant: Tenant) -> Names:
    """The tenant's agent, department, site and edge node names, by id."""
    with tenant_context(tenant):
        return Names(
            agents={str(pk): name for pk, name in Agent.objects.values_list("pk", "name")},
            departments={
                str(pk): name for pk, name in Department.objects.values_list("pk", "name")
            },
            sites={str(pk): name for pk, name in Site.objects.values_list("pk", "name")},
            edge_nodes={str(pk): name for pk, name in EdgeNode.objects.values_list("pk", "name")},
        )


# A site with more agents than this is drawn a node per department (unless asked).
GROUP_AGENTS_OVER = 12


def dataflow_graph(
    *,
    tenant: Tenant,
    since: dt.datetime,
    until: dt.datetime,
    departments: frozenset[uuid.UUID] | None = None,
    agent_id: uuid.UUID | None = None,
    group_agents: bool | None = False,
) -> Graph:
    """The tenant's data flows of ``[since, until)``, from its spans (of ``departments``
    only, when given; of one agent with ``agent_id``). ``group_agents``: one node per
    department instead of per agent; None: when a site has over ``GROUP_AGENTS_OVER``
    agents in the range. Raises ``controlplane.analytics.StoreError`` when ClickHouse
    does not answer."""
    limit = dataflow_queries.ROW_LIMIT
    rows = dataflow_queries.flow_rows(
        tenant.pk, since=since, until=until, limit=limit + 1, departments=departments
    )
    truncated = len(rows) > limit
    rows = rows[:limit]
    if agent_id is not None:
        rows = [row for row in rows if str(row["agent_id"]) == str(agent_id)]
    if group_agents is None:
        per_site: dict[str, set[str]] = {}
        for row in rows:
            per_site.setdefault(str(row["site_id"]), set()).add(str(row["agent_id"]))
        group_agents = any(len(agents) > GROUP_AGENTS_OVER for agents in per_site.values())
    return build_graph(
        rows,
        names=dataflow_names(tenant),
        tenant_name=tenant.name,
        tenant_slug=tenant.slug,
        since=since,
        until=until,
        truncated=truncated,
        group_agents=group_agents,
    )


def dataflow_snapshots(tenant: Tenant) -> list[DataFlowSnapshot]:
    """The tenant's snapshots, newest first, without their (large) graph and SVG."""
    with tenant_context(tenant):
        return list(DataFlowSnapshot.objects.defer("graph", "svg"))


def dataflow_snapshot(*, tenant: Tenant, snapshot_id: uuid.UUID) -> DataFlowSnapshot | None:
    """One snapshot of the tenant; None for another tenant's id as for no such id."""
    with tenant_context(tenant):
        return DataFlowSnapshot.objects.filter(pk=snapshot_id).first()

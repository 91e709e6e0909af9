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


def dataflow_graph(
    *,
    tenant: Tenant,
    since: dt.datetime,
    until: dt.datetime,
    departments: frozenset[uuid.UUID] | None = None,
) -> Graph:
    """The tenant's data flows of ``[since, until)``, from its spans (of ``departments``
    only, when given). Raises ``controlplane.analytics.StoreError`` when ClickHouse does
    not answer."""
    limit = dataflow_queries.ROW_LIMIT
    rows = dataflow_queries.flow_rows(
        tenant.pk, since=since, until=until, limit=limit + 1, departments=departments
    )
    return build_graph(
        rows[:limit],
        names=dataflow_names(tenant),
        tenant_name=tenant.name,
        tenant_slug=tenant.slug,
        since=since,
        until=until,
        truncated=len(rows) > limit,
    )


def dataflow_snapshots(tenant: Tenant) -> list[DataFlowSnapshot]:
    """The tenant's snapshots, newest first, without their (large) graph and SVG."""
    with tenant_context(tenant):
        return list(DataFlowSnapshot.objects.defer("graph", "svg"))


def dataflow_snapshot(*, tenant: Tenant, snapshot_id: uuid.UUID) -> DataFlowSnapshot | None:
    """One snapshot of the tenant; None for another tenant's id as for no such id."""
    with tenant_context(tenant):
        return DataFlowSnapshot.objects.filter(pk=snapshot_id).first()

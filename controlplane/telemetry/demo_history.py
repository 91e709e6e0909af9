"""A month of history for the demo tenants, so that a new demo has something to show.

``make run`` starts with the demo MSP's own agents; without a past, every chart was a
sliver at its right edge and there was no month to invoice or audit. This loads
``days`` of realistic traffic (office hours and weekends, several providers and
models, errors, timeouts, refusals and a provider incident: ``seeding.generate_chunk``)
for the demo tenants' real agents, edge nodes and departments, into both stores, ending
where the live traffic of the simulator begins. Like ``seed_events`` it is idempotent:
the event ids follow from the seed alone, so a second start adds nothing.
"""

from __future__ import annotations

import datetime as dt
import uuid

import numpy as np

from controlplane.agents.models import Agent, EdgeNode
from controlplane.core.tenancy import tenant_context
from controlplane.telemetry.seeding import (
    ROLES,
    Fleet,
    SeedAgent,
    SeedResult,
    default_until,
    load_events,
    zipf_weights,
)
from tenants.models import Tenant

DEMO_HISTORY_SEED = 2026
DEMO_HISTORY_DAYS = 30
DEMO_HISTORY_EVENTS = 150_000


def demo_fleet(tenants: list[Tenant]) -> Fleet:
    """The seeding fleet of ``tenants``' own agents (those with a seeding role), each at
    its tenant's first edge node. Bigger tenants (more agents) get more traffic."""
    agents: list[SeedAgent] = []
    tenant_of_agent: list[int] = []
    for index, tenant in enumerate(tenants):
        with tenant_context(tenant):
            node = EdgeNode.objects.order_by("created_at").first()
            rows = list(Agent.objects.filter(role__in=list(ROLES)).order_by("name"))
        if node is None:
            continue
        for agent in rows:
            agents.append(
                SeedAgent(
                    id=str(agent.pk),
                    tenant_id=str(tenant.pk),
                    department_id=str(agent.department_id or uuid.UUID(int=0)),
                    site_id=str(node.site_id),
                    edge_node_id=str(node.pk),
                    role=agent.role,
                    retention_days=tenant.retention_days,
                )
            )
            tenant_of_agent.append(index)
    if not agents:
        raise ValueError("the demo tenants have no agents with an edge node yet (seed_demo)")
    owners = np.asarray(tenant_of_agent)
    sizes = np.bincount(owners, minlength=len(tenants)).astype(float)
    tenant_weights = sizes / sizes.sum()
    agent_weights = np.concatenate(
        [zipf_weights(int(n), 0.6) * tenant_weights[i] for i, n in enumerate(sizes) if n]
    )
    return Fleet(
        tenants=tenants,
        agents=agents,
        tenant_weights=tenant_weights,
        agent_weights=agent_weights / agent_weights.sum(),
        tenant_of_agent=owners,
    )


def load_demo_history(
    tenants: list[Tenant],
    *,
    days: int = DEMO_HISTORY_DAYS,
    events: int = DEMO_HISTORY_EVENTS,
    until: dt.datetime | None = None,
) -> SeedResult:
    """Load the demo's past into both stores; nothing when it is already there."""
    end = until or default_until(dt.datetime.now(dt.UTC))
    return load_events(
        demo_fleet(tenants), events=events, days=days, seed=DEMO_HISTORY_SEED, until=end
    )

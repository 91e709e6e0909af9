"""Telling a tenant's edge nodes what to remove: the spool records and cached answers
the control plane has not pulled or does not hold (edge/privacy.py). The edge answers
with what it did, counted; a node that does not answer fails its step, which a later
run repeats."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

import httpx

from controlplane.agents.models import EdgeNode
from controlplane.agents.services import edge_node_token
from controlplane.core.tenancy import tenant_context
from controlplane.telemetry.edge_client import EdgeClient
from edge.identifiers import Identifier

# A purge reads the whole spool on the edge; give it longer than a pull.
TIMEOUT = httpx.Timeout(120.0, connect=5.0)
EXPORT_LIMIT = 10000


def nodes(tenant_id: uuid.UUID) -> list[EdgeNode]:
    with tenant_context(tenant_id):
        return list(EdgeNode.objects.order_by("name"))


def _nanos(moment: dt.datetime) -> int:
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000


def _order(node: EdgeNode, kind: str, document: dict[str, Any]) -> dict[str, Any]:
    with EdgeClient(node.pull_url, edge_node_token(node), timeout=TIMEOUT) as client:
        return client.privacy(kind, document)


def _holds(
    tenant_id: uuid.UUID, held_agents: Sequence[uuid.UUID], hold_all: bool
) -> dict[str, Any]:
    return {
        "tenant_id": str(tenant_id),
        "held_agents": [str(a) for a in held_agents],
        "hold_all": hold_all,
    }


def purge(
    node: EdgeNode,
    *,
    delete_before: dt.datetime,
    bodies_before: dt.datetime,
    held_agents: Sequence[uuid.UUID],
) -> dict[str, Any]:
    return _order(
        node,
        "purge",
        {
            **_holds(node.tenant_id, held_agents, False),
            "delete_before": _nanos(delete_before),
            "bodies_before": _nanos(bodies_before),
        },
    )


def find(
    node: EdgeNode, identifiers: Sequence[Identifier], held_agents: Sequence[uuid.UUID] = ()
) -> dict[str, Any]:
    return _order(
        node,
        "find",
        {
            **_holds(node.tenant_id, held_agents, False),
            "identifiers": [i.as_dict() for i in identifiers],
            "limit": EXPORT_LIMIT,
        },
    )


def erase(
    node: EdgeNode, identifiers: Sequence[Identifier], held_agents: Sequence[uuid.UUID]
) -> dict[str, Any]:
    return _order(
        node,
        "erase",
        {
            **_holds(node.tenant_id, held_agents, False),
            "identifiers": [i.as_dict() for i in identifiers],
        },
    )

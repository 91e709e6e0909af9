"""Bodies that stay at the customer's edge (docs/decisions/0030-body-residency.md).

A residency tenant's spans reach the stores with their bodies' SHA-256 only. When a
person who may read bodies (controlplane/telemetry/body_access.py) opens such a trace,
the bodies are read from the edge node that keeps them, checked against the hashes, and
shown; every read is audited. An edge that does not answer is named, and the rest of
the trace is shown without its bodies.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import httpx

from controlplane.agents.models import EdgeNode
from controlplane.agents.services import edge_node_token
from controlplane.audit.services import Actor, audit_record
from controlplane.core.tenancy import tenant_context
from controlplane.telemetry.edge_client import EdgeClient, EdgeUnavailable
from edge.residency import AT_EDGE, BODIES, REQUEST_SHA256, RESPONSE_SHA256, sha256_text

logger = logging.getLogger(__name__)

FETCH_TIMEOUT = httpx.Timeout(5.0, connect=2.0)
"""A person waits for the page: an edge that cannot answer in this long is unreachable."""
CHUNK = 200
DROPPED = "dropped"


@dataclass
class EdgeBodies:
    """What reading a trace's bodies from its edges found."""

    at_edge: int = 0
    """Spans whose bodies are kept at an edge."""
    fetched: int = 0
    unreachable: list[str] = field(default_factory=list)
    """Edge nodes that did not answer (their names)."""
    missing: int = 0
    """Spans the edge no longer holds (past the tenant's retention)."""
    mismatched: int = 0
    """Bodies the edge returned that do not match the recorded SHA-256: not shown."""
    dropped: int = 0
    """Spans of a residency tenant whose bodies were never kept (docs/security.md)."""

    @property
    def note(self) -> str:
        """What the trace page says about these bodies ("" when nothing is at an edge)."""
        if not self.at_edge and not self.dropped:
            return ""
        parts = []
        if self.at_edge:
            parts.append(
                "Prompts and responses of this trace stay at the customer's edge"
                + (f"; {self.fetched} were read from it now." if self.fetched else ".")
            )
        if self.unreachable:
            parts.append(
                f"The edge node {', '.join(self.unreachable)} that keeps them cannot be reached "
                "now, so they cannot be shown; everything else is."
            )
        if self.missing:
            parts.append(f"{self.missing} are no longer kept at the edge (past retention).")
        if self.mismatched:
            parts.append(
                f"{self.mismatched} did not match the SHA-256 recorded at ingest and are not shown."
            )
        if self.dropped:
            parts.append(
                f"{self.dropped} reached the control plane before the edge kept bodies and "
                "were not stored anywhere; only their SHA-256 is."
            )
        return " ".join(parts)


def _attributes(row: dict[str, Any]) -> dict[str, Any]:
    value = row.get("attributes")
    if isinstance(value, dict):
        return value
    try:
        parsed = json.loads(value or "{}")
    except (TypeError, json.JSONDecodeError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


def edge_bodies_fill(
    *, tenant_id: uuid.UUID, trace_id: str, rows: list[dict[str, Any]], actor: Actor
) -> EdgeBodies:
    """Put into ``rows`` (``spans.trace_spans`` of one trace) the bodies their edges
    keep; the caller has checked that the person may read bodies."""
    found = EdgeBodies()
    wanted: dict[str, list[tuple[dict[str, Any], dict[str, Any]]]] = defaultdict(list)
    for row in rows:
        attributes = _attributes(row)
        where = attributes.get(BODIES)
        if where == AT_EDGE:
            wanted[str(row.get("edge_node_id"))].append((row, attributes))
        elif where == DROPPED:
            found.dropped += 1
    found.at_edge = sum(len(spans) for spans in wanted.values())
    if not wanted:
        return found
    with tenant_context(tenant_id):
        nodes = {str(node.pk): node for node in EdgeNode.objects.filter(pk__in=list(wanted))}
    for node_id, spans in wanted.items():
        node = nodes.get(node_id)
        if node is None:  # a node since removed: its bodies went with it
            found.missing += len(spans)
            continue
        try:
            kept = _read(node, [str(row["event_id"]) for row, _ in spans])
        except EdgeUnavailable as exc:
            logger.warning("bodies of trace %s: edge node %s: %s", trace_id, node.pk, exc)
            found.unreachable.append(node.name)
            continue
        for row, attributes in spans:
            bodies = kept.get(str(row["event_id"]))
            if bodies is None:
                found.missing += 1
            elif _matches(bodies, attributes):
                row["request_body"] = bodies["request_body"]
                row["response_body"] = bodies["response_body"]
                found.fetched += 1
            else:
                found.mismatched += 1
        audit_record(
            actor=actor,
            action="trace.bodies_read_from_edge",
            target=node,
            tenant_id=tenant_id,
            after={"trace_id": trace_id, "spans": len(spans)},
        )
    return found


def _read(node: EdgeNode, event_ids: list[str]) -> dict[str, dict[str, Any]]:
    kept: dict[str, dict[str, Any]] = {}
    with EdgeClient(node.pull_url, edge_node_token(node), timeout=FETCH_TIMEOUT) as edge:
        for start in range(0, len(event_ids), CHUNK):
            answer = edge.bodies(event_ids[start : start + CHUNK])
            for item in answer.get("bodies") or []:
                kept[str(item.get("event_id"))] = item
    return kept


def _matches(bodies: dict[str, Any], attributes: dict[str, Any]) -> bool:
    for key, recorded in (("request_body", REQUEST_SHA256), ("response_body", RESPONSE_SHA256)):
        text = bodies.get(key)
        if not isinstance(text, str):
            return False
        if (sha256_text(text) if text else None) != attributes.get(recorded):
            return False
    return True

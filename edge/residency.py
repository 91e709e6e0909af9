"""Residency: tenants whose prompts and responses never leave the site
(docs/edge-protocol.md, "Residency"; docs/decisions/0030-body-residency.md).

For such a tenant a spool record carries its bodies' SHA-256 in ``attributes`` and
empty bodies; the bodies themselves go to the spool database's ``bodies`` table, in the
same transaction. Acks never delete them: the control plane reads them on demand
(``POST /v1/bodies``), and the edge forgets them once they are older than the tenant's
retention.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from edge.errors import ConfigError
from edge.storable import storable_text

BODIES = "acp.edge.bodies"
"""``"edge"``: the bodies are kept at this edge. (The control plane writes ``"dropped"``
on a record that reached it with bodies for a residency tenant: it keeps neither.)"""
REQUEST_SHA256 = "acp.edge.request_body_sha256"
RESPONSE_SHA256 = "acp.edge.response_body_sha256"
AT_EDGE = "edge"


@dataclass(frozen=True)
class Residency:
    bodies_at_edge: bool
    retention_days: int
    """How long the edge keeps a body (the tenant's telemetry retention)."""


class KeptBodies(NamedTuple):
    """A record's bodies, kept at the edge (a row of the spool's ``bodies`` table)."""

    event_id: str
    tenant_id: str
    request_body: str
    response_body: str


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def keep(record: dict[str, Any]) -> KeptBodies | None:
    """Move a record's bodies out of it: the record keeps their SHA-256 (of the UTF-8
    text, after the replacement of what no store can hold) under ``attributes``. None
    when it has no body."""
    request = storable_text(record["request_body"])
    response = storable_text(record["response_body"])
    if not request and not response:
        return None
    attributes = record["attributes"]
    attributes[BODIES] = AT_EDGE
    if request:
        attributes[REQUEST_SHA256] = sha256_text(request)
    if response:
        attributes[RESPONSE_SHA256] = sha256_text(response)
    record["request_body"] = record["response_body"] = ""
    return KeptBodies(record["event_id"], record["tenant_id"], request, response)


def parse_residency(doc: Mapping[str, Any]) -> dict[str, Residency]:
    """The optional ``residency`` section, by tenant id; absent (an older control plane)
    means no tenant keeps its bodies at the edge."""
    items = doc.get("residency") or []
    if not isinstance(items, list):
        raise ConfigError("residency must be an array")
    result: dict[str, Residency] = {}
    for index, item in enumerate(items):
        where = f"residency[{index}]"
        if not isinstance(item, dict):
            raise ConfigError(f"{where} must be an object")
        try:
            tenant_id = str(uuid.UUID(item.get("tenant_id")))
        except (TypeError, ValueError, AttributeError):
            raise ConfigError(f"{where}.tenant_id must be a UUID") from None
        at_edge = item.get("bodies_at_edge")
        if not isinstance(at_edge, bool):
            raise ConfigError(f"{where}.bodies_at_edge must be true or false")
        days = item.get("retention_days")
        if not isinstance(days, int) or isinstance(days, bool) or days < 1:
            raise ConfigError(f"{where}.retention_days must be a positive integer")
        result[tenant_id] = Residency(at_edge, days)
    return result

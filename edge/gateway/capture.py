"""Stage 6: every request — served or refused — becomes one spool record (the record
format of docs/edge-protocol.md, ``kind: "model"``), with what the gateway did in
``attributes``: route, attempts, verdicts, cost and latency. A refused request's record
is the security record behavioural monitoring reads."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from edge.auth import Principal
from edge.gateway.verdicts import Verdict
from edge.otlp import RECORD_VERSION, event_id
from edge.residency import KeptBodies, keep
from edge.storable import storable_json
from edge.tokens import TokenCounts

RESOURCE = {"service.name": "acp-edge-gateway"}
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")


@dataclass
class Attempt:
    provider_id: str
    model: str
    status: str
    """``ok``, ``error`` or ``timeout``."""
    latency_ms: float
    error: str = ""
    http_status: int | None = None
    cost: Decimal = Decimal(0)
    breaker_tripped: bool = False
    """This attempt's failure opened the provider/model's circuit breaker."""
    provider: str = ""
    """Its catalog name, as the records' ``provider`` and the dashboards name it."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "provider_id": self.provider_id,
            "provider": self.provider,
            "model": self.model,
            "status": self.status,
            "latency_ms": round(self.latency_ms, 3),
            "error": self.error,
            "http_status": self.http_status,
            "cost": str(self.cost),
            "breaker_tripped": self.breaker_tripped,
        }


@dataclass
class Exchange:
    """One request through the pipeline, filled in stage by stage."""

    principal: Principal
    operation: str
    requested_model: str
    started_ns: int
    started_monotonic: float
    api: str
    stream: bool = False
    tier: str = ""
    data_classes: tuple[str, ...] = ()
    tools: tuple[str, ...] = ()
    route_id: str = ""
    provider: str = ""
    model: str = ""
    response_model: str = ""
    tokens: TokenCounts = field(default_factory=TokenCounts)
    usage_reported: bool = True
    attempts: list[Attempt] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)
    request_body: str = ""
    response_body: str = ""
    traceparent: str | None = None
    user_agent: str = ""
    http_status: int = 200
    annotations: dict[str, Any] = field(default_factory=dict)
    """Further ``acp.gateway.*`` attributes of optional stages (cache, auto routing)."""

    @property
    def cost(self) -> Decimal:
        return sum((attempt.cost for attempt in self.attempts), Decimal(0))


def trace_context(traceparent: str | None) -> tuple[str, str]:
    """(trace id, parent span id) from a W3C ``traceparent``; a new trace otherwise."""
    match = _TRACEPARENT.fullmatch((traceparent or "").strip().lower())
    if match and match.group(1) != "ff" and int(match.group(2), 16) and int(match.group(3), 16):
        return match.group(2), match.group(3)
    return _nonzero_hex(16), ""


def _nonzero_hex(size: int) -> str:
    while True:
        value = secrets.token_hex(size)
        if int(value, 16):
            return value


def record(
    exchange: Exchange,
    *,
    status: str,
    status_message: str,
    ended_ns: int,
    latency_ms: float,
    received_at: int,
) -> tuple[str, bytes, KeptBodies | None]:
    """``(event_id, record JSON, bodies kept at the edge)`` for the spool, with text no
    store can hold replaced (``edge.storable``); the bodies are kept apart only for a
    residency tenant (``edge.residency``)."""
    principal = exchange.principal
    trace_id, parent_span_id = trace_context(exchange.traceparent)
    span_id = _nonzero_hex(8)
    model = exchange.model or exchange.requested_model
    attributes: dict[str, Any] = {
        "acp.gateway.route": exchange.route_id,
        "acp.gateway.attempts": [attempt.as_dict() for attempt in exchange.attempts],
        "acp.gateway.verdicts": [verdict.as_dict() for verdict in exchange.verdicts],
        "acp.gateway.cost": str(exchange.cost),
        "acp.gateway.latency_ms": round(latency_ms, 3),
        "acp.gateway.api": exchange.api,
        "acp.gateway.requested_model": exchange.requested_model,
        "acp.gateway.tier": exchange.tier,
        "acp.gateway.stream": exchange.stream,
        "acp.gateway.tools": list(exchange.tools),
        "acp.gateway.usage_reported": exchange.usage_reported,
        "http.response.status_code": exchange.http_status,
        **exchange.annotations,
    }
    if exchange.response_model:
        attributes["gen_ai.response.model"] = exchange.response_model
    resource = dict(RESOURCE)
    if exchange.user_agent:
        resource["user_agent.original"] = exchange.user_agent
    event = event_id(principal.tenant_id, trace_id, span_id)
    doc = {
        "v": RECORD_VERSION,
        "event_id": event,
        "tenant_id": principal.tenant_id,
        "agent_id": principal.agent_id,
        "department_id": principal.department_id,
        "device_id": principal.device_id,
        "site_id": principal.site_id,
        "edge_node_id": principal.edge_node_id,
        "trace_id": trace_id,
        "span_id": span_id,
        "parent_span_id": parent_span_id,
        "name": f"{exchange.operation} {model}",
        "kind": "model",
        "start_time_unix_nano": exchange.started_ns,
        "end_time_unix_nano": ended_ns,
        "status": status,
        "status_message": status_message,
        "provider": exchange.provider,
        "model": model,
        "operation": exchange.operation,
        "tool": "",
        "input_tokens": exchange.tokens.input_tokens,
        "output_tokens": exchange.tokens.output_tokens,
        "cached_input_tokens": exchange.tokens.cached_input_tokens,
        "cache_write_tokens": exchange.tokens.cache_write_tokens,
        "reasoning_tokens": exchange.tokens.reasoning_tokens,
        "data_classes": list(exchange.data_classes),
        "request_body": exchange.request_body,
        "response_body": exchange.response_body,
        "attributes": attributes,
        "resource": resource,
        "received_at_unix_nano": received_at,
    }
    kept = keep(doc) if principal.resident else None
    return event, storable_json(doc), kept

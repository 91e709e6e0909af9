"""One interaction of each kind the diagram draws, as spool records through the pull
worker's path into ClickHouse (tests.web.telemetry)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from compliance.dataflow import Flow, Graph
from controlplane.agents.models import Agent
from tests.web.conftest import Fleet
from tests.web.telemetry import ingest, span

GATEWAY_ATTRIBUTES = {
    "acp.gateway.route": "route-1",
    "acp.gateway.api": "openai",
    "acp.gateway.attempts": [],
}


def send_traffic(fleet: Fleet, start: dt.datetime, *, agent: Agent | None = None) -> None:
    """From ``agent`` (the fleet's by default): a run with a model call through the
    gateway (which the agent also reports), a refused gateway call, a model call
    straight to a provider, a tool call to an external CRM and an HTTP call to a
    weather API. 7 span records."""
    trace_id = uuid.uuid4().hex
    who: dict[str, Any] = {}
    if agent is not None:
        who = {"agent_id": str(agent.pk), "department_id": str(agent.department_id or "") or None}

    def at(seconds: float) -> dt.datetime:
        return start + dt.timedelta(seconds=seconds)

    ingest(
        [
            span(fleet, trace_id=trace_id, span_id="a000000000000001", start=at(0), **who),
            span(  # the agent's own span of the call it sent through the gateway
                fleet,
                trace_id=trace_id,
                span_id="a000000000000002",
                parent_span_id="a000000000000001",
                start=at(0.1),
                kind="model",
                name="chat gpt-4o-mini",
                provider="openai",
                model="gpt-4o-mini",
                input_tokens=100,
                output_tokens=20,
                data_classes=["pii"],
                **who,
            ),
            span(  # the gateway's record of that call, a child of the agent's span
                fleet,
                trace_id=trace_id,
                span_id="a000000000000003",
                parent_span_id="a000000000000002",
                start=at(0.2),
                kind="model",
                name="chat gpt-4o-mini",
                provider="openai",
                model="gpt-4o-mini",
                input_tokens=100,
                output_tokens=20,
                data_classes=["pii"],
                attributes=GATEWAY_ATTRIBUTES,
                **who,
            ),
            span(  # refused by the gateway's policy: never reached a provider
                fleet,
                trace_id=trace_id,
                span_id="a000000000000004",
                start=at(1),
                kind="model",
                name="chat acp/complex",
                model="acp/complex",
                status="refused",
                data_classes=["finance"],
                attributes=GATEWAY_ATTRIBUTES,
                **who,
            ),
            span(  # straight to the provider: only the agent reported it
                fleet,
                trace_id=trace_id,
                span_id="a000000000000005",
                start=at(2),
                kind="model",
                name="chat claude-3-5-haiku",
                provider="anthropic",
                model="claude-3-5-haiku",
                input_tokens=50,
                output_tokens=10,
                data_classes=["finance"],
                **who,
            ),
            span(
                fleet,
                trace_id=trace_id,
                span_id="a000000000000006",
                start=at(3),
                kind="tool",
                name="execute_tool crm.search",
                tool="crm.search",
                status="error",
                attributes={"server.address": "CRM.example.com"},
                **who,
            ),
            span(
                fleet,
                trace_id=trace_id,
                span_id="a000000000000007",
                start=at(4),
                name="GET",
                attributes={"url.full": "https://api.weather.example/v1/today?city=x"},
                **who,
            ),
        ]
    )


def find(graph: Graph, source: str, target: str, channel: str) -> Flow:
    """The flow between the nodes labelled ``source`` and ``target``."""
    found = [
        flow
        for flow in graph.flows
        if graph.node(flow.source).label == source
        and graph.node(flow.target).label == target
        and flow.channel == channel
    ]
    assert len(found) == 1, f"{source} -> {target} ({channel}): {found}"
    return found[0]

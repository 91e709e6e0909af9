"""The edge's security fast path (edge/watch.py): the bundle's learned allow-sets and
ceilings checked in-process against each model call and each span, refused or flagged
per agent, and the findings waiting for the control plane."""

from __future__ import annotations

import time
from typing import Any

import httpx
import orjson

from edge.simprovider import RunningSim
from edge.watch import hour_label, hour_of_week
from tests.edge.conftest import (
    AGENT,
    AGENT_HEADERS,
    NODE_HEADERS,
    OTHER_AGENT,
    PROTOBUF,
    make_span,
)
from tests.edge.conftest import protobuf_body as spans_body

from .conftest import (
    ANTHROPIC_HEADERS,
    FINANCE_HEADERS,
    EdgeServer,
    gateway_doc,
    provider,
)
from .test_gateway import CHAT, post

LEARNED = {
    "tool": ["web.search"],
    "collection": ["kb_articles"],
    "classification": ["public"],
    "model": ["openai/gpt-4o-mini"],
    "host": [],
}


def with_tool(tool: str) -> dict[str, Any]:
    return {**CHAT, "tools": [{"type": "function", "function": {"name": tool, "parameters": {}}}]}


def configure(edge: EdgeServer, sim: RunningSim, *, mode: str, **ceilings: int) -> None:
    doc = gateway_doc(2, providers=[provider("sim-a", sim.url)])
    doc["watch"] = {"agents": [{"agent_id": AGENT, "mode": mode, "allow": LEARNED, **ceilings}]}
    response = edge.configure(doc)
    assert response.status_code == 200, response.text


def findings(edge: EdgeServer) -> tuple[list[dict[str, Any]], int]:
    with edge.client() as client:
        response = client.get("/v1/security/findings", headers=NODE_HEADERS)
    assert response.status_code == 200, response.text
    body = response.json()
    return body["findings"], body["cursor"]


def send_spans(edge: EdgeServer, *attributes: dict[str, Any]) -> httpx.Response:
    spans = [make_span(n + 1, attrs) for n, attrs in enumerate(attributes)]
    with edge.client() as client:
        return client.post(
            "/v1/traces", content=spans_body(spans), headers={**PROTOBUF, **AGENT_HEADERS}
        )


def test_refuse_mode_refuses_a_tool_outside_the_learned_scope_in_the_apis_shape(
    edge: EdgeServer, sim: RunningSim
) -> None:
    configure(edge, sim, mode="refuse")
    assert post(edge, with_tool("web.search")).status_code == 200, "a learned tool is served"

    refused = post(edge, with_tool("crm.search"))
    assert refused.status_code == 403
    error = refused.json()["error"]
    assert (error["type"], error["code"]) == ("acp_security", "security.scope")
    assert "crm.search" in error["message"]
    with edge.client() as client:
        anthropic = client.post(
            "/v1/messages",
            content=orjson.dumps({**with_tool("crm.search"), "max_tokens": 10}),
            headers=ANTHROPIC_HEADERS,
        )
    assert anthropic.status_code == 403
    assert anthropic.json()["error"]["type"] == "permission_error"
    assert anthropic.json()["error"]["acp_code"] == "security.scope"
    # Another agent without a learned profile is not checked.
    assert post(edge, with_tool("ledger.query"), **FINANCE_HEADERS).status_code == 200

    found, cursor = findings(edge)
    assert [(f["agent_id"], f["kind"], f["dimension"], f["item"]) for f in found] == [
        (AGENT, "scope", "tool", "crm.search"),
        (AGENT, "scope", "classification", "pii"),  # what crm.search touches (tenant policy)
    ]
    assert {(f["action"], f["count"]) for f in found} == {("refused", 2)}
    assert "learned allow-set" in found[0]["reason"]

    with edge.client() as client:
        acked = client.post(
            "/v1/security/findings/ack", json={"cursor": cursor}, headers=NODE_HEADERS
        )
    assert acked.json() == {"pending": 0}
    assert post(edge, with_tool("crm.search")).status_code == 403, "still refused"
    assert findings(edge)[0] == [], "the same item is not reported again within the hour"


def test_flag_mode_serves_and_reports_the_item(edge: EdgeServer, sim: RunningSim) -> None:
    configure(edge, sim, mode="flag")
    assert post(edge, with_tool("crm.search")).status_code == 200
    assert post(edge, {**CHAT, "model": "gpt-4o"}).status_code == 200
    found, _ = findings(edge)
    assert {(f["dimension"], f["item"], f["action"]) for f in found} == {
        ("tool", "crm.search", "flagged"),
        ("classification", "pii", "flagged"),  # crm.search touches pii (tenant policy)
        ("model", "*/gpt-4o", "flagged"),
    }


def test_spans_are_accepted_and_flagged_and_rows_over_the_ceiling_refuse_model_calls(
    edge: EdgeServer, sim: RunningSim
) -> None:
    configure(edge, sim, mode="refuse", max_rows_per_minute=1000)
    accepted = send_spans(
        edge,
        {"gen_ai.tool.name": "web.search", "db.collection.name": "kb_articles"},
        {
            "gen_ai.tool.name": "db.export",
            "db.collection.name": "customers_all",
            "db.response.returned_rows": 5000,
            "server.address": "transfer.example",
        },
    )
    assert accepted.status_code == 200, "a span is evidence: never refused"
    found, _ = findings(edge)
    scope = {(f["dimension"], f["item"]) for f in found if f["kind"] == "scope"}
    assert scope == {
        ("tool", "db.export"),
        ("collection", "customers_all"),
        ("host", "transfer.example"),
    }
    assert {(f["action"], f["source"]) for f in found if f["kind"] == "scope"} == {
        ("flagged", "span")
    }
    ceiling = [f for f in found if f["kind"] == "ceiling"]
    assert [(c["dimension"], c["observed"], c["limit"], c["action"]) for c in ceiling] == [
        ("returned_rows", 5000, 1000, "refused")  # the agent's model calls, from now on
    ]

    refused = post(edge, CHAT)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "security.ceiling"
    assert refused.headers["retry-after"] == "60"


def test_a_malformed_watch_section_is_refused_naming_the_field(
    edge: EdgeServer, sim: RunningSim
) -> None:
    doc = gateway_doc(2, providers=[provider("sim-a", sim.url)])
    doc["watch"] = {"agents": [{"agent_id": AGENT, "mode": "block", "allow": {}}]}
    response = edge.configure(doc)
    assert response.status_code == 400
    assert "watch.agents[0].mode" in response.text
    doc["watch"] = {"agents": [{"agent_id": OTHER_AGENT, "allow": {"files": ["x"]}}]}
    assert "watch.agents[0].allow.files" in edge.configure(doc).text


def test_a_recent_span_outside_the_working_hours_is_a_temporal_finding(
    edge: EdgeServer, sim: RunningSim
) -> None:
    now = time.time_ns()
    span = make_span(1, {"gen_ai.tool.name": "web.search"})
    span.start_time_unix_nano, span.end_time_unix_nano = now - 10**9, now
    late = make_span(2, {"gen_ai.tool.name": "web.search"})  # started a year ago
    this_hour = hour_of_week(span.start_time_unix_nano)

    doc = gateway_doc(2, providers=[provider("sim-a", sim.url)])
    rule = {"agent_id": AGENT, "mode": "refuse", "allow": LEARNED}
    others = [
        h for h in range(168) if h not in (this_hour, hour_of_week(late.start_time_unix_nano))
    ]
    doc["watch"] = {"agents": [{**rule, "hours": others}]}
    assert edge.configure(doc).status_code == 200
    with edge.client() as client:
        sent = client.post(
            "/v1/traces",
            content=spans_body([span, late]),
            headers={**PROTOBUF, **AGENT_HEADERS},
        )
    assert sent.status_code == 200
    found, cursor = findings(edge)
    assert [(f["kind"], f["dimension"], f["item"], f["action"]) for f in found] == [
        ("temporal", "hour", hour_label(this_hour), "flagged")
    ], "the late span is history: not judged for its time"
    assert "outside the agent's learned and configured hours" in found[0]["reason"]
    assert post(edge, with_tool("web.search")).status_code == 200, "a model call is served"

    with edge.client() as client:
        client.post("/v1/security/findings/ack", json={"cursor": cursor}, headers=NODE_HEADERS)
    doc = gateway_doc(3, providers=[provider("sim-a", sim.url)])
    doc["watch"] = {"agents": [{**rule, "hours": list(range(168))}, {**rule, "hours": None}]}
    doc["watch"]["agents"][1]["agent_id"] = OTHER_AGENT
    assert edge.configure(doc).status_code == 200
    span.span_id = (3).to_bytes(8, "big")
    with edge.client() as client:
        client.post("/v1/traces", content=spans_body([span]), headers={**PROTOBUF, **AGENT_HEADERS})
    assert findings(edge)[0] == [], "within its hours; null hours are not checked"

    doc["watch"] = {"agents": [{**rule, "hours": [168]}]}
    assert "watch.agents[0].hours" in edge.configure(doc).text

"""Capture records: the spool record format with the gateway's attributes."""

from __future__ import annotations

import hashlib
import uuid
from decimal import Decimal

import orjson

from edge.auth import Principal
from edge.gateway.capture import Attempt, Exchange, record, trace_context
from edge.gateway.verdicts import Verdict
from edge.tokens import TokenCounts
from tests.edge.conftest import AGENT, DEPARTMENT, DEVICE, NODE, SITE, TENANT

PRINCIPAL = Principal(TENANT, AGENT, DEPARTMENT, DEVICE, SITE, NODE)


def test_trace_context_from_traceparent() -> None:
    trace, parent = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    assert trace_context(f"00-{trace}-{parent}-01") == (trace, parent)
    for bad in (None, "garbage", f"ff-{trace}-{parent}-01", f"00-{'0' * 32}-{parent}-01"):
        new_trace, new_parent = trace_context(bad)
        assert len(new_trace) == 32 and new_parent == "" and int(new_trace, 16)


def test_a_record_has_every_field_and_the_gateway_attributes() -> None:
    exchange = Exchange(
        principal=PRINCIPAL,
        operation="chat",
        requested_model="acp/simple",
        started_ns=1,
        started_monotonic=0,
        api="openai",
        tier="simple",
        provider="openai",
        model="gpt-4o-mini",
        tokens=TokenCounts(10, 5, cached_input_tokens=4, reasoning_tokens=2),
        route_id="r1",
        data_classes=("pii",),
        request_body="{}",
        response_body="{}",
        attempts=[
            Attempt("a", "gpt-4o-mini", "error", 3.14159, "HTTP 500", 500, provider="openai"),
            Attempt("b", "gpt-4o-mini", "ok", 12.5, cost=Decimal("0.0000045")),
        ],
        verdicts=[Verdict("content_filter", "flag", "filter.pii", "personal data: email")],
    )
    event_id, body, kept = record(
        exchange, status="ok", status_message="", ended_ns=2, latency_ms=20.25, received_at=3
    )
    assert kept is None, "bodies leave the edge unless the tenant keeps them there"
    doc = orjson.loads(body)
    assert (
        doc["event_id"]
        == event_id
        == str(
            uuid.uuid5(
                uuid.UUID("6f1e2c3a-9d1b-4b7e-8f3a-2c5d7e9a1b40"),
                f"{TENANT}/{doc['trace_id']}/{doc['span_id']}",
            )
        )
    )
    assert (doc["kind"], doc["name"], doc["operation"], doc["status"]) == (
        "model",
        "chat gpt-4o-mini",
        "chat",
        "ok",
    )
    assert (doc["provider"], doc["model"], doc["input_tokens"], doc["output_tokens"]) == (
        "openai",
        "gpt-4o-mini",
        10,
        5,
    )
    assert (doc["cached_input_tokens"], doc["cache_write_tokens"], doc["reasoning_tokens"]) == (
        4,
        0,
        2,
    )
    attributes = doc["attributes"]
    assert attributes["acp.gateway.route"] == "r1"
    assert attributes["acp.gateway.cost"] == "0.0000045"
    assert attributes["acp.gateway.latency_ms"] == 20.25
    assert attributes["acp.gateway.attempts"][0] == {
        "provider_id": "a",
        "provider": "openai",
        "model": "gpt-4o-mini",
        "status": "error",
        "latency_ms": 3.142,
        "error": "HTTP 500",
        "http_status": 500,
        "cost": "0",
        "breaker_tripped": False,
    }
    assert attributes["acp.gateway.verdicts"] == [
        {
            "stage": "content_filter",
            "verdict": "flag",
            "code": "filter.pii",
            "reason": "personal data: email",
        }
    ]
    expected_keys = {
        "v",
        "event_id",
        "tenant_id",
        "agent_id",
        "department_id",
        "device_id",
        "site_id",
        "edge_node_id",
        "trace_id",
        "span_id",
        "parent_span_id",
        "name",
        "kind",
        "start_time_unix_nano",
        "end_time_unix_nano",
        "status",
        "status_message",
        "provider",
        "model",
        "operation",
        "tool",
        "input_tokens",
        "output_tokens",
        "cached_input_tokens",
        "cache_write_tokens",
        "reasoning_tokens",
        "data_classes",
        "request_body",
        "response_body",
        "attributes",
        "resource",
        "received_at_unix_nano",
    }
    assert set(doc) == expected_keys


def test_a_residency_tenants_call_keeps_its_bodies_apart_with_their_hashes() -> None:
    resident = Principal(TENANT, AGENT, DEPARTMENT, DEVICE, SITE, NODE, resident=True)
    exchange = Exchange(
        principal=resident,
        operation="chat",
        requested_model="gpt-4o-mini",
        started_ns=1,
        started_monotonic=0,
        api="openai",
        request_body='{"messages": [{"role": "user", "content": "secret plans"}]}',
        response_body='{"choices": []}',
    )
    event_id, body, kept = record(
        exchange, status="ok", status_message="", ended_ns=2, latency_ms=1.0, received_at=3
    )
    doc = orjson.loads(body)
    assert "secret plans" not in body.decode()
    assert doc["request_body"] == doc["response_body"] == ""
    assert kept is not None and kept.event_id == event_id
    assert kept.request_body == exchange.request_body
    assert doc["attributes"]["acp.edge.bodies"] == "edge"
    assert doc["attributes"]["acp.edge.response_body_sha256"] == (
        hashlib.sha256(b'{"choices": []}').hexdigest()
    )

"""The policy stage: who may use which model and tools, touch which data, and when."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from edge.auth import Principal
from edge.gateway import policy
from edge.gateway.catalog import parse_gateway
from edge.gateway.request import GatewayRequest, parse_request
from edge.gateway.verdicts import Refusal
from tests.edge.conftest import AGENT, DEPARTMENT, DEVICE, NODE, OTHER_AGENT, SITE, TENANT

from .conftest import agent_profile, gateway_doc, provider

MARKETING = Principal(TENANT, AGENT, DEPARTMENT, DEVICE, SITE, NODE)
FINANCE = Principal(TENANT, OTHER_AGENT, None, DEVICE, SITE, NODE)
NOON_WEDNESDAY = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def gateway(**agent: Any) -> Any:
    doc = gateway_doc(
        providers=[provider("sim-a", "http://127.0.0.1:1")],
        agents=[agent_profile(**agent), agent_profile(OTHER_AGENT)],
    )
    return parse_gateway(doc)


def chat(headers: dict[str, str] | None = None, **body: Any) -> GatewayRequest:
    doc = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], **body}
    return parse_request("openai", "chat", orjson.dumps(doc), headers or {})


def refusal(call: Any) -> Refusal:
    with pytest.raises(Refusal) as raised:
        call()
    assert raised.value.status == 403 and raised.value.kind == "acp_policy"
    return raised.value


def test_an_allowed_request_passes_with_its_tier_and_data_classes() -> None:
    decision = policy.evaluate(
        gateway(), MARKETING, chat({"x-acp-tools": "crm.search"}), NOON_WEDNESDAY
    )
    assert decision.tier == "standard"
    assert decision.data_classes == ("pii",), "implied by crm.search"
    tiered = policy.evaluate(gateway(), MARKETING, chat({"x-acp-tier": "complex"}), NOON_WEDNESDAY)
    assert tiered.tier == "complex"
    alias = policy.evaluate(gateway(), MARKETING, chat(model="acp/simple"), NOON_WEDNESDAY)
    assert alias.tier == "simple"


def test_a_marketing_agent_cannot_touch_financial_data() -> None:
    via_tool = chat(tools=[{"type": "function", "function": {"name": "ledger.query"}}])
    refused = refusal(lambda: policy.evaluate(gateway(), MARKETING, via_tool, NOON_WEDNESDAY))
    assert refused.code == "policy.data_class_not_allowed"
    assert (
        refused.reason
        == "marketing agent may not access finance data (implied by tool ledger.query)"
    )

    declared = chat({"x-acp-data-classes": "public, finance"})
    refused = refusal(lambda: policy.evaluate(gateway(), MARKETING, declared, NOON_WEDNESDAY))
    assert refused.reason == "marketing agent may not access finance data"

    decision = policy.evaluate(gateway(), FINANCE, via_tool, NOON_WEDNESDAY)
    assert decision.data_classes == ("finance",)


def test_models_outside_the_agents_list_are_refused() -> None:
    limited = gateway(allowed_models=["gpt-4o-mini"])
    policy.evaluate(limited, MARKETING, chat(), NOON_WEDNESDAY)
    refused = refusal(
        lambda: policy.evaluate(limited, MARKETING, chat(model="gpt-4o"), NOON_WEDNESDAY)
    )
    assert refused.code == "policy.model_not_allowed"


def test_tools_outside_the_agents_list_are_refused() -> None:
    request = chat({"x-acp-tools": "shell.exec"})
    refused = refusal(lambda: policy.evaluate(gateway(), MARKETING, request, NOON_WEDNESDAY))
    assert (refused.code, refused.reason) == (
        "policy.tool_not_allowed",
        "tool shell.exec is not allowed",
    )
    anthropic = parse_request(
        "anthropic",
        "chat",
        orjson.dumps(
            {
                "model": "m",
                "max_tokens": 5,
                "messages": [],
                "tools": [{"name": "shell.exec", "input_schema": {}}],
            }
        ),
        {},
    )
    refusal(lambda: policy.evaluate(gateway(), MARKETING, anthropic, NOON_WEDNESDAY))
    unrestricted = gateway(allowed_tools=[])
    policy.evaluate(unrestricted, MARKETING, request, NOON_WEDNESDAY)


def test_requests_outside_the_operating_window_are_refused() -> None:
    office = gateway(
        operating_window={
            "days": [0, 1, 2, 3, 4],
            "start": "08:00",
            "end": "18:00",
            "tz": "Europe/Berlin",
        }
    )
    policy.evaluate(office, MARKETING, chat(), NOON_WEDNESDAY)
    saturday = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    refused = refusal(lambda: policy.evaluate(office, MARKETING, chat(), saturday))
    assert refused.code == "policy.outside_window"
    assert "Sat 13:00 Europe/Berlin" in refused.reason


def test_an_agent_without_a_profile_is_refused() -> None:
    stranger = Principal(TENANT, "a9c0f6f2-2222-4f7e-8d3c-1b2a3c4d0099", None, DEVICE, SITE, NODE)
    refused = refusal(lambda: policy.evaluate(gateway(), stranger, chat(), NOON_WEDNESDAY))
    assert refused.code == "policy.unknown_agent"


@pytest.mark.parametrize(
    ("body", "headers", "reason"),
    [
        (b"{", {}, "not valid JSON"),
        (b"[]", {}, "JSON object"),
        (b'{"messages": []}', {}, "model is required"),
        (b'{"model": "acp/huge", "messages": []}', {}, "not a tier"),
        (b'{"model": "m", "messages": "hi"}', {}, "messages"),
        (b'{"model": "m", "messages": [], "max_tokens": -1}', {}, "max_tokens"),
        (b'{"model": "m", "messages": [], "stream": "yes"}', {}, "stream"),
        (b'{"model": "m", "messages": []}', {"x-acp-tier": "gold"}, "x-acp-tier"),
        (b'{"model": "m", "messages": [], "tools": [{"type": "function"}]}', {}, "tool"),
    ],
)
def test_malformed_requests_are_refused(body: bytes, headers: dict[str, str], reason: str) -> None:
    with pytest.raises(Refusal, match=reason) as raised:
        parse_request("openai", "chat", body, headers)
    assert (raised.value.status, raised.value.code) == (400, "request.malformed")

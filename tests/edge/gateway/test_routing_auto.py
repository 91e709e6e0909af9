"""The ``auto`` tier: a labelled set of 200 requests written for this project (simple vs
complex) is tiered as labelled, a request's tier comes with its features and score on
the record, candidates are ordered by expected cost, and what auto routing saved
against the complex tier is recorded."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from edge.gateway.catalog import NO_POLICY, Price, PriceTable, Provider
from edge.gateway.request import parse_request
from edge.gateway.route import Target
from edge.gateway.routing_auto import Latencies, by_cost, choose
from edge.simprovider import RunningSim

from .conftest import OPENAI_HEADERS, PRICES, EdgeServer, gateway_doc, provider, route

LABELLED = Path(__file__).parent / "data" / "auto_routing_labelled.jsonl"
TOOLS = ["crm.search", "ledger.query", "web.search"]
NOW = datetime(2026, 12, 1, tzinfo=UTC)


def labelled() -> list[tuple[str, dict[str, Any]]]:
    rows = []
    for line in LABELLED.read_text().splitlines():
        item = json.loads(line)
        body: dict[str, Any] = {"model": "acp/auto", "messages": item["messages"]}
        if "max_tokens" in item:
            body["max_tokens"] = item["max_tokens"]
        if item.get("tools"):
            body["tools"] = [
                {"type": "function", "function": {"name": name, "parameters": {}}}
                for name in TOOLS[: item["tools"]]
            ]
        rows.append((item["label"], body))
    return rows


def tier_of(body: dict[str, Any], **thresholds: float) -> str:
    request = parse_request("openai", "chat", orjson.dumps(body), {})
    return choose(request, replace(NO_POLICY, **thresholds)).tier


def test_the_labelled_set_is_tiered_as_labelled() -> None:
    rows = labelled()
    assert len(rows) >= 200
    assert {label for label, _ in rows} == {"simple", "complex"}
    # Two tiers (the tenant sets both thresholds equal): the label must be the tier.
    agree = sum(
        tier_of(body, auto_simple_max=0.3, auto_complex_min=0.3) == label for label, body in rows
    )
    assert agree / len(rows) >= 0.9, agree
    # Three tiers (the defaults): simple stays simple, complex never goes to simple.
    defaults = [(label, tier_of(body)) for label, body in rows]
    simple_ok = sum(tier == "simple" for label, tier in defaults if label == "simple")
    complex_ok = sum(tier != "simple" for label, tier in defaults if label == "complex")
    assert (simple_ok + complex_ok) / len(rows) >= 0.9


def test_thresholds_are_the_tenants() -> None:
    body = {"model": "acp/auto", "messages": [{"role": "user", "content": "What is 9 times 7?"}]}
    assert tier_of(body) == "simple"
    assert tier_of(body, auto_simple_max=0.0, auto_complex_min=0.0) == "complex"
    assert tier_of(body, auto_simple_max=0.0, auto_complex_min=1.0) == "standard"


def target(provider_id: str, model: str) -> Target:
    return Target(
        Provider(provider_id, None, "openai", "http://x", frozenset(), name=provider_id), model
    )


def test_candidates_are_ordered_by_expected_cost_then_health_then_latency() -> None:
    def price(name: str, model: str, per_million: str) -> Price:
        return Price(name, model, Decimal(per_million), Decimal(per_million), NOW)

    prices = PriceTable(
        [price("a", "big", "10"), price("b", "small", "1"), price("c", "small", "1")]
    )
    big, small_b, small_c, unpriced = (
        target("a", "big"),
        target("b", "small"),
        target("c", "small"),
        target("d", "free?"),
    )
    latencies = Latencies()
    latencies.observe(small_b.key, 80)
    latencies.observe(small_c.key, 20)
    order = by_cost(
        [unpriced, big, small_b, small_c], prices, NOW, (100, 100), lambda t: False, latencies
    )
    assert order == [small_c, small_b, big, unpriced], "cheapest, then the faster"
    sick = by_cost([small_b, small_c], prices, NOW, (100, 100), lambda t: t == small_c, latencies)
    assert sick == [small_b, small_c], "an open circuit goes after a healthy equal"


@pytest.fixture
def auto_edge(edges: Any, sim: RunningSim) -> EdgeServer:
    """simple → gpt-4o-mini; complex → claude (the frontier, 7x the price)."""
    server = edges()
    doc = gateway_doc(
        providers=[
            provider("sim-a", sim.url),
            provider("sim-anthropic", sim.url, kind="anthropic"),
        ],
        routes=[
            route(
                "cheap",
                [{"provider_id": "sim-a", "model": "gpt-4o-mini", "weight": 1}],
                tier="simple",
            ),
            route(
                "frontier",
                [{"provider_id": "sim-anthropic", "model": "claude-haiku-4-5", "weight": 1}],
                tier="complex",
            ),
            route(
                "middle",
                [{"provider_id": "sim-a", "model": "gpt-4o-mini", "weight": 1}],
                tier="standard",
            ),
        ],
        prices=PRICES,
    )
    assert server.configure(doc).status_code == 200
    return server


def send(
    edge: EdgeServer, content: str, headers: dict[str, str] | None = None, model: str = "acp/auto"
) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": content}]}
    with edge.client() as client:
        return client.post(
            "/v1/chat/completions", json=body, headers={**OPENAI_HEADERS, **(headers or {})}
        )


def test_auto_routes_by_complexity_and_records_why_and_the_saving(auto_edge: EdgeServer) -> None:
    rows = labelled()
    simple = next(body for label, body in rows if label == "simple")["messages"][-1]["content"]
    hard = next(body for label, body in rows if label == "complex" and len(body["messages"]) == 1)
    assert send(auto_edge, simple).status_code == 200
    response = send(
        auto_edge, hard["messages"][-1]["content"], {"x-acp-tier": "auto"}, "gpt-4o-mini"
    )
    assert response.status_code == 200, response.text

    records = auto_edge.wait_records(2)
    cheap, frontier = sorted(records, key=lambda r: r["start_time_unix_nano"])
    assert (cheap["attributes"]["acp.gateway.route"], cheap["model"]) == ("cheap", "gpt-4o-mini")
    assert cheap["attributes"]["acp.gateway.tier"] == "simple"
    assert cheap["attributes"]["acp.gateway.auto.tier"] == "simple"
    assert set(cheap["attributes"]["acp.gateway.auto.features"]) == {
        "chars",
        "messages",
        "tools",
        "code",
        "reasoning_cues",
        "max_output_tokens",
    }
    assert cheap["attributes"]["acp.gateway.auto.score"] < 0.3
    baseline = Decimal(cheap["attributes"]["acp.gateway.auto.frontier_cost"])
    paid = Decimal(cheap["attributes"]["acp.gateway.cost"])
    assert baseline > paid > 0
    assert Decimal(cheap["attributes"]["acp.gateway.auto.saved"]) == baseline - paid

    assert (frontier["attributes"]["acp.gateway.route"], frontier["model"]) == (
        "frontier",
        "claude-haiku-4-5",
    )
    assert frontier["attributes"]["acp.gateway.auto.score"] >= 0.5
    assert Decimal(frontier["attributes"]["acp.gateway.auto.saved"]) == 0


def test_an_unknown_tier_is_still_refused(auto_edge: EdgeServer) -> None:
    response = send(auto_edge, "hello", model="acp/cheapest")
    assert response.status_code == 400
    assert "acp/auto" in response.json()["error"]["message"]

"""The control plane configures a real edge process through the pull worker (signed
bundle), and the edge enforces it against a simulated provider: the whitepaper's
marketing agent is refused a finance tool, a permitted call is served, priced and
comes back into the ledger."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from billing.services import model_price_create
from controlplane.agents.models import EdgeNode
from controlplane.agents.services import sha256_hex
from controlplane.core.tenancy import tenant_context
from controlplane.gateway.services import (
    credential_rotate,
    provider_update,
    role_default_set,
    route_create,
)
from controlplane.gateway.signing import bundle_public_keys
from controlplane.telemetry.models import UsageEvent
from controlplane.telemetry.pull import pull_edge_node
from controlplane.telemetry.spans import trace_spans
from edge.simprovider import RunningSim, SimProvider, serve_in_thread
from tenants.models import Tenant
from tests.conftest import SYSTEM
from tests.edge.conftest import EdgeProcess
from tests.gateway.conftest import World, make_world

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

SIM_KEY = "sim-provider-key-for-tests-0042"


@pytest.fixture
def sim() -> Iterator[RunningSim]:
    running = serve_in_thread(SimProvider(seed=1, api_key=SIM_KEY))
    yield running
    running.stop()


@pytest.fixture
def live(
    tenant_a: Tenant, tenant_b: Tenant, sim: RunningSim, tmp_path: Path
) -> Iterator[tuple[World, EdgeProcess]]:
    world = make_world(tenant_a, tenant_b, nodes=1)
    provider_update(actor=SYSTEM, provider=world.msp_provider, base_url=f"{sim.url}/v1")
    credential_rotate(actor=SYSTEM, provider=world.msp_provider, secret=SIM_KEY)
    # Any time of day: the role default's office hours are not what this test is about.
    role_default_set(actor=SYSTEM, tenant=world.tenant, role="marketing", operating_window={})
    for provider in ("msp-openai", "openai"):  # the endpoint's own price and the vendor's
        model_price_create(
            actor=SYSTEM,
            provider=provider,
            model="gpt-4o-mini",
            input_per_million=Decimal("0.15"),
            output_per_million=Decimal("0.60"),
            effective_from=dt.datetime(2026, 1, 2, tzinfo=dt.UTC),
        )
    node = world.nodes[0]
    token = world.tokens[str(node.pk)]
    edge = EdgeProcess(
        tmp_path / "edge",
        EDGE_NODE_TOKEN_SHA256=sha256_hex(token),
        EDGE_NODE_TOKEN=token,
        EDGE_BUNDLE_PUBLIC_KEYS=bundle_public_keys(),
    )
    with tenant_context(world.tenant):
        EdgeNode.objects.filter(pk=node.pk).update(pull_url=edge.url, agent_url=edge.url)
    edge.start()
    try:
        yield world, edge
    finally:
        edge.stop()


def _chat(
    edge: EdgeProcess,
    world: World,
    content: str = "Draft a product announcement.",
    max_tokens: int = 50,
    **headers: str,
) -> httpx.Response:
    body: dict[str, Any] = {
        "model": "gpt-4o-mini",
        "max_tokens": max_tokens,
        "messages": [{"role": "user", "content": content}],
    }
    return httpx.post(
        f"{edge.url}/v1/chat/completions",
        json=body,
        headers={
            "Authorization": f"Bearer {world.agent_keys[0]}",
            "x-acp-device-id": str(world.marketing.device_id),
            "x-acp-device-key": world.device_keys[0],
            **headers,
        },
        timeout=30,
    )


def test_the_edge_enforces_what_the_control_plane_configured(
    live: tuple[World, EdgeProcess],
) -> None:
    world, edge = live
    result = pull_edge_node(world.nodes[0].pk, worker="test")
    assert result is not None and result.error == "", result
    with edge.client() as client:
        beat = client.get(
            "/v1/heartbeat",
            headers={"Authorization": f"Bearer {world.tokens[str(world.nodes[0].pk)]}"},
        ).json()
    assert beat["config_version"] == world.refresh_site().config_version

    # The whitepaper's example: a finance tool, or data classified as finance.
    for headers, reason in (
        ({"x-acp-tools": "ledger.query"}, "ledger.query"),
        ({"x-acp-data-classes": "finance"}, "finance"),
    ):
        refused = _chat(edge, world, **headers)
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"]["type"] == "acp_policy"
        assert reason in refused.json()["error"]["message"]

    served = _chat(edge, world)
    assert served.status_code == 200, served.text
    usage = served.json()["usage"]

    deadline = time.monotonic() + 20
    while True:
        pull_edge_node(world.nodes[0].pk, worker="test")
        with tenant_context(world.tenant):
            events = list(UsageEvent.objects.filter(agent_id=world.marketing.pk, kind="model"))
        if len(events) >= 3 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    statuses = sorted(e.status for e in events)
    assert statuses == ["ok", "refused", "refused"]
    ok = next(e for e in events if e.status == "ok")
    assert ok.input_tokens == usage["prompt_tokens"]
    assert ok.output_tokens == usage["completion_tokens"]
    assert ok.cost > 0
    assert ok.provider in {"msp-openai", "openai"}  # by name; an older edge: by kind


def test_official_sdks_through_the_gateway_land_in_both_stores_priced(
    live: tuple[World, EdgeProcess],
) -> None:
    import anthropic
    import openai

    world, edge = live
    assert pull_edge_node(world.nodes[0].pk, worker="test").error == ""  # config
    device = {
        "x-acp-device-id": str(world.marketing.device_id),
        "x-acp-device-key": world.device_keys[0],
    }
    key = world.agent_keys[0]
    oa = openai.OpenAI(base_url=f"{edge.url}/v1", api_key=key, default_headers=device)
    an = anthropic.Anthropic(base_url=edge.url, api_key=key, default_headers=device)
    question = [{"role": "user", "content": "Summarise the launch plan."}]
    usages: list[tuple[int, int]] = []

    reply = oa.chat.completions.create(model="gpt-4o-mini", messages=question, max_tokens=40)
    assert reply.choices[0].message.content and reply.usage is not None
    usages.append((reply.usage.prompt_tokens, reply.usage.completion_tokens))
    stream = oa.chat.completions.create(
        model="gpt-4o-mini",
        messages=question,
        max_tokens=40,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    final = chunks[-1].usage
    assert final is not None
    usages.append((final.prompt_tokens, final.completion_tokens))
    message = an.messages.create(model="gpt-4o-mini", max_tokens=40, messages=question)
    usages.append((message.usage.input_tokens, message.usage.output_tokens))
    with an.messages.stream(model="gpt-4o-mini", max_tokens=40, messages=question) as events:
        streamed = events.get_final_message()
    usages.append((streamed.usage.input_tokens, streamed.usage.output_tokens))

    deadline = time.monotonic() + 20
    while True:
        pull_edge_node(world.nodes[0].pk, worker="test")
        with tenant_context(world.tenant):
            events = list(UsageEvent.objects.filter(agent_id=world.marketing.pk, status="ok"))
        if len(events) >= 4 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert sorted((e.input_tokens, e.output_tokens) for e in events) == sorted(usages)
    for event in events:
        expected = (
            Decimal("0.15") * event.input_tokens + Decimal("0.60") * event.output_tokens
        ) / Decimal(1_000_000)
        assert event.cost == expected.quantize(Decimal("0.000000001"))
    spans = {
        row["event_id"]: row
        for trace in {e.trace_id for e in events}
        for row in trace_spans(world.tenant.pk, trace)
    }
    for event in events:
        row = spans[str(event.event_id)] if str(event.event_id) in spans else spans[event.event_id]
        assert (row["input_tokens"], row["output_tokens"]) == (
            event.input_tokens,
            event.output_tokens,
        )
        assert Decimal(str(row["cost"])) == event.cost


HARD = (
    "Design a multi-region rate limiter for our API gateway. Compare token bucket and "
    "sliding window, derive the worst-case burst for each, discuss the trade-offs between "
    "consistency and latency, and explain the root cause of the double counting we saw "
    "when a region lost its connection to Redis."
)


def test_a_role_default_of_auto_is_scored_per_request_by_the_edge(
    live: tuple[World, EdgeProcess],
) -> None:
    """The control plane sets the marketing role's tier to auto; the real edge gets it in
    the bundle and sends a short request to the simple tier and a hard one to the
    complex tier, with the score and features on the record that comes back."""
    world, edge = live
    role_default_set(
        actor=SYSTEM, tenant=world.tenant, role="marketing", tier="auto", operating_window={}
    )
    route_create(
        actor=SYSTEM,
        tenant=world.tenant,
        name="complex",
        tier="complex",
        candidates=[{"provider_id": str(world.msp_provider.pk), "model": "gpt-4o-mini"}],
    )
    assert pull_edge_node(world.nodes[0].pk, worker="test").error == ""

    easy = _chat(edge, world, "Say hello.")
    hard = _chat(edge, world, HARD, max_tokens=2000)
    assert easy.status_code == 200 and hard.status_code == 200, (easy.text, hard.text)

    deadline = time.monotonic() + 20
    while True:
        pull_edge_node(world.nodes[0].pk, worker="test")
        with tenant_context(world.tenant):
            events = list(UsageEvent.objects.filter(agent_id=world.marketing.pk, status="ok"))
        if len(events) >= 2 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert len(events) == 2
    recorded = {}
    for event in events:
        [row] = [
            r
            for r in trace_spans(world.tenant.pk, event.trace_id)
            if str(r["event_id"]) == str(event.event_id)
        ]
        attributes = json.loads(row["attributes"])
        recorded[attributes["acp.gateway.auto.tier"]] = attributes
    assert set(recorded) == {"simple", "complex"}
    assert recorded["simple"]["acp.gateway.tier"] == "simple"
    assert recorded["complex"]["acp.gateway.tier"] == "complex"
    assert recorded["complex"]["acp.gateway.route"] != recorded["simple"]["acp.gateway.route"]
    assert (
        recorded["complex"]["acp.gateway.auto.score"] > recorded["simple"]["acp.gateway.auto.score"]
    )

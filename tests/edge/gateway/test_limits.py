"""Limits at the edge: failed authentication throttled per address and per agent-key
prefix (OTLP and gateway alike), and the per-agent request-rate ceiling the bundle
carries (429 in the agent's API shape with Retry-After, captured)."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from google.rpc.status_pb2 import Status as RpcStatus

from edge.auth import AuthError
from edge.auth_throttle import AuthThrottle
from edge.gateway.ratelimit import AgentRates
from edge.gateway.verdicts import Refusal
from edge.simprovider import RunningSim
from tests.edge.conftest import AGENT, AGENT_KEY, OTHER_AGENT, PROTOBUF, make_span, protobuf_body

from .conftest import (
    AGENT_GATEWAY_HEADERS,
    ANTHROPIC_HEADERS,
    FINANCE_HEADERS,
    OPENAI_HEADERS,
    EdgeServer,
    agent_profile,
    provider,
)
from .test_gateway import CHAT, configure, post


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_token_bucket_allows_a_minutes_burst_then_refills() -> None:
    clock = Clock()
    rates = AgentRates(clock)
    for _ in range(3):
        rates.admit("a", 3)
    with pytest.raises(Refusal) as refused:
        rates.admit("a", 3)
    assert (refused.value.status, refused.value.code) == (429, "rate.agent_ceiling")
    assert refused.value.retry_after == 20  # one request every 60/3 s
    rates.admit("b", 3)  # per agent
    rates.admit("a", None)  # no ceiling: always admitted
    clock.now += 20
    rates.admit("a", 3)


def test_locks_last_the_lockout_and_count_per_address_and_key() -> None:
    clock = Clock()
    throttle = AuthThrottle(per_address=3, per_key=2, lockout_seconds=60, clock=clock)

    def fail() -> None:
        raise AssertionError("a locked request is not checked")

    def wrong() -> None:
        raise AuthError(401, "unknown key")

    for _ in range(2):
        with pytest.raises(AuthError):
            throttle.authenticate("10.0.0.1", "Bearer acpk_k1_guess", wrong)  # type: ignore[arg-type]
    with pytest.raises(AuthError) as locked:
        throttle.authenticate("10.0.0.2", "Bearer acpk_k1_right", fail)  # type: ignore[arg-type]
    assert (locked.value.status, locked.value.retry_after) == (429, 60)
    clock.now += 61
    assert throttle.by_key.locked_for("k1") == 0


@pytest.fixture
def limited_edge(edges: Callable[..., EdgeServer], sim: RunningSim) -> EdgeServer:
    edge = edges(auth_max_failures_per_address=100, auth_max_failures_per_key=3)
    configure(
        edge,
        providers=[
            provider("sim-a", sim.url),
            provider("sim-anthropic", sim.url, kind="anthropic"),
        ],
        agents=[agent_profile(max_requests_per_minute=2), agent_profile(OTHER_AGENT)],
    )
    return edge


def test_an_agent_over_its_ceiling_gets_429_and_a_record(limited_edge: EdgeServer) -> None:
    edge = limited_edge
    assert [post(edge, CHAT).status_code for _ in range(2)] == [200, 200]
    refused = post(edge, CHAT)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate.agent_ceiling"
    assert 1 <= int(refused.headers["retry-after"]) <= 30  # one request every 30 s
    with edge.client() as client:
        anthropic = client.post("/v1/messages", json=CHAT, headers=ANTHROPIC_HEADERS)
    assert anthropic.status_code == 429
    assert anthropic.json()["error"]["type"] == "rate_limit_error"
    # Another agent has no ceiling.
    assert post(edge, CHAT, **FINANCE_HEADERS).status_code == 200
    records = edge.wait_records(5)
    refusals = [r for r in records if r["status"] == "refused"]
    assert len(refusals) == 2 and {r["agent_id"] for r in refusals} == {AGENT}
    verdicts = refusals[0]["attributes"]["acp.gateway.verdicts"]
    assert [v["code"] for v in verdicts] == ["rate.agent_ceiling"]


def test_failed_authentication_locks_the_key_prefix_on_both_endpoints(
    limited_edge: EdgeServer,
) -> None:
    edge = limited_edge
    prefix = AGENT_KEY.split("_")[1]
    with edge.client() as client:
        for n in range(3):
            guess = {**AGENT_GATEWAY_HEADERS, "Authorization": f"Bearer acpk_{prefix}_guess{n}"}
            answer = client.post("/v1/chat/completions", json=CHAT, headers=guess)
            assert answer.status_code == 401
        # Now even the right key waits, on the gateway and on OTLP.
        locked = client.post("/v1/chat/completions", json=CHAT, headers=OPENAI_HEADERS)
        assert locked.status_code == 429
        assert locked.json()["error"]["code"] == "auth.throttled"
        assert 1 <= int(locked.headers["retry-after"]) <= 300
        traces = client.post(
            "/v1/traces",
            content=protobuf_body([make_span(1)]),
            headers={**OPENAI_HEADERS, **PROTOBUF},
        )
        assert traces.status_code == 429 and int(traces.headers["retry-after"]) >= 1
        assert RpcStatus.FromString(traces.content).code == 8
        # Another agent's key is not locked.
        assert (
            client.post("/v1/chat/completions", json=CHAT, headers=FINANCE_HEADERS).status_code
            == 200
        )
    # Failed authentication is never captured; the locked requests neither.
    assert [r["agent_id"] for r in edge.records()] == [OTHER_AGENT]


def test_failed_authentication_locks_the_address(
    edges: Callable[..., EdgeServer], sim: RunningSim
) -> None:
    edge = edges(auth_max_failures_per_address=3, auth_max_failures_per_key=100)
    configure(edge, providers=[provider("sim-a", sim.url)])
    with httpx.Client(base_url=edge.url) as client:
        for n in range(3):
            headers = {**AGENT_GATEWAY_HEADERS, "Authorization": f"Bearer acpk_x{n}_guess"}
            assert (
                client.post("/v1/chat/completions", json=CHAT, headers=headers).status_code == 401
            )
        assert (
            client.post("/v1/chat/completions", json=CHAT, headers=FINANCE_HEADERS).status_code
            == 429
        )

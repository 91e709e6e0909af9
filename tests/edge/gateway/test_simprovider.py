"""The simulated provider: deterministic answers and usage, caps, injected failures."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import httpx
import orjson
import pytest
from starlette.testclient import TestClient

from edge.simprovider import SimProvider, count_tokens, create_app, reply_text
from tests.edge.conftest import REPO

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Twelve chars"}]}


@pytest.fixture
def sim() -> Iterator[TestClient]:
    with TestClient(create_app(SimProvider(seed=1))) as client:
        yield client


def test_chat_is_deterministic_and_counts_four_characters_a_token(sim: TestClient) -> None:
    first = sim.post("/v1/chat/completions", json=CHAT).json()
    second = sim.post("/v1/chat/completions", json=CHAT).json()
    text = first["choices"][0]["message"]["content"]
    assert text == second["choices"][0]["message"]["content"]
    assert first["usage"] == {
        "prompt_tokens": 3,
        "completion_tokens": count_tokens(text),
        "total_tokens": 3 + count_tokens(text),
    }


def test_max_tokens_is_honoured(sim: TestClient) -> None:
    answer = sim.post("/v1/chat/completions", json={**CHAT, "max_tokens": 5}).json()
    assert answer["usage"]["completion_tokens"] == 5
    assert answer["choices"][0]["finish_reason"] == "length"
    message = sim.post(
        "/v1/messages",
        json={"model": "claude", "max_tokens": 3, "messages": CHAT["messages"]},
    ).json()
    assert (message["usage"]["output_tokens"], message["stop_reason"]) == (3, "max_tokens")
    assert reply_text("x", 0) == ("", True)


def test_streams_carry_usage_when_asked(sim: TestClient) -> None:
    body = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
    lines = sim.post("/v1/chat/completions", json=body).text.split("\n\n")
    chunks = [orjson.loads(line[6:]) for line in lines if line.startswith("data: {")]
    assert lines[-2] == "data: [DONE]"
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert chunks[-1]["usage"]["completion_tokens"] == count_tokens(text)
    quiet = sim.post("/v1/chat/completions", json={**CHAT, "stream": True}).text
    assert '"usage"' not in quiet
    events = sim.post(
        "/v1/messages",
        json={"model": "c", "max_tokens": 50, "stream": True, "messages": CHAT["messages"]},
    ).text
    assert events.count("event: message_delta") == 1 and "event: message_stop" in events


def test_embeddings_and_models(sim: TestClient) -> None:
    result = sim.post("/v1/embeddings", json={"model": "e", "input": ["abcd", "abcdefgh"]}).json()
    assert [len(d["embedding"]) for d in result["data"]] == [8, 8]
    assert result["usage"]["prompt_tokens"] == 3
    assert "gpt-4o-mini" in [m["id"] for m in sim.get("/v1/models").json()["data"]]


def test_failures_are_injected_at_their_rates() -> None:
    failing = SimProvider(error_rate=0.3, rate_limit_rate=0.2, seed=4)
    with TestClient(create_app(failing)) as client:
        statuses = [client.post("/v1/chat/completions", json=CHAT).status_code for _ in range(1000)]
        empty = client.post("/v1/messages", json={"max_tokens": 1, "messages": []})
    assert 0.25 < statuses.count(500) / 1000 < 0.35
    assert 0.15 < statuses.count(429) / 1000 < 0.25
    stats = failing.stats
    assert (stats["errors"], stats["rate_limited"], stats["chat"]) == (
        statuses.count(500),
        statuses.count(429),
        statuses.count(200),
    )
    assert empty.status_code in (400, 429, 500)
    keyed = SimProvider(api_key="k")
    with TestClient(create_app(keyed)) as client:
        assert client.post("/v1/chat/completions", json=CHAT).status_code == 401
        assert client.post("/v1/messages", json=CHAT, headers={"x-api-key": "k"}).status_code == 200


def test_a_429_says_when_to_retry() -> None:
    with TestClient(create_app(SimProvider(rate_limit_rate=1.0))) as client:
        response = client.post("/v1/chat/completions", json=CHAT)
    assert response.status_code == 429 and response.headers["retry-after"] == "1"
    assert response.json()["error"]["type"] == "rate_limit_error"


def test_the_command_line() -> None:
    from .conftest import SimProcess

    process = SimProcess("--latency-ms", "0", "--seed", "2")
    try:
        answer = httpx.post(f"{process.url}/v1/chat/completions", json=CHAT, timeout=5)
        assert answer.status_code == 200
        assert process.stats()["chat"] == 1
    finally:
        process.stop()
    result = subprocess.run(
        [sys.executable, "-m", "edge.simprovider", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "--rate-limit-rate" in result.stdout

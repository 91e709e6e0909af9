"""The edge's agent-facing endpoints under generated input, as schemathesis drives the
REST API: every field the OpenAI and Anthropic APIs define (and OTLP/JSON's shape),
with valid and arbitrary values, arbitrary headers and arbitrary bytes. No request may
get a server error (only the route answers docs/gateway.md lists as 5xx); every refusal
is in the shape the caller's SDK reads; every authenticated request leaves exactly one
capture record; and every request goes over one keep-alive connection, which a crash
would have reset. Bounded so that it runs in seconds."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from edge.simprovider import RunningSim
from tests.edge.conftest import AGENT_KEY, DEVICE, DEVICE_KEY

from .conftest import ANTHROPIC_HEADERS, OPENAI_HEADERS, EdgeServer

EXAMPLES = 120

# Arbitrary JSON, integers beyond 64 bits and floats at the edges of the range included.
leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
anything = st.recursive(
    leaves,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)


def rarely(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly a value the API accepts, now and then anything at all."""
    return st.one_of(valid, valid, valid, valid, anything)


text_part = st.fixed_dictionaries({"type": st.just("text"), "text": st.text(max_size=20)})
content = rarely(st.text(max_size=40) | st.lists(rarely(text_part), max_size=2))
openai_message = rarely(
    st.fixed_dictionaries(
        {
            "role": rarely(st.sampled_from(["system", "developer", "user", "assistant"])),
            "content": content,
        },
        optional={"name": rarely(st.text(max_size=5)), "tool_call_id": anything},
    )
)
anthropic_message = rarely(
    st.fixed_dictionaries(
        {"role": rarely(st.sampled_from(["user", "assistant"])), "content": content}
    )
)
model = st.sampled_from(["gpt-4o-mini", "gpt-4o-mini", "claude-haiku-4-5", "acp/simple", "acp/x"])
count = st.integers(min_value=1, max_value=64)
unit = st.floats(min_value=0, max_value=1)
stop = st.text(max_size=5) | st.lists(st.text(max_size=5), max_size=4)

# The request fields each API documents, with values it accepts; ``mutated`` then puts
# an arbitrary value into one of them (or into one the valid set leaves out).
OPENAI_CHAT_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "max_tokens": count,
    "max_completion_tokens": count,
    "n": st.just(1),
    "stream": st.booleans(),
    "stream_options": st.fixed_dictionaries({"include_usage": st.booleans()}),
    "temperature": st.floats(min_value=0, max_value=2),
    "top_p": unit,
    "frequency_penalty": st.floats(min_value=-2, max_value=2),
    "presence_penalty": st.floats(min_value=-2, max_value=2),
    "seed": st.integers(min_value=0, max_value=2**31),
    "stop": stop,
    "user": st.text(max_size=8),
    "metadata": st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2),
}
OPENAI_CHAT_OTHERS = [
    "audio",
    "function_call",
    "functions",
    "logit_bias",
    "logprobs",
    "modalities",
    "parallel_tool_calls",
    "prediction",
    "reasoning_effort",
    "response_format",
    "service_tier",
    "store",
    "tool_choice",
    "tools",
    "top_logprobs",
    "web_search_options",
    "messages",
    "model",
]
ANTHROPIC_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "max_tokens": count,
    "stream": st.booleans(),
    "system": st.text(max_size=20),
    "temperature": unit,
    "top_p": unit,
    "top_k": count,
    "stop_sequences": st.lists(st.text(max_size=5), max_size=3),
    "metadata": st.fixed_dictionaries({"user_id": st.text(max_size=5)}),
}
ANTHROPIC_OTHERS = [
    "container",
    "mcp_servers",
    "service_tier",
    "thinking",
    "tool_choice",
    "tools",
    "messages",
    "model",
]
EMBEDDING_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "dimensions": count,
    "encoding_format": st.sampled_from(["float", "base64"]),
    "user": st.text(max_size=8),
}
EMBEDDING_OTHERS = ["input", "model"]


def body_of(
    fields: dict[str, st.SearchStrategy[Any]], others: list[str], **required: Any
) -> st.SearchStrategy[Any]:
    valid = st.fixed_dictionaries(required, optional=fields)
    names = sorted([*fields, *others])
    mutated = st.tuples(valid, st.sampled_from(names), anything).map(
        lambda case: {**case[0], case[1]: case[2]}
    )
    return st.one_of(valid, valid, mutated, mutated, anything)


header_text = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=20)
extra_headers = st.fixed_dictionaries(
    {},
    optional={
        "x-acp-tier": st.sampled_from(["simple", "standard", "complex"]) | header_text,
        "x-acp-tools": header_text,
        "x-acp-data-classes": header_text,
        "traceparent": header_text,
        "anthropic-version": header_text,
    },
)


def encoded(document: st.SearchStrategy[Any]) -> st.SearchStrategy[bytes]:
    """JSON (with the odd number beyond what orjson reads), or arbitrary bytes."""
    return st.one_of(document.map(lambda doc: json.dumps(doc).encode()), st.binary(max_size=64))


ENDPOINTS = {
    "/v1/chat/completions": (
        OPENAI_HEADERS,
        encoded(
            body_of(
                OPENAI_CHAT_FIELDS,
                OPENAI_CHAT_OTHERS,
                model=model,
                messages=st.lists(openai_message, min_size=1, max_size=3),
            )
        ),
    ),
    "/v1/messages": (
        ANTHROPIC_HEADERS,
        encoded(
            body_of(
                ANTHROPIC_FIELDS,
                ANTHROPIC_OTHERS,
                model=model,
                messages=st.lists(anthropic_message, min_size=1, max_size=3),
            )
        ),
    ),
    "/v1/embeddings": (
        OPENAI_HEADERS,
        encoded(
            body_of(
                EMBEDDING_FIELDS,
                EMBEDDING_OTHERS,
                model=model,
                input=st.text(max_size=20) | st.lists(st.text(max_size=5), max_size=3),
            )
        ),
    ),
}


def quick() -> settings:
    return settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )


# 5xx the gateway documents for a route that cannot serve a request (docs/gateway.md):
# answers about the configuration or the providers, not failures of the edge.
ROUTE_ANSWERS = {"route.no_candidate", "route.unavailable", "route.failed", "route.timeout"}


def assert_no_server_error(response: httpx.Response, case: Any) -> None:
    if response.status_code >= 500:
        assert response.headers.get("x-acp-code") in ROUTE_ANSWERS, (case, response.text)


def assert_error_shape(path: str, response: httpx.Response) -> None:
    body = response.json()
    if path == "/v1/messages":
        assert body["type"] == "error" and body["error"]["type"] and body["error"]["message"]
    else:
        assert body["error"]["message"] and body["error"]["type"], body


@pytest.fixture
def client(edge: EdgeServer) -> Iterator[httpx.Client]:
    # One connection: a request that broke it would fail the next one.
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    with httpx.Client(base_url=edge.url, timeout=30, limits=limits) as client:
        yield client


@pytest.mark.parametrize("path", list(ENDPOINTS))
def test_no_generated_request_gets_a_server_error(
    edge: EdgeServer, sim: RunningSim, client: httpx.Client, path: str
) -> None:
    headers, bodies = ENDPOINTS[path]
    sent: list[int] = []

    @quick()
    @given(body=bodies, extra=extra_headers)
    def probe(body: bytes, extra: dict[str, str]) -> None:
        response = client.post(path, content=body, headers={**headers, **extra})
        sent.append(response.status_code)
        assert_no_server_error(response, (body, extra))
        if response.status_code >= 400:
            assert_error_shape(path, response)

    probe()
    assert any(status == 200 for status in sent), "some generated requests are served"
    assert any(status == 400 for status in sent), "and some refused as malformed"
    records = edge.wait_records(len(sent))
    assert len(records) == len(sent), "every authenticated request leaves one record"


otlp_value = st.deferred(
    lambda: rarely(
        st.fixed_dictionaries({"stringValue": st.text(max_size=10)})
        | st.fixed_dictionaries({"intValue": st.integers(-(2**63), 2**63 - 1)})
        | st.fixed_dictionaries(
            {"arrayValue": st.fixed_dictionaries({"values": st.lists(otlp_value, max_size=2)})}
        )
    )
)
otlp_span = rarely(
    st.fixed_dictionaries(
        {
            "traceId": rarely(st.just("5b8efff798038103d269b633813fc60c")),
            "spanId": rarely(st.just("eee19b7ec3c1b174")),
            "name": rarely(st.text(max_size=10)),
        },
        optional={
            "startTimeUnixNano": rarely(st.just("1700000000000000000")),
            "endTimeUnixNano": anything,
            "kind": anything,
            "status": anything,
            "attributes": rarely(
                st.lists(
                    st.fixed_dictionaries({"key": st.text(max_size=8), "value": otlp_value}),
                    max_size=3,
                )
            ),
        },
    )
)
otlp_body = encoded(
    st.fixed_dictionaries(
        {
            "resourceSpans": rarely(
                st.lists(
                    st.fixed_dictionaries(
                        {
                            "scopeSpans": rarely(
                                st.lists(
                                    st.fixed_dictionaries(
                                        {"spans": st.lists(otlp_span, max_size=2)}
                                    ),
                                    max_size=2,
                                )
                            )
                        }
                    ),
                    max_size=2,
                )
            )
        }
    )
)


def test_no_generated_trace_export_gets_a_server_error(
    edge: EdgeServer, client: httpx.Client
) -> None:
    headers = {
        "Authorization": f"Bearer {AGENT_KEY}",
        "X-ACP-Device-Id": DEVICE,
        "X-ACP-Device-Key": DEVICE_KEY,
        "Content-Type": "application/json",
    }
    sent: list[int] = []

    @quick()
    @given(body=otlp_body)
    def probe(body: bytes) -> None:
        response = client.post("/v1/traces", content=body, headers=headers)
        sent.append(response.status_code)
        assert response.status_code < 500, (body, response.text)
        if response.status_code >= 400:
            status = response.json()
            assert status["code"] and status["message"]

    probe()
    assert 200 in sent and 400 in sent


CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello"}]}
DEEP = b"[" * 50_000 + b"]" * 50_000
HUGE = b" " * (5 << 20) + json.dumps(CHAT).encode()
ISSUE_INPUTS = (
    [
        pytest.param(path, DEEP, 400, id=f"{path}: JSON nested 50,000 deep")
        for path in ("/v1/chat/completions", "/v1/messages")
    ]
    + [
        pytest.param(path, HUGE, 413, id=f"{path}: a 5 MB body")
        for path in ("/v1/chat/completions", "/v1/messages")
    ]
    + [
        pytest.param(
            "/v1/chat/completions",
            json.dumps({**CHAT, "stream": True, "stream_options": "yes"}).encode(),
            400,
            id="stream_options not an object",
        )
    ]
)


@pytest.mark.parametrize(("path", "body", "status"), ISSUE_INPUTS)
def test_the_inputs_that_crashed_the_gateway_are_refused_and_recorded(
    edge: EdgeServer, client: httpx.Client, path: str, body: bytes, status: int
) -> None:
    headers = ANTHROPIC_HEADERS if path == "/v1/messages" else OPENAI_HEADERS
    response = client.post(path, content=body, headers=headers)

    assert response.status_code == status, response.text
    assert_error_shape(path, response)
    code = "request.too_large" if status == 413 else "request.malformed"
    assert response.headers["x-acp-code"] == code
    if path == "/v1/messages":
        kind = "request_too_large" if status == 413 else "invalid_request_error"
        assert response.json()["error"]["type"] == kind
    (record,) = edge.wait_records(1)
    assert record["status"] == "refused"
    assert [v["code"] for v in record["attributes"]["acp.gateway.verdicts"]] == [code]
    assert record["attributes"]["http.response.status_code"] == status
    # The connection is still good for the next request.
    assert client.post("/v1/chat/completions", json=CHAT, headers=OPENAI_HEADERS).status_code == 200


def test_a_gateway_bug_answers_in_the_api_shape_and_is_recorded(
    edge: EdgeServer, client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The catch-all: whatever fails inside the pipeline, the agent gets its API's error
    object (500), the request is captured, and the connection stays usable."""

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise KeyError("a bug")

    monkeypatch.setattr("edge.gateway.planning.select_route", broken)
    for path, headers in (
        ("/v1/chat/completions", OPENAI_HEADERS),
        ("/v1/messages", ANTHROPIC_HEADERS),
    ):
        response = client.post(path, json={**CHAT, "model": "claude-haiku-4-5"}, headers=headers)
        assert response.status_code == 500
        assert_error_shape(path, response)
        assert response.headers["x-acp-code"] == "gateway.internal_error"
    records = edge.wait_records(2)
    assert [r["status"] for r in records] == ["error", "error"]
    monkeypatch.undo()
    assert client.post("/v1/chat/completions", json=CHAT, headers=OPENAI_HEADERS).status_code == 200

"""Between the two APIs: request and answer translation, usage, and stream relays."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from edge.gateway import sse
from edge.gateway.request import GatewayRequest, parse_request
from edge.gateway.streams import StreamRelay
from edge.gateway.translate import (
    Usage,
    agent_answer,
    anthropic_usage,
    openai_usage,
    translatable,
    upstream_body,
)


def openai_request(**body: Any) -> GatewayRequest:
    doc = {"model": "acp/standard", "messages": [{"role": "user", "content": "hi"}], **body}
    return parse_request("openai", "chat", orjson.dumps(doc), {})


def anthropic_request(**body: Any) -> GatewayRequest:
    doc = {"model": "claude", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}
    return parse_request("anthropic", "chat", orjson.dumps({**doc, **body}), {})


def test_same_api_passes_through_with_model_cap_and_stream_usage() -> None:
    request = openai_request(stream=True, temperature=0.2)
    body = upstream_body(request, "openai", "gpt-4o-mini", 4096)
    assert body["model"] == "gpt-4o-mini" and body["temperature"] == 0.2
    assert body["max_tokens"] == 4096, "a cap is always set"
    assert body["stream_options"] == {"include_usage": True}
    capped = upstream_body(openai_request(max_completion_tokens=7), "openai", "m", 4096)
    assert "max_tokens" not in capped and capped["max_completion_tokens"] == 7
    assert upstream_body(anthropic_request(), "anthropic", "claude-x", 4096)["max_tokens"] == 50
    assert request.body["model"] == "acp/standard", "the agent's body is not changed"


def test_openai_to_anthropic_request() -> None:
    request = openai_request(
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "Hello"}]},
            {"role": "assistant", "content": "Hi!"},
            {"role": "user", "content": "Bye"},
        ],
        temperature=1.7,
        stop="END",
        max_tokens=20,
        stream=True,
        user="u-1",
    )
    assert upstream_body(request, "anthropic", "claude-haiku-4-5", 4096) == {
        "model": "claude-haiku-4-5",
        "max_tokens": 20,
        "system": "Be brief.",
        "messages": [
            {"role": "user", "content": "Hello"},
            {"role": "assistant", "content": "Hi!"},
            {"role": "user", "content": "Bye"},
        ],
        "temperature": 1.0,
        "stop_sequences": ["END"],
        "stream": True,
        "metadata": {"user_id": "u-1"},
    }


def test_anthropic_to_openai_request() -> None:
    request = anthropic_request(
        system=[{"type": "text", "text": "Be brief."}], stop_sequences=["END"], stream=True
    )
    assert upstream_body(request, "openai", "gpt-4o-mini", 4096) == {
        "model": "gpt-4o-mini",
        "max_tokens": 50,
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "hi"},
        ],
        "stop": ["END"],
        "stream": True,
        "stream_options": {"include_usage": True},
    }


@pytest.mark.parametrize(
    "request_",
    [
        openai_request(functions=[{"name": "f", "parameters": {}}]),
        openai_request(
            messages=[{"role": "tool", "tool_call_id": "1", "content": [{"type": "image_url"}]}]
        ),
        openai_request(
            messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]
        ),
        openai_request(n=2),
        openai_request(response_format={"type": "json_object"}),
        anthropic_request(tools=[{"type": "web_search_20250305", "name": "web_search"}]),
        anthropic_request(thinking={"type": "enabled", "budget_tokens": 1024}),
        anthropic_request(
            messages=[{"role": "user", "content": [{"type": "image", "source": {}}]}]
        ),
    ],
)
def test_what_does_not_translate_is_not_sent_across(request_: GatewayRequest) -> None:
    assert not translatable(request_)


def test_answers_translate_with_usage() -> None:
    message = {
        "id": "msg_1",
        "model": "claude",
        "content": [{"type": "text", "text": "Hello"}, {"type": "text", "text": "!"}],
        "stop_reason": "max_tokens",
        "usage": {"input_tokens": 5, "output_tokens": 2, "cache_read_input_tokens": 3},
    }
    completion = agent_answer(openai_request(), "anthropic", message)
    assert completion["choices"][0]["message"]["content"] == "Hello!"
    assert completion["choices"][0]["finish_reason"] == "length"
    assert completion["usage"] == {
        "prompt_tokens": 8,
        "completion_tokens": 2,
        "total_tokens": 10,
        "prompt_tokens_details": {"cached_tokens": 3},
    }
    back = agent_answer(anthropic_request(), "openai", completion)
    assert back["content"] == [{"type": "text", "text": "Hello!"}]
    assert (back["stop_reason"], back["usage"]) == (
        "max_tokens",
        {"input_tokens": 5, "output_tokens": 2, "cache_read_input_tokens": 3},
    )
    assert openai_usage(None) is None and anthropic_usage({"output_tokens": 4}) == Usage(0, 4)


def test_usage_is_read_per_token_class() -> None:
    openai = {
        "prompt_tokens": 1200,
        "completion_tokens": 300,
        "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 256},
    }
    assert openai_usage(openai) == Usage(1200, 300, cached_input_tokens=1024, reasoning_tokens=256)
    anthropic = {
        "input_tokens": 20,
        "cache_read_input_tokens": 1000,
        "cache_creation_input_tokens": 500,
        "output_tokens": 70,
    }
    assert anthropic_usage(anthropic) == Usage(
        1520, 70, cached_input_tokens=1000, cache_write_tokens=500
    )
    # Details that are missing, null or nonsense count as none.
    assert openai_usage({"prompt_tokens": 5, "prompt_tokens_details": None}) == Usage(5, 0)


def test_streamed_usage_keeps_the_classes() -> None:
    final = {
        "prompt_tokens": 3,
        "completion_tokens": 4,
        "prompt_tokens_details": {"cached_tokens": 2},
        "completion_tokens_details": {"reasoning_tokens": 1},
    }
    relay_, _ = relay(openai_request(stream=True), "openai", openai_stream("a b", final))
    assert relay_.capture.usage == Usage(3, 4, cached_input_tokens=2, reasoning_tokens=1)
    start = {"input_tokens": 9, "cache_read_input_tokens": 40, "cache_creation_input_tokens": 7}
    relay_, _ = relay(anthropic_request(stream=True), "anthropic", anthropic_stream("x", start))
    assert relay_.capture.usage == Usage(56, 6, cached_input_tokens=40, cache_write_tokens=7)


def openai_stream(text: str, usage: bool | dict[str, Any] = True) -> bytes:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        body = {
            "id": "c1",
            "model": "gpt",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return sse.encode(orjson.dumps(body))

    out = chunk({"role": "assistant", "content": ""})
    out += b"".join(chunk({"content": piece}) for piece in text.split(" "))
    out += chunk({}, "stop")
    if usage:
        final = {
            "id": "c1",
            "model": "gpt",
            "choices": [],
            "usage": usage
            if isinstance(usage, dict)
            else {"prompt_tokens": 3, "completion_tokens": 4},
        }
        out += sse.encode(orjson.dumps(final))
    return out + b"data: [DONE]\n\n"


def anthropic_stream(text: str, start: dict[str, int] | None = None) -> bytes:
    events = [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "m1",
                    "model": "claude",
                    "usage": {**(start or {"input_tokens": 9}), "output_tokens": 1},
                },
            },
        ),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
        ("ping", {"type": "ping"}),
        *[
            (
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": piece},
                },
            )
            for piece in text.split(" ")
        ],
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn"},
                "usage": {"output_tokens": 6},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
    return b"".join(sse.encode(orjson.dumps(data), name) for name, data in events)


def relay(
    request: GatewayRequest, kind: str, upstream: bytes, step: int = 7
) -> tuple[StreamRelay, bytes]:
    parser, relay_ = sse.Parser(), StreamRelay(request, kind)
    out = b""
    for start in range(0, len(upstream), step):  # arbitrary chunk boundaries
        out += relay_.feed(parser.feed(upstream[start : start + step]))
    out += relay_.feed(parser.close())
    return relay_, out


def events(data: bytes) -> list[sse.Event]:
    return sse.Parser().feed(data)


def test_openai_stream_passes_through_and_is_captured() -> None:
    upstream = openai_stream("a b c")
    asked = openai_request(stream=True, stream_options={"include_usage": True})
    relay_, out = relay(asked, "openai", upstream)
    assert out == upstream
    assert relay_.capture.completed and relay_.capture.usage == Usage(3, 4)
    assert relay_.body()["choices"][0]["message"]["content"] == "abc"
    _, quiet = relay(openai_request(stream=True), "openai", upstream)
    assert b'"usage"' not in quiet and quiet.endswith(b"data: [DONE]\n\n")


def test_anthropic_stream_passes_through_and_is_captured() -> None:
    upstream = anthropic_stream("x y")
    relay_, out = relay(anthropic_request(stream=True), "anthropic", upstream)
    assert out == upstream
    assert relay_.capture.usage == Usage(9, 6) and relay_.capture.completed
    assert relay_.body()["content"][0]["text"] == "xy"


def test_an_anthropic_stream_becomes_openai_chunks() -> None:
    asked = openai_request(stream=True, stream_options={"include_usage": True})
    _, out = relay(asked, "anthropic", anthropic_stream("x y"))
    chunks = [e.data for e in events(out)]
    assert chunks[-1] == "[DONE]"
    bodies = [orjson.loads(c) for c in chunks[:-1]]
    assert (
        "".join(b["choices"][0]["delta"].get("content", "") for b in bodies if b["choices"]) == "xy"
    )
    assert [b["choices"][0]["finish_reason"] for b in bodies if b["choices"]][-1] == "stop"
    assert bodies[-1]["usage"] == {"prompt_tokens": 9, "completion_tokens": 6, "total_tokens": 15}


def test_an_openai_stream_becomes_anthropic_events() -> None:
    relay_, out = relay(anthropic_request(stream=True), "openai", openai_stream("a b c"))
    names = [e.name for e in events(out)]
    assert names == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    delta = orjson.loads(events(out)[-2].data)
    assert delta["usage"] == {"input_tokens": 3, "output_tokens": 4}
    assert delta["delta"]["stop_reason"] == "end_turn"
    assert relay_.body()["content"][0]["text"] == "abc"


def test_a_stream_cut_short_is_not_complete() -> None:
    upstream = openai_stream("a b c")
    relay_, _ = relay(openai_request(stream=True), "openai", upstream[: len(upstream) // 2])
    assert not relay_.capture.completed and relay_.capture.usage is None


def test_sse_parsing() -> None:
    parser = sse.Parser()
    assert parser.feed(b"event: a\r\ndata: 1\r\n") == []
    (event,) = parser.feed(b"data: 2\r\n\r\n: comment\n\n")
    assert (event.name, event.data) == ("a", "1\n2")
    assert parser.feed(b"data: tail") == []
    assert [e.data for e in parser.close()] == ["tail"]


def test_tools_calls_and_results_translate_both_ways() -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"q": 1}'}}
    other = {"id": "c2", "type": "function", "function": {"name": "g", "arguments": "{}"}}
    request = openai_request(
        tools=[{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
        tool_choice="required",
        parallel_tool_calls=False,
        messages=[
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": None, "tool_calls": [call, other]},
            {"role": "tool", "tool_call_id": "c1", "content": "one"},
            {"role": "tool", "tool_call_id": "c2", "content": "two"},
        ],
    )
    assert translatable(request)
    body = upstream_body(request, "anthropic", "claude", 100)
    assert body["tools"] == [{"name": "f", "input_schema": {"type": "object"}}]
    assert body["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    assert body["messages"][1] == {
        "role": "assistant",
        "content": [
            {"type": "tool_use", "id": "c1", "name": "f", "input": {"q": 1}},
            {"type": "tool_use", "id": "c2", "name": "g", "input": {}},
        ],
    }
    assert body["messages"][2] == {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": "c1", "content": "one"},
            {"type": "tool_result", "tool_use_id": "c2", "content": "two"},
        ],
    }, "parallel results are one user turn"

    back = anthropic_request(
        tools=[{"name": "f", "input_schema": {"type": "object"}}],
        tool_choice={"type": "tool", "name": "f"},
        messages=[
            {"role": "user", "content": "hi"},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {"q": 1}}],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "t1",
                        "content": [{"type": "text", "text": "one"}],
                    },
                    {"type": "text", "text": "and now?"},
                ],
            },
        ],
    )
    assert translatable(back)
    body = upstream_body(back, "openai", "gpt", 100)
    assert body["tool_choice"] == {"type": "function", "function": {"name": "f"}}
    assert body["messages"][1:] == [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "t1", "type": "function", "function": {"name": "f", "arguments": '{"q":1}'}}
            ],
        },
        {"role": "tool", "tool_call_id": "t1", "content": "one"},
        {"role": "user", "content": "and now?"},
    ]

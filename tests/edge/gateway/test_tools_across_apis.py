"""Tool calls across the two APIs with the official SDKs: an OpenAI-shaped agent served
by an Anthropic provider and the reverse — tool definitions, the model's calls
(parallel ones too), the agent's results, plain and streamed — and the tools used on
the record."""

from __future__ import annotations

import json
from typing import Any

import pytest

from edge.simprovider import RunningSim

from .conftest import EdgeServer
from .test_sdk import anthropic_client, openai_client

OPENAI_TOOLS: Any = [
    {
        "type": "function",
        "function": {
            "name": "crm.search",
            "description": "Search the CRM",
            "parameters": {"type": "object", "properties": {"query": {"type": "string"}}},
        },
    },
    {
        "type": "function",
        "function": {
            "name": "web.search",
            "description": "Search the web",
            "parameters": {"type": "object", "properties": {"query": {"type": "string"}}},
        },
    },
]
ANTHROPIC_TOOLS: Any = [
    {
        "name": tool["function"]["name"],
        "description": tool["function"]["description"],
        "input_schema": tool["function"]["parameters"],
    }
    for tool in OPENAI_TOOLS
]
ASK = "Look up ACME Corp in parallel in the CRM and on the web."


def openai_stream_calls(stream: Any) -> tuple[list[dict[str, str]], str | None]:
    calls: dict[int, dict[str, str]] = {}
    finish = None
    for chunk in stream:
        for choice in chunk.choices:
            for delta in choice.delta.tool_calls or []:
                entry = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
                entry["id"] += delta.id or ""
                if delta.function is not None:
                    entry["name"] += delta.function.name or ""
                    entry["arguments"] += delta.function.arguments or ""
            finish = choice.finish_reason or finish
    return [calls[i] for i in sorted(calls)], finish


@pytest.mark.parametrize("stream", [False, True])
def test_openai_agent_with_tools_served_by_anthropic(
    edge: EdgeServer, sim: RunningSim, stream: bool
) -> None:
    client = openai_client(edge)
    messages: list[Any] = [{"role": "user", "content": ASK}]
    request: dict[str, Any] = {"model": "claude-haiku-4-5", "tools": OPENAI_TOOLS}
    if stream:
        calls, finish = openai_stream_calls(
            client.chat.completions.create(**request, messages=messages, stream=True)
        )
    else:
        completion = client.chat.completions.create(**request, messages=messages)
        message = completion.choices[0].message
        finish = completion.choices[0].finish_reason
        calls = [
            {"id": c.id, "name": c.function.name, "arguments": c.function.arguments}  # type: ignore[union-attr]
            for c in message.tool_calls or []
        ]
    assert finish == "tool_calls"
    assert [c["name"] for c in calls] == ["crm.search", "web.search"], "parallel calls"
    assert all(c["id"].startswith("toolu_") for c in calls), "the provider's call ids"
    assert json.loads(calls[0]["arguments"]) == {"query": ASK}
    assert sim.sim.stats["messages"] == 1 and sim.sim.stats["chat"] == 0

    messages.append(
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": c["id"],
                    "type": "function",
                    "function": {"name": c["name"], "arguments": c["arguments"]},
                }
                for c in calls
            ],
        }
    )
    for call in calls:
        messages.append(
            {"role": "tool", "tool_call_id": call["id"], "content": f"{call['name']}: 3 hits"}
        )
    answer = client.chat.completions.create(**request, messages=messages)
    assert answer.choices[0].finish_reason == "stop"
    assert answer.choices[0].message.content
    assert not answer.choices[0].message.tool_calls

    first, second = sorted(edge.wait_records(2), key=lambda r: r["start_time_unix_nano"])
    assert first["attributes"]["acp.gateway.tools"] == ["crm.search", "web.search"]
    assert first["attributes"]["acp.gateway.tool_calls"] == ["crm.search", "web.search"]
    assert first["provider"] == "anthropic" and first["output_tokens"] > 0
    assert "acp.gateway.tool_calls" not in second["attributes"]
    assert "crm.search: 3 hits" in second["request_body"]


@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_agent_with_tools_served_by_openai(
    edge: EdgeServer, sim: RunningSim, stream: bool
) -> None:
    client = anthropic_client(edge)
    request: dict[str, Any] = {"model": "gpt-4o-mini", "max_tokens": 300, "tools": ANTHROPIC_TOOLS}
    messages: list[Any] = [{"role": "user", "content": ASK}]
    if stream:
        with client.messages.stream(**request, messages=messages) as events:
            message = events.get_final_message()
    else:
        message = client.messages.create(**request, messages=messages)
    assert message.stop_reason == "tool_use"
    uses = [block for block in message.content if block.type == "tool_use"]
    assert [use.name for use in uses] == ["crm.search", "web.search"]
    assert uses[0].input == {"query": ASK}
    assert all(use.id.startswith("call_") for use in uses)
    assert sim.sim.stats["chat"] == 1 and sim.sim.stats["messages"] == 0

    messages.append({"role": "assistant", "content": [use.model_dump() for use in uses]})
    messages.append(
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": use.id, "content": f"{use.name}: 3 hits"}
                for use in uses
            ],
        }
    )
    answer = client.messages.create(**request, messages=messages)
    assert answer.stop_reason == "end_turn"
    assert answer.content[0].type == "text" and answer.content[0].text

    first, _ = sorted(edge.wait_records(2), key=lambda r: r["start_time_unix_nano"])
    assert first["attributes"]["acp.gateway.tool_calls"] == ["crm.search", "web.search"]
    assert first["provider"] == "openai"

"""Between the agent's API and the provider's: the upstream request body, the answer
in the agent's format, and the usage the provider reported. Streams are relayed by
``edge.gateway.streams`` on top of these.

Same API on both sides passes bodies through (model replaced, output cap and stream
usage added). Across APIs (an OpenAI-format request to an Anthropic provider or the
reverse): system prompt, user/assistant text, max_tokens, temperature, top_p, stop
sequences, function tools, tool choice, tool calls (parallel ones too) and their
results, streaming (tool-call deltas included) and usage. Requests with images, ``n`` >
1, a response format, legacy functions or extended thinking are not translated; the
route skips such candidates instead of sending a lossy request.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import orjson

from edge.gateway.request import ANTHROPIC, CHAT, EMBEDDINGS, OPENAI, GatewayRequest
from edge.tokens import TokenCounts

ANTHROPIC_VERSION = "2023-06-01"
OPENAI_STOP = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length"}
OPENAI_STOP.update({"tool_use": "tool_calls", "refusal": "content_filter"})
ANTHROPIC_STOP = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"}
ANTHROPIC_STOP.update({"function_call": "tool_use", "content_filter": "refusal"})
_OPENAI_UNTRANSLATED_KEYS = ("functions", "function_call", "response_format")
_ANTHROPIC_UNTRANSLATED_KEYS = ("thinking", "mcp_servers")


Usage = TokenCounts


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _details(usage: dict[str, Any], key: str) -> dict[str, Any]:
    details = usage.get(key)
    return details if isinstance(details, dict) else {}


def openai_usage(usage: Any) -> Usage | None:
    """Cached and reasoning tokens are parts of the prompt and completion counts."""
    if not isinstance(usage, dict):
        return None
    return Usage.of(
        usage.get("prompt_tokens"),
        usage.get("completion_tokens"),
        cached_input_tokens=_details(usage, "prompt_tokens_details").get("cached_tokens"),
        reasoning_tokens=_details(usage, "completion_tokens_details").get("reasoning_tokens"),
    )


def anthropic_usage(usage: Any) -> Usage | None:
    """Anthropic counts cache reads and writes beside ``input_tokens``: they are added
    in, so that input is every prompt token as for OpenAI (edge/tokens.py)."""
    if not isinstance(usage, dict):
        return None
    read = _int(usage.get("cache_read_input_tokens"))
    written = _int(usage.get("cache_creation_input_tokens"))
    return Usage.of(
        _int(usage.get("input_tokens")) + read + written,
        usage.get("output_tokens"),
        cached_input_tokens=read,
        cache_write_tokens=written,
    )


def openai_usage_body(usage: Usage) -> dict[str, Any]:
    """OpenAI's usage object, with the details of the classes that are not zero."""
    body: dict[str, Any] = {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.input_tokens + usage.output_tokens,
    }
    if usage.cached_input_tokens:
        body["prompt_tokens_details"] = {"cached_tokens": usage.cached_input_tokens}
    if usage.reasoning_tokens:
        body["completion_tokens_details"] = {"reasoning_tokens": usage.reasoning_tokens}
    return body


def anthropic_usage_body(usage: Usage) -> dict[str, Any]:
    """Anthropic's usage object: cache reads and writes apart from ``input_tokens``."""
    body: dict[str, Any] = {
        "input_tokens": usage.input_tokens - usage.cached_input_tokens - usage.cache_write_tokens,
        "output_tokens": usage.output_tokens,
    }
    if usage.cached_input_tokens:
        body["cache_read_input_tokens"] = usage.cached_input_tokens
    if usage.cache_write_tokens:
        body["cache_creation_input_tokens"] = usage.cache_write_tokens
    return body


def usage_of(kind: str, body: Any) -> Usage | None:
    usage = body.get("usage") if isinstance(body, dict) else None
    return anthropic_usage(usage) if kind == ANTHROPIC else openai_usage(usage)


# --- requests --------------------------------------------------------------------------


def _text_parts(content: Any) -> list[str] | None:
    """The texts of a message content, or None when it holds anything but text."""
    if isinstance(content, str):
        return [content]
    if not isinstance(content, list):
        return None
    texts = []
    for part in content:
        if isinstance(part, str):
            texts.append(part)
        elif isinstance(part, dict) and part.get("type") == "text":
            texts.append(str(part.get("text", "")))
        else:
            return None
    return texts


def _function_tools(tools: Any) -> bool:
    return isinstance(tools, list) and all(
        isinstance(tool, dict)
        and tool.get("type", "function") == "function"
        and isinstance(tool.get("function"), dict)
        for tool in tools
    )


def _openai_message_translates(message: dict[str, Any]) -> bool:
    role = message.get("role")
    if role == "tool":
        return _text_parts(message.get("content")) is not None
    if role == "assistant" and message.get("tool_calls"):
        content = message.get("content")
        return _function_tools(
            [{"function": c.get("function")} for c in message["tool_calls"] if isinstance(c, dict)]
        ) and (content is None or _text_parts(content) is not None)
    return role in ("system", "developer", "user", "assistant") and (
        _text_parts(message.get("content")) is not None
    )


def _anthropic_block_translates(block: Any) -> bool:
    if isinstance(block, str):
        return True
    if not isinstance(block, dict):
        return False
    kind = block.get("type")
    if kind == "tool_result":
        content = block.get("content", "")
        return _text_parts(content) is not None
    return kind in ("text", "tool_use")


def translatable(request: GatewayRequest) -> bool:
    """Can the request go to a provider of the other API without losing anything?
    Text, function tools, tool calls and their results translate; images, ``n`` > 1,
    response formats, legacy functions and extended thinking do not."""
    if request.operation != CHAT:
        return False
    body = request.body
    if request.api == OPENAI:
        if any(body.get(key) for key in _OPENAI_UNTRANSLATED_KEYS if key != "response_format"):
            return False
        response_format = body.get("response_format")
        if response_format and response_format != {"type": "text"}:
            return False
        if body.get("n", 1) != 1:
            return False
        if body.get("tools") and not _function_tools(body["tools"]):
            return False
        return all(_openai_message_translates(message) for message in body["messages"])
    if any(body.get(key) for key in _ANTHROPIC_UNTRANSLATED_KEYS):
        return False
    if any(
        not isinstance(tool, dict) or tool.get("type") not in (None, "custom")
        for tool in body.get("tools") or []
    ):
        return False  # Anthropic's server tools (web search, computer use) stay there
    system = body.get("system")
    if system is not None and _text_parts(system) is None:
        return False
    for message in body["messages"]:
        if message.get("role") not in ("user", "assistant"):
            return False
        content = message.get("content")
        if not isinstance(content, str) and not (
            isinstance(content, list) and all(_anthropic_block_translates(b) for b in content)
        ):
            return False
    return True


def output_cap(request: GatewayRequest, default: int) -> int:
    return request.max_output_tokens if request.max_output_tokens is not None else default


def upstream_body(
    request: GatewayRequest, kind: str, model: str, default_max_tokens: int
) -> dict[str, Any]:
    """The body to send to a provider of ``kind`` for ``model``. The output cap is always
    set, so that the budget's reservation bounds what the provider may bill."""
    body = request.body
    if request.operation == EMBEDDINGS:
        return {**body, "model": model}
    cap = output_cap(request, default_max_tokens)
    if request.api == kind == OPENAI:
        upstream = {**body, "model": model}
        if request.max_output_tokens is None:
            upstream["max_tokens"] = cap
        if request.stream:
            upstream["stream_options"] = {
                **(body.get("stream_options") or {}),
                "include_usage": True,
            }
        return upstream
    if request.api == kind == ANTHROPIC:
        return {**body, "model": model, "max_tokens": cap}
    if kind == ANTHROPIC:
        return _openai_to_anthropic(body, model, cap)
    return _anthropic_to_openai(body, model, cap)


def tool_arguments(text: Any) -> dict[str, Any]:
    """A tool call's JSON arguments as an object (Anthropic's ``input``)."""
    try:
        value = orjson.loads(text or "{}")
    except orjson.JSONDecodeError:
        return {"arguments": text}
    return value if isinstance(value, dict) else {"value": value}


def _append(messages: list[dict[str, Any]], role: str, content: str | list[dict[str, Any]]) -> None:
    """Parallel tool results are one user turn for Anthropic: a turn with tool blocks
    joins a preceding turn of the same role that has them too."""
    last = messages[-1] if messages else None
    if (
        last
        and last["role"] == role
        and isinstance(content, list)
        and isinstance(last["content"], list)
    ):
        last["content"].extend(content)
    else:
        messages.append({"role": role, "content": content})


def _openai_to_anthropic(body: dict[str, Any], model: str, cap: int) -> dict[str, Any]:
    system: list[str] = []
    messages: list[dict[str, Any]] = []
    for message in body["messages"]:
        texts = _text_parts(message.get("content")) or []
        role = message["role"]
        if role in ("system", "developer"):
            system.extend(texts)
            continue
        if role == "tool":
            result = {
                "type": "tool_result",
                "tool_use_id": str(message.get("tool_call_id", "")),
                "content": "".join(texts),
            }
            _append(messages, "user", [result])
            continue
        if not message.get("tool_calls"):
            _append(messages, role, "".join(texts))
            continue
        blocks: list[dict[str, Any]] = [{"type": "text", "text": "".join(texts)}] if texts else []
        for call in message["tool_calls"]:
            function = call.get("function") or {}
            blocks.append(
                {
                    "type": "tool_use",
                    "id": str(call.get("id", "")),
                    "name": function.get("name", ""),
                    "input": tool_arguments(function.get("arguments")),
                }
            )
        _append(messages, role, blocks)
    upstream: dict[str, Any] = {"model": model, "max_tokens": cap, "messages": messages}
    if body.get("tools"):
        upstream["tools"] = [_anthropic_tool(tool["function"]) for tool in body["tools"]]
        choice = _anthropic_tool_choice(body.get("tool_choice"), body.get("parallel_tool_calls"))
        if choice is not None:
            upstream["tool_choice"] = choice
    if system:
        upstream["system"] = "\n\n".join(system)
    if body.get("temperature") is not None:
        # OpenAI's range is 0-2, Anthropic's 0-1.
        upstream["temperature"] = min(float(body["temperature"]), 1.0)
    if body.get("top_p") is not None:
        upstream["top_p"] = body["top_p"]
    stop = body.get("stop")
    if stop:
        upstream["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    if body.get("stream"):
        upstream["stream"] = True
    if isinstance(body.get("user"), str):
        upstream["metadata"] = {"user_id": body["user"]}
    return upstream


def _anthropic_tool(function: dict[str, Any]) -> dict[str, Any]:
    tool = {
        "name": function.get("name", ""),
        "input_schema": function.get("parameters") or {"type": "object", "properties": {}},
    }
    if function.get("description"):
        tool["description"] = function["description"]
    return tool


def _anthropic_tool_choice(choice: Any, parallel: Any) -> dict[str, Any] | None:
    if isinstance(choice, dict) and choice.get("type") == "function":
        chosen: dict[str, Any] = {
            "type": "tool",
            "name": (choice.get("function") or {}).get("name"),
        }
    elif choice in ("required", "none", "auto"):
        chosen = {"type": {"required": "any"}.get(choice, choice)}
    elif parallel is False:
        chosen = {"type": "auto"}
    else:
        return None
    if parallel is False and chosen["type"] != "none":
        chosen["disable_parallel_tool_use"] = True
    return chosen


def _openai_tool_choice(choice: Any) -> Any:
    kind = choice.get("type") if isinstance(choice, dict) else None
    if kind == "tool":
        return {"type": "function", "function": {"name": choice.get("name")}}
    return {"any": "required", "auto": "auto", "none": "none"}.get(str(kind))


def _anthropic_turn(message: dict[str, Any]) -> list[dict[str, Any]]:
    """One Anthropic turn as OpenAI messages: tool results become tool messages; tool
    uses the assistant message's tool calls."""
    content = message.get("content")
    if isinstance(content, str):
        return [{"role": message["role"], "content": content}]
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    for block in content or []:
        if isinstance(block, str):
            texts.append(block)
        elif block.get("type") == "text":
            texts.append(str(block.get("text", "")))
        elif block.get("type") == "tool_use":
            arguments = orjson.dumps(block.get("input") or {}).decode()
            calls.append(
                {
                    "id": str(block.get("id", "")),
                    "type": "function",
                    "function": {"name": block.get("name", ""), "arguments": arguments},
                }
            )
        elif block.get("type") == "tool_result":
            text = "".join(_text_parts(block.get("content", "")) or [])
            results.append(
                {"role": "tool", "tool_call_id": str(block.get("tool_use_id", "")), "content": text}
            )
    if message["role"] == "assistant":
        turn: dict[str, Any] = {"role": "assistant", "content": "".join(texts) or None}
        if calls:
            turn["tool_calls"] = calls
        return [turn]
    return results + ([{"role": "user", "content": "".join(texts)}] if texts or not results else [])


def _anthropic_to_openai(body: dict[str, Any], model: str, cap: int) -> dict[str, Any]:
    messages = []
    system = body.get("system")
    if system:
        messages.append({"role": "system", "content": "".join(_text_parts(system) or [])})
    for message in body["messages"]:
        messages.extend(_anthropic_turn(message))
    upstream: dict[str, Any] = {"model": model, "max_tokens": cap, "messages": messages}
    if body.get("tools"):
        upstream["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": tool.get("name", ""),
                    "description": tool.get("description", ""),
                    "parameters": tool.get("input_schema") or {"type": "object"},
                },
            }
            for tool in body["tools"]
        ]
        choice = body.get("tool_choice")
        if _openai_tool_choice(choice) is not None:
            upstream["tool_choice"] = _openai_tool_choice(choice)
        if isinstance(choice, dict) and choice.get("disable_parallel_tool_use"):
            upstream["parallel_tool_calls"] = False
    for key in ("temperature", "top_p"):
        if body.get(key) is not None:
            upstream[key] = body[key]
    if body.get("stop_sequences"):
        upstream["stop"] = list(body["stop_sequences"])
    if body.get("stream"):
        upstream["stream"] = True
        upstream["stream_options"] = {"include_usage": True}
    metadata = body.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("user_id"), str):
        upstream["user"] = metadata["user_id"]
    return upstream


# --- whole answers ---------------------------------------------------------------------


def _anthropic_text(message: dict[str, Any]) -> str:
    return "".join(
        str(block.get("text", ""))
        for block in message.get("content") or []
        if isinstance(block, dict) and block.get("type") == "text"
    )


def _openai_calls(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "id": str(block.get("id", "")),
            "type": "function",
            "function": {
                "name": block.get("name", ""),
                "arguments": orjson.dumps(block.get("input") or {}).decode(),
            },
        }
        for block in message.get("content") or []
        if isinstance(block, dict) and block.get("type") == "tool_use"
    ]


def to_openai_completion(message: dict[str, Any]) -> dict[str, Any]:
    usage = anthropic_usage(message.get("usage")) or Usage(0, 0)
    calls = _openai_calls(message)
    answer: dict[str, Any] = {
        "role": "assistant",
        "content": _anthropic_text(message) or (None if calls else ""),
        "refusal": None,
    }
    if calls:
        answer["tool_calls"] = calls
    return {
        "id": f"chatcmpl-{message.get('id') or uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": message.get("model", ""),
        "choices": [
            {
                "index": 0,
                "message": answer,
                "finish_reason": OPENAI_STOP.get(str(message.get("stop_reason")), "stop"),
                "logprobs": None,
            }
        ],
        "usage": openai_usage_body(usage),
    }


def to_anthropic_message(completion: dict[str, Any]) -> dict[str, Any]:
    usage = openai_usage(completion.get("usage")) or Usage(0, 0)
    choices = completion.get("choices") or [{}]
    choice = choices[0] if isinstance(choices[0], dict) else {}
    message = choice.get("message") or {}
    content: list[dict[str, Any]] = []
    if message.get("content") or not message.get("tool_calls"):
        content.append({"type": "text", "text": str(message.get("content") or "")})
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        content.append(
            {
                "type": "tool_use",
                "id": str(call.get("id", "")),
                "name": function.get("name", ""),
                "input": tool_arguments(function.get("arguments")),
            }
        )
    return {
        "id": f"msg_{completion.get('id') or uuid.uuid4().hex}",
        "type": "message",
        "role": "assistant",
        "model": completion.get("model", ""),
        "content": content,
        "stop_reason": ANTHROPIC_STOP.get(str(choice.get("finish_reason")), "end_turn"),
        "stop_sequence": None,
        "usage": anthropic_usage_body(usage),
    }


def agent_answer(request: GatewayRequest, kind: str, answer: dict[str, Any]) -> dict[str, Any]:
    """An upstream answer (already decoded) in the agent's API."""
    if request.api == kind or request.operation != CHAT:
        return answer
    return to_openai_completion(answer) if request.api == OPENAI else to_anthropic_message(answer)


def answer_texts(api: str, answer: dict[str, Any]) -> list[tuple[dict[str, Any], str]]:
    """Where the answer's texts are (container, key), for redacting the captured copy."""
    slots: list[tuple[dict[str, Any], str]] = []
    if api == OPENAI:
        for choice in answer.get("choices") or []:
            message = choice.get("message") if isinstance(choice, dict) else None
            if isinstance(message, dict) and isinstance(message.get("content"), str):
                slots.append((message, "content"))
    else:
        for block in answer.get("content") or []:
            if isinstance(block, dict) and isinstance(block.get("text"), str):
                slots.append((block, "text"))
    return slots


def called_tools(api: str, answer: dict[str, Any]) -> list[str]:
    """The tools the model called in an answer (the agent's API)."""
    if api == OPENAI:
        return [
            str((call.get("function") or {}).get("name", ""))
            for choice in answer.get("choices") or []
            if isinstance(choice, dict)
            for call in (choice.get("message") or {}).get("tool_calls") or []
            if isinstance(call, dict)
        ]
    return [
        str(block.get("name", ""))
        for block in answer.get("content") or []
        if isinstance(block, dict) and block.get("type") == "tool_use"
    ]

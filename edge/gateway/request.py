"""An agent's model request as the gateway sees it: which API, which model or tier, what
it declares (tools, data classes), and where its user and tool texts are (for the
content filter, which may rewrite them)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from edge.gateway.catalog import AUTO, TIERS
from edge.gateway.validation import validate
from edge.gateway.verdicts import Refusal
from edge.jsondepth import depth_message, too_deep
from edge.storable import loads_json

OPENAI, ANTHROPIC = "openai", "anthropic"
CHAT, EMBEDDINGS = "chat", "embeddings"
TIER_PREFIX = "acp/"
REQUEST_TIERS = (*TIERS, AUTO)


@dataclass
class GatewayRequest:
    api: str
    """The API the agent speaks: ``openai`` or ``anthropic``."""
    operation: str
    body: dict[str, Any]
    raw: bytes
    model: str
    stream: bool
    include_usage: bool
    """The agent asked for usage in the stream (OpenAI ``stream_options``)."""
    max_output_tokens: int | None
    tools: tuple[str, ...]
    data_classes: tuple[str, ...]
    tier_override: str | None
    traceparent: str | None
    user_agent: str
    redacted: bool = False

    @property
    def tier_alias(self) -> str | None:
        """The tier named by an ``acp/<tier>`` model, else None."""
        return self.model[len(TIER_PREFIX) :] if self.model.startswith(TIER_PREFIX) else None

    def body_text(self) -> str:
        """The request as captured: as sent, or re-encoded once redacted."""
        return (orjson.dumps(self.body) if self.redacted else self.raw).decode(errors="replace")


def malformed(reason: str) -> Refusal:
    return Refusal(400, "invalid_request_error", "request.malformed", reason, stage="request")


def _header_list(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    return tuple(dict.fromkeys(item.strip() for item in value.split(",") if item.strip()))


def _body_tools(api: str, body: Mapping[str, Any]) -> list[str]:
    names: list[str] = []
    for tool in body.get("tools") or []:
        if not isinstance(tool, dict):
            raise malformed("tools must be an array of objects")
        function = tool.get("function")
        name = function.get("name") if isinstance(function, dict) else tool.get("name")
        if not isinstance(name, str) or not name:
            raise malformed("every tool needs a name")
        names.append(name)
    if api == OPENAI:
        for function in body.get("functions") or []:
            if isinstance(function, dict) and isinstance(function.get("name"), str):
                names.append(function["name"])
    return names


def _count(body: Mapping[str, Any], *names: str) -> int | None:
    for name in names:
        value = body.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise malformed(f"{name} must be a non-negative integer")
        return value
    return None


def parse_request(
    api: str, operation: str, raw: bytes, headers: Mapping[str, str]
) -> GatewayRequest:
    """Validate every field the API defines (``validation``); the provider judges the
    fields it does not."""
    if too_deep(raw):
        raise malformed(depth_message())
    try:
        body = loads_json(raw)
    except orjson.JSONDecodeError:
        raise malformed("the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise malformed("the body must be a JSON object")
    validate(api, operation, body)
    model = body["model"]
    if not model:
        raise malformed("model is required")
    if model.startswith(TIER_PREFIX) and model[len(TIER_PREFIX) :] not in REQUEST_TIERS:
        raise malformed(f"{model} is not a tier; use acp/{', acp/'.join(REQUEST_TIERS)}")
    stream = body.get("stream") or False
    if stream and operation != CHAT:
        raise malformed("stream must be true or false (chat only)")
    options = body.get("stream_options")
    tier = headers.get("x-acp-tier", "").strip().lower() or None
    if tier is not None and tier not in REQUEST_TIERS:
        raise malformed(f"x-acp-tier must be one of {', '.join(REQUEST_TIERS)}")
    declared_tools = _header_list(headers.get("x-acp-tools"))
    return GatewayRequest(
        api=api,
        operation=operation,
        body=body,
        raw=raw,
        model=model,
        stream=stream,
        include_usage=isinstance(options, dict) and options.get("include_usage") is True,
        max_output_tokens=_count(body, "max_completion_tokens", "max_tokens"),
        tools=tuple(dict.fromkeys([*_body_tools(api, body), *declared_tools])),
        data_classes=_header_list(headers.get("x-acp-data-classes")),
        tier_override=tier,
        traceparent=headers.get("traceparent"),
        user_agent=headers.get("user-agent", ""),
    )


@dataclass
class TextSlot:
    """One text inside the body that the content filter reads and redaction may
    replace; ``channel`` says where it came from (edge/gateway/content_filter/channels.py)."""

    container: dict[str, Any] | list[Any]
    key: str | int
    channel: str = "user"

    @property
    def text(self) -> str:
        value: str = self.container[self.key]  # type: ignore[index]
        return value

    def replace(self, text: str) -> None:
        self.container[self.key] = text  # type: ignore[index]


def _content_slots(
    message: dict[str, Any], channel: str, key: str = "content"
) -> Iterator[TextSlot]:
    content = message.get(key)
    if isinstance(content, str):
        yield TextSlot(message, key, channel)
    elif isinstance(content, list):
        for part in content:
            if not isinstance(part, dict):
                continue
            kind = part.get("type")
            if kind in ("text", "input_text") and isinstance(part.get("text"), str):
                yield TextSlot(part, "text", channel)
            elif kind == "tool_result":
                yield from _content_slots(part, "tool_result")
            elif kind == "document":
                source = part.get("source")
                if isinstance(source, dict) and isinstance(source.get("data"), str):
                    if source.get("type") == "text":
                        yield TextSlot(source, "data", "document")
                elif isinstance(source, dict) and source.get("type") == "content":
                    yield from _content_slots(source, "document")
            elif kind == "tool_use":
                yield from _string_slots(part, "input")


def _string_slots(container: dict[str, Any] | list[Any], key: str | int) -> Iterator[TextSlot]:
    """Every string nested in a tool call's arguments (a JSON object or its text)."""
    value = container[key]  # type: ignore[index]
    if isinstance(value, str):
        yield TextSlot(container, key, "tool_arguments")
    elif isinstance(value, dict):
        for inner in value:
            yield from _string_slots(value, inner)
    elif isinstance(value, list):
        for index in range(len(value)):
            yield from _string_slots(value, index)


def scanned_slots(request: GatewayRequest) -> list[TextSlot]:
    """The texts the content filter reads: user turns, tool results (``role: tool``,
    Anthropic ``tool_result``), documents, the arguments of earlier tool calls, and
    embedding input. System prompts and the assistant's own words are the agent's."""
    body = request.body
    if request.operation == EMBEDDINGS:
        value = body.get("input")
        if isinstance(value, str):
            return [TextSlot(body, "input")]
        if isinstance(value, list):
            return [TextSlot(value, i) for i, item in enumerate(value) if isinstance(item, str)]
        return []
    slots: list[TextSlot] = []
    for message in body.get("messages") or []:
        role = message.get("role")
        if role == "user":
            slots.extend(_content_slots(message, "user"))
        elif role in ("tool", "function"):
            slots.extend(_content_slots(message, "tool_result"))
        elif role == "assistant":
            for call in message.get("tool_calls") or []:
                function = call.get("function") if isinstance(call, dict) else None
                if isinstance(function, dict) and "arguments" in function:
                    slots.extend(_string_slots(function, "arguments"))
            if isinstance(message.get("content"), list):
                slots.extend(
                    slot
                    for slot in _content_slots(message, "assistant")
                    if slot.channel != "assistant"
                )
    return slots


def answer_slots(api: str, answer: dict[str, Any]) -> Iterator[TextSlot]:
    """The texts of a model's answer and the arguments of the tool calls it makes:
    what leaves the model toward the agent and its tools."""
    if api == OPENAI:
        for choice in answer.get("choices") or []:
            message = choice.get("message") if isinstance(choice, dict) else None
            if not isinstance(message, dict):
                continue
            if isinstance(message.get("content"), str):
                yield TextSlot(message, "content", "response")
            for call in message.get("tool_calls") or []:
                function = call.get("function") if isinstance(call, dict) else None
                if isinstance(function, dict) and "arguments" in function:
                    yield from _string_slots(function, "arguments")
    else:
        for block in answer.get("content") or []:
            if not isinstance(block, dict):
                continue
            if isinstance(block.get("text"), str):
                yield TextSlot(block, "text", "response")
            elif block.get("type") == "tool_use" and "input" in block:
                yield from _string_slots(block, "input")

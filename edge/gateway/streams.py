"""Streams between the agent's API and the provider's: ``StreamRelay`` turns the
provider's stream events into the agent's (across APIs too, tool-call deltas included)
and assembles the full answer for the record in a ``StreamCapture``."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from edge.gateway import sse
from edge.gateway.request import ANTHROPIC, OPENAI, GatewayRequest
from edge.gateway.translate import (
    ANTHROPIC_STOP,
    OPENAI_STOP,
    Usage,
    anthropic_usage,
    anthropic_usage_body,
    openai_usage,
    openai_usage_body,
    tool_arguments,
)


@dataclass
class StreamCapture:
    """What went by in a stream, to settle the budget and fill the record."""

    ident: str = ""
    model: str = ""
    text: list[str] = field(default_factory=list)
    tool_calls: dict[int, dict[str, Any]] = field(default_factory=dict)
    finish_reason: str | None = None
    usage: Usage | None = None
    completed: bool = False

    def openai_body(self) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": "".join(self.text)}
        if self.tool_calls:
            message["tool_calls"] = [
                _as_openai_call(self.tool_calls[i]) for i in sorted(self.tool_calls)
            ]
        body: dict[str, Any] = {
            "id": self.ident,
            "object": "chat.completion",
            "model": self.model,
            "choices": [{"index": 0, "message": message, "finish_reason": self.finish_reason}],
        }
        if self.usage is not None:
            body["usage"] = openai_usage_body(self.usage)
        return body

    def anthropic_body(self) -> dict[str, Any]:
        content: list[dict[str, Any]] = [{"type": "text", "text": "".join(self.text)}]
        for index in sorted(self.tool_calls):
            call = _as_anthropic_call(self.tool_calls[index])
            content.append(
                {"type": "tool_use", "id": call["id"], "name": call["name"], "input": call["input"]}
            )
        body: dict[str, Any] = {
            "id": self.ident,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": content,
            "stop_reason": self.finish_reason,
        }
        if self.usage is not None:
            body["usage"] = anthropic_usage_body(self.usage)
        return body


def _as_openai_call(call: dict[str, Any]) -> dict[str, Any]:
    """A tool call as the stream capture holds it (either API's shape) in OpenAI's."""
    if "function" in call:
        return call
    arguments = orjson.dumps(call.get("input") or {}).decode()
    return {
        "id": call.get("id", ""),
        "type": "function",
        "function": {"name": call.get("name", ""), "arguments": arguments},
    }


def _as_anthropic_call(call: dict[str, Any]) -> dict[str, Any]:
    if "function" not in call:
        return call
    function = call["function"]
    return {
        "id": call.get("id", ""),
        "name": function.get("name", ""),
        "input": tool_arguments(function.get("arguments")),
    }


def _json(data: str) -> dict[str, Any] | None:
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


class StreamRelay:
    """Turns the provider's stream events into the agent's, recording as it goes."""

    def __init__(self, request: GatewayRequest, kind: str) -> None:
        self.agent_api = request.api
        self.kind = kind
        self.include_usage = request.include_usage
        self.capture = StreamCapture()
        self._started = False
        self._input_tokens = 0
        self._anthropic_start = Usage(0, 0)
        # Anthropic events made from an OpenAI stream: the open content block, the next
        # block index, and the block of each OpenAI tool call index.
        self._open: tuple[int, str] | None = None
        self._next_block = 0
        self._call_blocks: dict[int, int] = {}
        # OpenAI chunks made from an Anthropic stream: the call index of each tool block.
        self._call_numbers: dict[int, int] = {}

    def feed(self, events: Iterable[sse.Event]) -> bytes:
        out = []
        for event in events:
            if self.kind == OPENAI:
                out.append(self._from_openai(event))
            else:
                out.append(self._from_anthropic(event))
        return b"".join(out)

    def body(self) -> dict[str, Any]:
        """The whole answer in the agent's API, as the record keeps it."""
        if self.agent_api == OPENAI:
            return self.capture.openai_body()
        return self.capture.anthropic_body()

    # OpenAI upstream ------------------------------------------------------------------

    def _from_openai(self, event: sse.Event) -> bytes:
        capture = self.capture
        if event.data.strip() == "[DONE]":
            capture.completed = True
            return event.raw if self.agent_api == OPENAI else self._anthropic_tail()
        chunk = _json(event.data)
        if chunk is None:
            return event.raw if self.agent_api == OPENAI else b""
        capture.ident = capture.ident or str(chunk.get("id") or "")
        capture.model = capture.model or str(chunk.get("model") or "")
        usage = openai_usage(chunk.get("usage"))
        if usage is not None:
            capture.usage = usage
        choices = chunk.get("choices") or []
        text = ""
        for choice in choices:
            if not isinstance(choice, dict):
                continue
            delta = choice.get("delta") or {}
            piece = delta.get("content")
            if isinstance(piece, str):
                text += piece
            calls = [call for call in delta.get("tool_calls") or [] if isinstance(call, dict)]
            for call in calls:
                self._openai_tool_delta(call)
            if choice.get("finish_reason"):
                capture.finish_reason = str(choice["finish_reason"])
        if text:
            capture.text.append(text)
        if self.agent_api == OPENAI:
            # The gateway always asks for usage; an agent that did not gets no usage chunk.
            if not choices and usage is not None and not self.include_usage:
                return b""
            return event.raw
        calls = [
            call
            for choice in choices
            if isinstance(choice, dict)
            for call in (choice.get("delta") or {}).get("tool_calls") or []
            if isinstance(call, dict)
        ]
        return self._anthropic_events(text, calls)

    def _openai_tool_delta(self, call: Any) -> None:
        if not isinstance(call, dict):
            return
        index = call.get("index", 0)
        entry = self.capture.tool_calls.setdefault(
            index, {"id": "", "type": "function", "function": {"name": "", "arguments": ""}}
        )
        if call.get("id"):
            entry["id"] = call["id"]
        function = call.get("function") or {}
        entry["function"]["name"] += function.get("name") or ""
        entry["function"]["arguments"] += function.get("arguments") or ""

    def _block_start(self, block: dict[str, Any], kind: str) -> bytes:
        out = self._block_stop()
        index, self._next_block = self._next_block, self._next_block + 1
        self._open = (index, kind)
        start = {"type": "content_block_start", "index": index, "content_block": block}
        return out + sse.encode(orjson.dumps(start), "content_block_start")

    def _block_stop(self) -> bytes:
        if self._open is None:
            return b""
        index, self._open = self._open[0], None
        stop = {"type": "content_block_stop", "index": index}
        return sse.encode(orjson.dumps(stop), "content_block_stop")

    def _anthropic_events(self, text: str, calls: Sequence[dict[str, Any]] = ()) -> bytes:
        out = b""
        if not self._started:
            self._started = True
            start = {
                "type": "message_start",
                "message": {
                    "id": f"msg_{self.capture.ident or uuid.uuid4().hex}",
                    "type": "message",
                    "role": "assistant",
                    "model": self.capture.model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {"input_tokens": 0, "output_tokens": 0},
                },
            }
            out += sse.encode(orjson.dumps(start), "message_start")
        if text:
            if self._open is None or self._open[1] != "text":
                out += self._block_start({"type": "text", "text": ""}, "text")
            delta = {
                "type": "content_block_delta",
                "index": self._open[0] if self._open else 0,
                "delta": {"type": "text_delta", "text": text},
            }
            out += sse.encode(orjson.dumps(delta), "content_block_delta")
        for call in calls:
            number = int(call.get("index", 0))
            function = call.get("function") or {}
            if number not in self._call_blocks:
                block = {
                    "type": "tool_use",
                    "id": str(call.get("id") or ""),
                    "name": str(function.get("name") or ""),
                    "input": {},
                }
                out += self._block_start(block, "tool_use")
                self._call_blocks[number] = self._next_block - 1
            if function.get("arguments"):
                delta = {
                    "type": "content_block_delta",
                    "index": self._call_blocks[number],
                    "delta": {"type": "input_json_delta", "partial_json": function["arguments"]},
                }
                out += sse.encode(orjson.dumps(delta), "content_block_delta")
        return out

    def _anthropic_tail(self) -> bytes:
        out = self._anthropic_events("")
        if self._next_block == 0:
            out += self._block_start({"type": "text", "text": ""}, "text")
        out += self._block_stop()
        usage = self.capture.usage or Usage(0, 0)
        stop = ANTHROPIC_STOP.get(str(self.capture.finish_reason), "end_turn")
        delta = {
            "type": "message_delta",
            "delta": {"stop_reason": stop, "stop_sequence": None},
            "usage": anthropic_usage_body(usage),
        }
        out += sse.encode(orjson.dumps(delta), "message_delta")
        out += sse.encode(orjson.dumps({"type": "message_stop"}), "message_stop")
        return out

    # Anthropic upstream ---------------------------------------------------------------

    def _from_anthropic(self, event: sse.Event) -> bytes:
        capture = self.capture
        payload = _json(event.data)
        if payload is None:
            return event.raw if self.agent_api == ANTHROPIC else b""
        kind = payload.get("type") or event.name
        text = ""
        tool_chunk: dict[str, Any] | None = None
        if kind == "message_start":
            message = payload.get("message") or {}
            capture.ident = str(message.get("id") or "")
            capture.model = str(message.get("model") or "")
            usage = anthropic_usage(message.get("usage")) or Usage(0, 0)
            self._anthropic_start = usage
            capture.usage = usage
        elif kind == "content_block_start":
            block = payload.get("content_block") or {}
            if block.get("type") == "tool_use":
                index = int(payload.get("index", 0))
                capture.tool_calls[index] = {
                    "id": block.get("id", ""),
                    "name": block.get("name", ""),
                    "input": {},
                    "partial": "",
                }
                self._call_numbers[index] = len(self._call_numbers)
                opening = {
                    "index": self._call_numbers[index],
                    "id": block.get("id", ""),
                    "type": "function",
                    "function": {"name": block.get("name", ""), "arguments": ""},
                }
                tool_chunk = {"tool_calls": [opening]}
        elif kind == "content_block_delta":
            delta = payload.get("delta") or {}
            if delta.get("type") == "text_delta":
                text = str(delta.get("text", ""))
                capture.text.append(text)
            elif delta.get("type") == "input_json_delta":
                index = int(payload.get("index", 0))
                call = capture.tool_calls.get(index)
                if call is not None:
                    piece = str(delta.get("partial_json", ""))
                    call["partial"] += piece
                    if piece:
                        arguments = {
                            "index": self._call_numbers[index],
                            "function": {"arguments": piece},
                        }
                        tool_chunk = {"tool_calls": [arguments]}
        elif kind == "content_block_stop":
            call = capture.tool_calls.get(int(payload.get("index", 0)))
            if call is not None:
                call["input"] = _json(call.pop("partial") or "{}") or {}
        elif kind == "message_delta":
            delta = payload.get("delta") or {}
            capture.finish_reason = delta.get("stop_reason") or capture.finish_reason
            # Cumulative counts; input appears here only in newer API versions.
            counts = anthropic_usage(payload.get("usage") or {}) or Usage(0, 0)
            start = self._anthropic_start if not counts.input_tokens else counts
            capture.usage = Usage.of(
                start.input_tokens,
                counts.output_tokens,
                cached_input_tokens=start.cached_input_tokens,
                cache_write_tokens=start.cache_write_tokens,
            )
        elif kind == "message_stop":
            capture.completed = True
        if self.agent_api == ANTHROPIC:
            return event.raw
        if tool_chunk is not None:
            return sse.encode(orjson.dumps(self._openai_chunk(tool_chunk, None)))
        return self._openai_chunks(kind, text)

    def _openai_chunk(self, delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
        return {
            "id": f"chatcmpl-{self.capture.ident}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": self.capture.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
        }

    def _openai_chunks(self, kind: str, text: str) -> bytes:
        if kind == "message_start":
            return sse.encode(
                orjson.dumps(self._openai_chunk({"role": "assistant", "content": ""}, None))
            )
        if text:
            return sse.encode(orjson.dumps(self._openai_chunk({"content": text}, None)))
        if kind == "message_delta":
            finish = OPENAI_STOP.get(str(self.capture.finish_reason), "stop")
            return sse.encode(orjson.dumps(self._openai_chunk({}, finish)))
        if kind == "message_stop":
            out = b""
            if self.include_usage and self.capture.usage is not None:
                usage = self.capture.usage
                chunk = {
                    **self._openai_chunk({}, None),
                    "choices": [],
                    "usage": openai_usage_body(usage),
                }
                out += sse.encode(orjson.dumps(chunk))
            return out + b"data: [DONE]\n\n"
        return b""

"""The OpenAI Responses API (``POST /v1/responses``) on the same pipeline as chat
completions: the request becomes a chat completion request (instructions, input text
and items, function tools and their calls and outputs, output cap, sampling), the
gateway serves it as any other — authentication, policy, content filter, cache, budget,
route (to OpenAI or Anthropic providers), capture — and the answer or stream comes back
as a Response object or its server-sent events.

Stateless only: ``previous_response_id``, ``store: true`` retrieval and built-in tools
(web search, file search, computer use) are refused as malformed, since the edge keeps
no conversation state and cannot run those tools.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Iterable
from typing import Any

import orjson

from edge.gateway import sse
from edge.gateway.request import malformed

RESPONSES = "responses"
_PASSED = ("temperature", "top_p", "user", "metadata", "parallel_tool_calls")


# --- the request -------------------------------------------------------------------------


def _text_of(content: Any) -> str | list[dict[str, Any]]:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise malformed("a message's content must be a string or an array of parts")
    parts: list[dict[str, Any]] = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("input_text", "output_text", "text"):
            parts.append({"type": "text", "text": str(part.get("text", ""))})
        elif kind == "input_image" and isinstance(part.get("image_url"), str):
            parts.append({"type": "image_url", "image_url": {"url": part["image_url"]}})
        else:
            raise malformed(f"input part type {kind!r} is not supported here")
    return parts


def _messages(items: list[Any]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    for item in items:
        if not isinstance(item, dict):
            raise malformed("input items must be objects")
        kind = item.get("type", "message")
        if kind == "message":
            role = item.get("role")
            if role not in ("user", "assistant", "system", "developer"):
                raise malformed(f"input message role {role!r} is not supported")
            messages.append({"role": role, "content": _text_of(item.get("content", ""))})
        elif kind == "function_call":
            call = {
                "id": str(item.get("call_id") or item.get("id") or ""),
                "type": "function",
                "function": {"name": item.get("name"), "arguments": item.get("arguments", "")},
            }
            last = messages[-1] if messages else None
            if last and last["role"] == "assistant" and "tool_calls" in last:
                last["tool_calls"].append(call)  # parallel calls: one assistant turn
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            output = item.get("output", "")
            messages.append(
                {
                    "role": "tool",
                    "tool_call_id": str(item.get("call_id", "")),
                    "content": output if isinstance(output, str) else orjson.dumps(output).decode(),
                }
            )
        else:
            raise malformed(f"input item type {kind!r} is not supported here")
    return messages


def _tools(tools: Any) -> list[dict[str, Any]]:
    if not isinstance(tools, list):
        raise malformed("tools must be an array")
    converted = []
    for tool in tools:
        if not isinstance(tool, dict) or tool.get("type") != "function":
            kind = tool.get("type") if isinstance(tool, dict) else None
            raise malformed(f"tool type {kind!r} is not supported here (function tools only)")
        function = {"name": tool.get("name"), "parameters": tool.get("parameters") or {}}
        if tool.get("description"):
            function["description"] = tool["description"]
        if tool.get("strict") is not None:
            function["strict"] = tool["strict"]
        converted.append({"type": "function", "function": function})
    return converted


def _tool_choice(choice: Any) -> Any:
    if isinstance(choice, dict) and choice.get("type") == "function":
        return {"type": "function", "function": {"name": choice.get("name")}}
    return choice


def chat_request(raw: bytes) -> dict[str, Any]:
    """The chat completion request a Responses request asks for."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise malformed("the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise malformed("the body must be a JSON object")
    if body.get("previous_response_id"):
        raise malformed("previous_response_id is not supported: send the whole conversation")
    source = body.get("input")
    if isinstance(source, str):
        messages = [{"role": "user", "content": source}]
    elif isinstance(source, list):
        messages = _messages(source)
    else:
        raise malformed("input must be a string or an array of items")
    if isinstance(body.get("instructions"), str):
        messages.insert(0, {"role": "system", "content": body["instructions"]})
    chat: dict[str, Any] = {"model": body.get("model"), "messages": messages}
    for key in _PASSED:
        if body.get(key) is not None:
            chat[key] = body[key]
    if body.get("max_output_tokens") is not None:
        chat["max_tokens"] = body["max_output_tokens"]
    if body.get("tools"):
        chat["tools"] = _tools(body["tools"])
    if body.get("tool_choice") is not None and body.get("tools"):
        chat["tool_choice"] = _tool_choice(body["tool_choice"])
    text_format = (
        (body.get("text") or {}).get("format") if isinstance(body.get("text"), dict) else None
    )
    if isinstance(text_format, dict) and text_format.get("type") == "json_schema":
        schema = {k: v for k, v in text_format.items() if k != "type"}
        chat["response_format"] = {"type": "json_schema", "json_schema": schema}
    elif isinstance(text_format, dict) and text_format.get("type") == "json_object":
        chat["response_format"] = {"type": "json_object"}
    if body.get("stream") is True:
        chat["stream"] = True
        chat["stream_options"] = {"include_usage": True}
    return chat


# --- the answer --------------------------------------------------------------------------


def _usage(usage: Any) -> dict[str, Any] | None:
    if not isinstance(usage, dict):
        return None
    prompt = int(usage.get("prompt_tokens") or 0)
    completion = int(usage.get("completion_tokens") or 0)
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": prompt + completion,
    }


def _message_item(text: str, item_id: str, status: str = "completed") -> dict[str, Any]:
    content = (
        [{"type": "output_text", "text": text, "annotations": []}] if status == "completed" else []
    )
    return {
        "type": "message",
        "id": item_id,
        "status": status,
        "role": "assistant",
        "content": content,
    }


def _call_item(call: dict[str, Any], status: str = "completed") -> dict[str, Any]:
    function = call.get("function") or {}
    call_id = str(call.get("id") or f"call_{uuid.uuid4().hex[:24]}")
    return {
        "type": "function_call",
        "id": f"fc_{call_id}",
        "call_id": call_id,
        "name": function.get("name", ""),
        "arguments": function.get("arguments", "") if status == "completed" else "",
        "status": status,
    }


def response_object(
    request: dict[str, Any],
    *,
    response_id: str,
    model: str,
    output: list[dict[str, Any]],
    usage: dict[str, Any] | None,
    status: str = "completed",
    incomplete: str | None = None,
) -> dict[str, Any]:
    return {
        "id": response_id,
        "object": "response",
        "created_at": int(time.time()),
        "status": status,
        "model": model,
        "output": output,
        "usage": usage,
        "error": None,
        "incomplete_details": {"reason": incomplete} if incomplete else None,
        "instructions": request.get("instructions"),
        "max_output_tokens": request.get("max_output_tokens"),
        "metadata": request.get("metadata") or {},
        "parallel_tool_calls": request.get("parallel_tool_calls", True),
        "previous_response_id": None,
        "reasoning": None,
        "temperature": request.get("temperature"),
        "text": request.get("text") or {"format": {"type": "text"}},
        "tool_choice": request.get("tool_choice", "auto"),
        "tools": request.get("tools") or [],
        "top_p": request.get("top_p"),
        "truncation": "disabled",
    }


def response_from_completion(request: dict[str, Any], completion: dict[str, Any]) -> dict[str, Any]:
    choices = completion.get("choices") or [{}]
    choice = choices[0] if isinstance(choices[0], dict) else {}
    message = choice.get("message") or {}
    base = str(completion.get("id") or uuid.uuid4().hex)
    output: list[dict[str, Any]] = []
    if message.get("content"):
        output.append(_message_item(str(message["content"]), f"msg_{base}"))
    for call in message.get("tool_calls") or []:
        if isinstance(call, dict):
            output.append(_call_item(call))
    cut = choice.get("finish_reason") == "length"
    return response_object(
        request,
        response_id=f"resp_{base}",
        model=str(completion.get("model") or request.get("model") or ""),
        output=output,
        usage=_usage(completion.get("usage")),
        status="incomplete" if cut else "completed",
        incomplete="max_output_tokens" if cut else None,
    )


class StreamTranslator:
    """Chat completion chunks in, Responses events out."""

    def __init__(self, request: dict[str, Any]) -> None:
        self.request = request
        self.parser = sse.Parser()
        self.sequence = 0
        self.response_id = f"resp_{uuid.uuid4().hex}"
        self.model = str(request.get("model") or "")
        self.started = False
        self.text: list[str] = []
        self.text_open = False
        self.calls: dict[int, dict[str, Any]] = {}
        self.output: list[dict[str, Any]] = []
        self.usage: dict[str, Any] | None = None
        self.finish: str | None = None
        self.message_id = f"msg_{uuid.uuid4().hex}"
        self.done = False

    def _event(self, kind: str, **fields: Any) -> bytes:
        payload = {"type": kind, "sequence_number": self.sequence, **fields}
        self.sequence += 1
        return sse.encode(orjson.dumps(payload), kind)

    def _snapshot(self, status: str) -> dict[str, Any]:
        return response_object(
            self.request,
            response_id=self.response_id,
            model=self.model,
            output=list(self.output),
            usage=self.usage,
            status=status,
        )

    def feed(self, chunk: bytes) -> bytes:
        return b"".join(self._chunk(event.data) for event in self.parser.feed(chunk))

    def close(self) -> bytes:
        out = b"".join(self._chunk(event.data) for event in self.parser.close())
        return out + (b"" if self.done else self._finish())

    def _begin(self) -> bytes:
        if self.started:
            return b""
        self.started = True
        out = self._event("response.created", response=self._snapshot("in_progress"))
        return out + self._event("response.in_progress", response=self._snapshot("in_progress"))

    def _open_text(self) -> bytes:
        if self.text_open:
            return b""
        self.text_open = True
        index = len(self.output)
        self.output.append(_message_item("", self.message_id, "in_progress"))
        self.text_index = index
        out = self._event("response.output_item.added", output_index=index, item=self.output[index])
        part = {"type": "output_text", "text": "", "annotations": []}
        return out + self._event(
            "response.content_part.added",
            item_id=self.message_id,
            output_index=index,
            content_index=0,
            part=part,
        )

    def _close_text(self) -> bytes:
        if not self.text_open:
            return b""
        self.text_open = False
        text = "".join(self.text)
        index = self.text_index
        item = _message_item(text, self.message_id)
        self.output[index] = item
        out = self._event(
            "response.output_text.done",
            item_id=self.message_id,
            output_index=index,
            content_index=0,
            text=text,
        )
        out += self._event(
            "response.content_part.done",
            item_id=self.message_id,
            output_index=index,
            content_index=0,
            part=item["content"][0],
        )
        return out + self._event("response.output_item.done", output_index=index, item=item)

    def _call_delta(self, delta: dict[str, Any]) -> bytes:
        out = b""
        position = int(delta.get("index", 0))
        function = delta.get("function") or {}
        call = self.calls.get(position)
        if call is None:
            out += self._close_text()
            call = {"id": delta.get("id") or "", "function": {"name": "", "arguments": ""}}
            call["function"]["name"] = function.get("name") or ""
            item = _call_item(call, "in_progress")
            call["item_id"], call["output_index"] = item["id"], len(self.output)
            self.output.append(item)
            self.calls[position] = call
            out += self._event(
                "response.output_item.added", output_index=call["output_index"], item=item
            )
        elif function.get("name"):
            call["function"]["name"] += function["name"]
        piece = function.get("arguments") or ""
        if piece:
            call["function"]["arguments"] += piece
            out += self._event(
                "response.function_call_arguments.delta",
                item_id=call["item_id"],
                output_index=call["output_index"],
                delta=piece,
            )
        return out

    def _chunk(self, data: str) -> bytes:
        if self.done:
            return b""
        if data.strip() == "[DONE]":
            return self._finish()
        try:
            chunk = orjson.loads(data)
        except orjson.JSONDecodeError:
            return b""
        if not isinstance(chunk, dict):
            return b""
        if isinstance(chunk.get("error"), dict):
            self.done = True
            error = chunk["error"]
            return self._event(
                "error", code=error.get("code"), message=error.get("message", ""), param=None
            )
        out = self._begin()
        self.model = str(chunk.get("model") or self.model)
        if isinstance(chunk.get("usage"), dict):
            self.usage = _usage(chunk["usage"])
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            if isinstance(delta.get("content"), str) and delta["content"]:
                out += self._open_text()
                self.text.append(delta["content"])
                out += self._event(
                    "response.output_text.delta",
                    item_id=self.message_id,
                    output_index=self.text_index,
                    content_index=0,
                    delta=delta["content"],
                )
            for call in delta.get("tool_calls") or []:
                if isinstance(call, dict):
                    out += self._call_delta(call)
            if choice.get("finish_reason"):
                self.finish = str(choice["finish_reason"])
        return out

    def _finish(self) -> bytes:
        self.done = True
        out = self._begin() + self._close_text()
        for call in self.calls.values():
            item = _call_item(call)
            item["id"] = call["item_id"]
            self.output[call["output_index"]] = item
            out += self._event(
                "response.function_call_arguments.done",
                item_id=call["item_id"],
                output_index=call["output_index"],
                arguments=item["arguments"],
            )
            out += self._event(
                "response.output_item.done", output_index=call["output_index"], item=item
            )
        if self.finish == "length":
            snapshot = self._snapshot("incomplete")
            snapshot["incomplete_details"] = {"reason": "max_output_tokens"}
            return out + self._event("response.incomplete", response=snapshot)
        return out + self._event("response.completed", response=self._snapshot("completed"))


async def translated(
    translator: StreamTranslator, chunks: AsyncIterator[bytes]
) -> AsyncIterator[bytes]:
    async for chunk in chunks:
        out = translator.feed(chunk)
        if out:
            yield out
    tail = translator.close()
    if tail:
        yield tail


def translate_all(translator: StreamTranslator, chunks: Iterable[bytes]) -> bytes:
    return b"".join(translator.feed(chunk) for chunk in chunks) + translator.close()

"""A simulated model provider for demos, tests and benchmarks: no model, no network.

    python -m edge.simprovider --port 4400 [--latency-ms 30] [--error-rate 0.0]
                               [--rate-limit-rate 0.0] [--seed N] [--api-key KEY]
                               [--stream-delay-ms 0]

It speaks the OpenAI API (``/v1/chat/completions`` streamed or not, with
``stream_options.include_usage``; ``/v1/embeddings``; ``/v1/models``) and the Anthropic
API (``/v1/messages`` streamed or not). Answers are deterministic: a token is 4
characters of text (rounded up), the reply to a prompt is always the same, and its
length is capped by ``max_tokens``. Failures are injected at the configured rates: 500,
or 429 with ``Retry-After``; a conversation without messages is a 400, as the real APIs
answer. ``GET /_sim/stats`` counts what it was asked.

Tests run it in-process on a free port with :func:`serve_in_thread` and may change the
rates of the running instance (``running.sim.error_rate = 1.0``).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import threading
import time
import uuid
import zlib
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

DEFAULT_MODELS = ("gpt-4o-mini", "gpt-4o", "text-embedding-3-small", "claude-haiku-4-5")
CHARS_PER_TOKEN = 4
DEFAULT_OUTPUT_TOKENS = 64
EMBEDDING_DIMENSIONS = 8
_CHUNK_TOKENS = 4
_WORDS = (
    "the edge node routes each request to a provider and records what it cost "
    "so that every agent is metered and every answer is kept for review "
)


def count_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def _texts(value: Any) -> Iterator[str]:
    """Every text in a message content (a string, or OpenAI/Anthropic parts)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for part in value:
            if isinstance(part, dict):
                if isinstance(part.get("text"), str):
                    yield part["text"]
                yield from _texts(part.get("content"))
            elif isinstance(part, str):
                yield part


def prompt_text(body: dict[str, Any]) -> str:
    texts = list(_texts(body.get("system")))
    for message in body.get("messages") or []:
        if isinstance(message, dict):
            texts.extend(_texts(message.get("content")))
    return "\n".join(texts)


# A prompt carrying this marker gets the rest of its line back, reversed: an answer with
# content the request did not show (tests of the gateway's response filter).
ECHO_REVERSED = "sim-echo-reversed:"


def reply_text(prompt: str, max_tokens: int | None) -> tuple[str, bool]:
    """The deterministic reply to ``prompt`` and whether ``max_tokens`` cut it."""
    marker = prompt.find(ECHO_REVERSED)
    if marker >= 0:
        line = prompt[marker + len(ECHO_REVERSED) :].split("\n", 1)[0].strip()
        return line[::-1], False
    wanted = 16 + zlib.crc32(prompt.encode()) % DEFAULT_OUTPUT_TOKENS
    tokens = wanted if max_tokens is None else max(0, min(wanted, max_tokens))
    length = tokens * CHARS_PER_TOKEN
    text = (_WORDS * (length // len(_WORDS) + 1))[:length]
    return text, tokens < wanted


def tool_calls(body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The tools the simulated model calls: when tools are offered and the last turn is
    the user's own words (not tool results), the first tool — the first two when the
    user asks for them "in parallel" — with the user's words as ``query``."""
    tools = body.get("tools") or []
    messages = body.get("messages") or []
    if not tools or not messages or body.get("tool_choice") in ("none", {"type": "none"}):
        return []
    last = messages[-1]
    if not isinstance(last, dict) or last.get("role") != "user":
        return []
    content = last.get("content")
    if isinstance(content, list) and any(
        isinstance(part, dict) and part.get("type") == "tool_result" for part in content
    ):
        return []
    words = "\n".join(_texts(content))
    names = [
        str((tool.get("function") or tool).get("name", ""))
        for tool in tools
        if isinstance(tool, dict)
    ]
    chosen = names[:2] if "in parallel" in words.lower() else names[:1]
    return [(name, {"query": words[:60]}) for name in chosen]


@dataclass
class SimProvider:
    latency_ms: float = 0.0
    error_rate: float = 0.0
    rate_limit_rate: float = 0.0
    seed: int | None = None
    api_key: str | None = None
    stream_delay_ms: float = 0.0
    """Pause between streamed chunks (latency is before the first)."""
    models: tuple[str, ...] = DEFAULT_MODELS
    stats: Counter[str] = field(default_factory=Counter)
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)  # noqa: S311 - fault injection, not security

    async def _fault(self, request: Request, api: str) -> Response | None:
        self.stats["requests"] += 1
        if self.latency_ms > 0:
            await asyncio.sleep(self.latency_ms / 1000)
        if self.api_key is not None:
            offered = request.headers.get("x-api-key") or request.headers.get(
                "authorization", ""
            ).removeprefix("Bearer ")
            if offered != self.api_key:
                self.stats["unauthorized"] += 1
                return _error(api, 401, "authentication_error", "invalid api key")
        draw = self.rng.random()
        if draw < self.error_rate:
            self.stats["errors"] += 1
            return _error(api, 500, "api_error", "simulated provider failure")
        if draw < self.error_rate + self.rate_limit_rate:
            self.stats["rate_limited"] += 1
            return _error(api, 429, "rate_limit_error", "simulated rate limit", retry_after=1)
        return None

    async def chat(self, request: Request) -> Response:
        if (fault := await self._fault(request, "openai")) is not None:
            return fault
        body = orjson.loads(await request.body())
        if not body.get("messages"):
            return _error("openai", 400, "invalid_request_error", "messages must not be empty")
        model = str(body.get("model") or "")
        cap = body.get("max_completion_tokens", body.get("max_tokens"))
        prompt = prompt_text(body)
        text, cut = reply_text(prompt, cap)
        usage = {
            "prompt_tokens": count_tokens(prompt),
            "completion_tokens": count_tokens(text),
            "total_tokens": count_tokens(prompt) + count_tokens(text),
        }
        finish = "length" if cut else "stop"
        ident, created = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time())
        self.stats["chat"] += 1
        calls: list[dict[str, Any]] = [
            {
                "id": f"call_{uuid.uuid4().hex[:20]}",
                "type": "function",
                "function": {"name": name, "arguments": orjson.dumps(arguments).decode()},
            }
            for name, arguments in tool_calls(body)
        ]
        if calls:
            self.stats["tool_calls"] += len(calls)
            text, finish = "", "tool_calls"
            output = sum(count_tokens(c["function"]["arguments"]) for c in calls)
            usage.update(completion_tokens=output, total_tokens=usage["prompt_tokens"] + output)
        if not body.get("stream"):
            message: dict[str, Any] = {
                "role": "assistant",
                "content": text or None,
                "refusal": None,
            }
            if calls:
                message["tool_calls"] = calls
            return _json(
                {
                    "id": ident,
                    "object": "chat.completion",
                    "created": created,
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "message": message,
                            "finish_reason": finish,
                            "logprobs": None,
                        }
                    ],
                    "usage": usage,
                }
            )
        options = body.get("stream_options") or {}
        include_usage = bool(options.get("include_usage"))

        def chunk(delta: dict[str, Any], finish_reason: str | None) -> bytes:
            payload = {
                "id": ident,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [
                    {"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}
                ],
            }
            if include_usage:
                payload["usage"] = None
            return b"data: " + orjson.dumps(payload) + b"\n\n"

        async def events() -> AsyncIterator[bytes]:
            yield chunk({"role": "assistant", "content": ""}, None)
            for piece in _pieces(text):
                await self._pause()
                yield chunk({"content": piece}, None)
            for number, call in enumerate(calls):
                opening = {
                    **call,
                    "index": number,
                    "function": {**call["function"], "arguments": ""},
                }
                yield chunk({"tool_calls": [opening]}, None)
                for piece in _pieces(call["function"]["arguments"]):
                    await self._pause()
                    yield chunk(
                        {"tool_calls": [{"index": number, "function": {"arguments": piece}}]}, None
                    )
            yield chunk({}, finish)
            if include_usage:
                final = {
                    "id": ident,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model,
                    "choices": [],
                    "usage": usage,
                }
                yield b"data: " + orjson.dumps(final) + b"\n\n"
            yield b"data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    async def embeddings(self, request: Request) -> Response:
        if (fault := await self._fault(request, "openai")) is not None:
            return fault
        body = orjson.loads(await request.body())
        inputs = body.get("input")
        items = inputs if isinstance(inputs, list) else [inputs]
        dimensions = int(body.get("dimensions") or EMBEDDING_DIMENSIONS)
        data, tokens = [], 0
        for index, item in enumerate(items):
            text = item if isinstance(item, str) else orjson.dumps(item).decode()
            tokens += count_tokens(text)
            seed = random.Random(zlib.crc32(text.encode()))  # noqa: S311
            vector = [round(seed.uniform(-1, 1), 6) for _ in range(dimensions)]
            data.append({"object": "embedding", "index": index, "embedding": vector})
        self.stats["embeddings"] += 1
        return _json(
            {
                "object": "list",
                "data": data,
                "model": body.get("model"),
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )

    async def list_models(self, request: Request) -> Response:
        self.stats["models"] += 1
        return _json(
            {
                "object": "list",
                "data": [
                    {"id": name, "object": "model", "created": 0, "owned_by": "simulated"}
                    for name in self.models
                ],
            }
        )

    async def messages(self, request: Request) -> Response:
        if (fault := await self._fault(request, "anthropic")) is not None:
            return fault
        body = orjson.loads(await request.body())
        if not body.get("messages"):
            return _error("anthropic", 400, "invalid_request_error", "messages: too short")
        model = str(body.get("model") or "")
        prompt = prompt_text(body)
        text, cut = reply_text(prompt, body.get("max_tokens"))
        input_tokens, output_tokens = count_tokens(prompt), count_tokens(text)
        stop = "max_tokens" if cut else "end_turn"
        ident = f"msg_{uuid.uuid4().hex[:24]}"
        self.stats["messages"] += 1
        content: list[dict[str, Any]] = [{"type": "text", "text": text}]
        uses = [
            {
                "type": "tool_use",
                "id": f"toolu_{uuid.uuid4().hex[:20]}",
                "name": name,
                "input": arguments,
            }
            for name, arguments in tool_calls(body)
        ]
        if uses:
            self.stats["tool_calls"] += len(uses)
            content, stop = uses, "tool_use"
            output_tokens = sum(count_tokens(orjson.dumps(use["input"]).decode()) for use in uses)
        message = {
            "id": ident,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content,
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
        }
        if not body.get("stream"):
            return _json(message)

        def event(name: str, payload: dict[str, Any]) -> bytes:
            return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"

        async def events() -> AsyncIterator[bytes]:
            start = {
                **message,
                "content": [],
                "stop_reason": None,
                "usage": {"input_tokens": input_tokens, "output_tokens": 1},
            }
            yield event("message_start", {"type": "message_start", "message": start})
            yield event("ping", {"type": "ping"})
            for index, block in enumerate(content):
                if block["type"] == "tool_use":
                    opening = {**block, "input": {}}
                    pieces = [
                        {"type": "input_json_delta", "partial_json": piece}
                        for piece in _pieces(orjson.dumps(block["input"]).decode())
                    ]
                else:
                    opening = {"type": "text", "text": ""}
                    pieces = [{"type": "text_delta", "text": piece} for piece in _pieces(text)]
                yield event(
                    "content_block_start",
                    {"type": "content_block_start", "index": index, "content_block": opening},
                )
                for delta in pieces:
                    await self._pause()
                    yield event(
                        "content_block_delta",
                        {"type": "content_block_delta", "index": index, "delta": delta},
                    )
                yield event("content_block_stop", {"type": "content_block_stop", "index": index})
            yield event(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": stop, "stop_sequence": None},
                    "usage": {"output_tokens": output_tokens},
                },
            )
            yield event("message_stop", {"type": "message_stop"})

        return StreamingResponse(events(), media_type="text/event-stream")

    async def _pause(self) -> None:
        if self.stream_delay_ms > 0:
            await asyncio.sleep(self.stream_delay_ms / 1000)

    async def show_stats(self, request: Request) -> Response:
        return _json(dict(self.stats))


def _pieces(text: str) -> Iterator[str]:
    size = _CHUNK_TOKENS * CHARS_PER_TOKEN
    for start in range(0, len(text), size):
        yield text[start : start + size]


def _json(content: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(content), status, headers, media_type="application/json")


def _error(
    api: str, status: int, kind: str, message: str, retry_after: int | None = None
) -> Response:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    if api == "anthropic":
        body: dict[str, Any] = {"type": "error", "error": {"type": kind, "message": message}}
    else:
        body = {"error": {"message": message, "type": kind, "code": None, "param": None}}
    return _json(body, status, headers)


def create_app(sim: SimProvider | None = None) -> Starlette:
    sim = sim or SimProvider()
    app = Starlette(
        routes=[
            Route("/v1/chat/completions", sim.chat, methods=["POST"]),
            Route("/v1/embeddings", sim.embeddings, methods=["POST"]),
            Route("/v1/models", sim.list_models, methods=["GET"]),
            Route("/v1/messages", sim.messages, methods=["POST"]),
            Route("/_sim/stats", sim.show_stats, methods=["GET"]),
        ]
    )
    app.state.sim = sim
    return app


@dataclass
class RunningSim:
    sim: SimProvider
    server: uvicorn.Server
    thread: threading.Thread
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def serve_in_thread(sim: SimProvider | None = None, port: int = 0) -> RunningSim:
    """Serve on 127.0.0.1 (a free port when 0) in a daemon thread; ``stop()`` ends it."""
    sim = sim or SimProvider()
    config = uvicorn.Config(
        create_app(sim), host="127.0.0.1", port=port, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="simprovider", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the simulated provider did not start")
        time.sleep(0.01)
    bound = server.servers[0].sockets[0].getsockname()[1]
    return RunningSim(sim=sim, server=server, thread=thread, port=bound)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Simulated OpenAI/Anthropic provider.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4400)
    parser.add_argument("--latency-ms", type=float, default=30.0)
    parser.add_argument("--error-rate", type=float, default=0.0)
    parser.add_argument("--rate-limit-rate", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--api-key", default=None, help="require this key when given")
    parser.add_argument("--stream-delay-ms", type=float, default=0.0)
    args = parser.parse_args(argv)
    sim = SimProvider(
        latency_ms=args.latency_ms,
        error_rate=args.error_rate,
        rate_limit_rate=args.rate_limit_rate,
        seed=args.seed,
        api_key=args.api_key,
        stream_delay_ms=args.stream_delay_ms,
    )
    uvicorn.run(
        create_app(sim),
        host=args.host,
        port=args.port,
        log_level="warning",
        access_log=False,
        server_header=False,
    )


if __name__ == "__main__":
    main()

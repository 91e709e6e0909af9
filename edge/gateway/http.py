"""The agent-facing API of the gateway: OpenAI (``/v1/chat/completions``,
``/v1/embeddings``, ``/v1/models``) and Anthropic (``/v1/messages``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from edge.bodies import BodyTooLargeError, read_body
from edge.gateway import responses_api
from edge.gateway.reply import Reply, refusal_reply
from edge.gateway.request import ANTHROPIC, CHAT, EMBEDDINGS, OPENAI
from edge.gateway.service import Gateway
from edge.gateway.stream_run import StreamRun
from edge.gateway.verdicts import Refusal, error_body

JSON = "application/json"


class _Stream(StreamingResponse):
    """Server-sent events from a provider; whatever ends the response (including the
    agent hanging up before the first byte) closes the run, so it is settled and
    captured."""

    def __init__(
        self,
        run: StreamRun,
        headers: dict[str, str],
        events: AsyncIterator[bytes] | None = None,
    ) -> None:
        """``events``: what the agent gets, when not the run's own events."""
        super().__init__(events or run.iterator, 200, headers, media_type="text/event-stream")
        self._run = run

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self._run.close()


def _response(reply: Reply) -> Response:
    if reply.stream is not None:
        return _Stream(reply.stream, reply.headers)
    return Response(reply.body, reply.status, reply.headers, media_type=JSON)


def _gateway(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


async def _read(request: Request, api: str) -> bytes | Response:
    limit = _gateway(request).settings.max_body_bytes
    try:
        return await read_body(request, limit)
    except BodyTooLargeError:
        message = f"the body exceeds {limit} bytes"
        body = error_body(api, 413, "invalid_request_error", "request.too_large", message)
        return Response(body, 413, media_type=JSON)


async def _serve(request: Request, api: str, operation: str) -> Response:
    gateway = _gateway(request)
    limit = gateway.settings.max_body_bytes
    address = _address(request)
    try:
        raw = await read_body(request, limit)
    except BodyTooLargeError:
        # Refused (and captured when the agent is known) without reading the body.
        reply = await gateway.handle(
            api, operation, request.headers, b"", oversized=limit, address=address
        )
        return _response(reply)
    return _response(await gateway.handle(api, operation, request.headers, raw, address=address))


def _address(request: Request) -> str:
    return request.client.host if request.client else ""


async def responses(request: Request) -> Response:
    """``/v1/responses``: served as a chat completion, answered as a Response."""
    raw = await _read(request, OPENAI)
    if isinstance(raw, Response):
        return raw
    try:
        chat = responses_api.chat_request(raw)
    except Refusal as refusal:
        return _response(refusal_reply(OPENAI, refusal))
    asked = orjson.loads(raw)
    reply = await _gateway(request).handle(
        OPENAI,
        CHAT,
        request.headers,
        orjson.dumps(chat),
        surface=responses_api.RESPONSES,
        address=_address(request),
    )
    if reply.status != 200:
        return _response(reply)
    translator = responses_api.StreamTranslator(asked)
    if reply.stream is not None:
        events = responses_api.translated(translator, reply.stream.iterator)
        return _Stream(reply.stream, reply.headers, events)
    if chat.get("stream"):  # a cached answer, replayed
        body = responses_api.translate_all(translator, [reply.body])
        return Response(body, 200, reply.headers, media_type="text/event-stream")
    answer = responses_api.response_from_completion(asked, orjson.loads(reply.body))
    return Response(orjson.dumps(answer), 200, reply.headers, media_type=JSON)


async def chat_completions(request: Request) -> Response:
    return await _serve(request, OPENAI, CHAT)


async def embeddings(request: Request) -> Response:
    return await _serve(request, OPENAI, EMBEDDINGS)


async def messages(request: Request) -> Response:
    return await _serve(request, ANTHROPIC, CHAT)


async def models(request: Request) -> Response:
    return _response(_gateway(request).models(request.headers, _address(request)))


def routes() -> list[Route]:
    return [
        Route("/v1/chat/completions", chat_completions, methods=["POST"]),
        Route("/v1/embeddings", embeddings, methods=["POST"]),
        Route("/v1/models", models, methods=["GET"]),
        Route("/v1/messages", messages, methods=["POST"]),
        Route("/v1/responses", responses, methods=["POST"]),
    ]

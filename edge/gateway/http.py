"""The agent-facing API of the gateway: OpenAI (``/v1/chat/completions``,
``/v1/embeddings``, ``/v1/models``) and Anthropic (``/v1/messages``)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from edge.bodies import BodyTooLargeError, read_body
from edge.gateway.request import ANTHROPIC, CHAT, EMBEDDINGS, OPENAI
from edge.gateway.service import Gateway, Reply, StreamRun

JSON = "application/json"


class _Stream(StreamingResponse):
    """Server-sent events from a provider; whatever ends the response (including the
    agent hanging up before the first byte) closes the run, so it is settled and
    captured."""

    def __init__(self, run: StreamRun, headers: dict[str, str]) -> None:
        super().__init__(run.iterator, 200, headers, media_type="text/event-stream")
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


async def _serve(request: Request, api: str, operation: str) -> Response:
    gateway = _gateway(request)
    limit = gateway.settings.max_body_bytes
    try:
        raw = await read_body(request, limit)
    except BodyTooLargeError:
        # Refused (and captured when the agent is known) without reading the body.
        reply = await gateway.handle(
            api, operation, request.headers, b"", oversized=limit, address=_address(request)
        )
        return _response(reply)
    reply = await gateway.handle(api, operation, request.headers, raw, address=_address(request))
    return _response(reply)


def _address(request: Request) -> str:
    return request.client.host if request.client else ""


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
    ]

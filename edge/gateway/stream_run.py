"""A provider's stream on its way to the agent, settled and captured once it ends."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator

import anyio
import httpx
import orjson

from edge.gateway import cache, caching, filtering, sse, streams, translate
from edge.gateway.attempts import Attempts
from edge.gateway.budget import Reservation
from edge.gateway.capture import Exchange
from edge.gateway.catalog import Price
from edge.gateway.planning import Plan
from edge.gateway.providers import AttemptError
from edge.gateway.recorder import Recorder, note_tool_calls
from edge.gateway.request import OPENAI
from edge.gateway.route import Target
from edge.gateway.verdicts import BLOCK

logger = logging.getLogger("edge.gateway")


class StreamRun:
    """A stream from a provider on its way to the agent. However it ends — done, the
    provider failing, the agent leaving, or never started — it is settled and captured
    exactly once (``close`` is the HTTP layer's guarantee of that)."""

    def __init__(
        self,
        attempts: Attempts,
        responses: cache.ResponseCache,
        recorder: Recorder,
        exchange: Exchange,
        planned: Plan,
        target: Target,
        response: httpx.Response,
        reservation: Reservation,
        body_size: int,
        cap: int,
        price: Price | None,
        started: float,
    ) -> None:
        self.attempts = attempts
        self.responses = responses
        self.recorder = recorder
        self.exchange = exchange
        self.planned = planned
        self.target = target
        self.response = response
        self.reservation = reservation
        self.body_size = body_size
        self.cap = cap
        self.price = price
        self.started = started
        self.relay = streams.StreamRelay(planned.request, target.provider.kind)
        self.screen = filtering.StreamScreen(planned.policy)
        self.iterator = self._run()
        self._begun = False
        self._finished = False

    async def close(self) -> None:
        if self._finished:
            return
        if self._begun:
            await self.iterator.aclose()
        if not self._finished:
            self._finish(None, cancelled=True)
            with anyio.CancelScope(shield=True):
                await self.response.aclose()

    async def _run(self) -> AsyncGenerator[bytes, None]:
        self._begun = True
        parser = sse.Parser()
        relay = self.relay
        failure: AttemptError | None = None
        cancelled = False
        try:
            try:
                async for chunk in self.response.aiter_raw():
                    out = relay.feed(parser.feed(chunk))
                    if self.screen.feed(relay.capture.text):
                        break  # this chunk is held back
                    if out:
                        yield out
                if self.screen.blocked:
                    yield _stream_error(self.planned.request.api, filtering.STREAM_CUT)
                    return
                out = relay.feed(parser.close())
                if out:
                    yield out
                if not relay.capture.completed:
                    failure = AttemptError("error", "the provider's stream ended early")
            except httpx.TimeoutException:
                failure = AttemptError("timeout", "timed out while streaming")
            except httpx.HTTPError as error:
                failure = AttemptError("error", f"{type(error).__name__} while streaming: {error}")
            except Exception as error:
                # Whatever breaks the relay, the stream ends in the API's error event.
                logger.error("the gateway failed while streaming", exc_info=error)
                failure = AttemptError("error", f"the gateway failed while streaming: {error!r}")
            if failure is not None:
                yield _stream_error(self.planned.request.api, failure.message)
        except BaseException:
            cancelled = True
            raise
        finally:
            self._finish(failure, cancelled)
            with anyio.CancelScope(shield=True):
                await self.response.aclose()

    def _finish(self, failure: AttemptError | None, cancelled: bool) -> None:
        if self._finished:
            return
        self._finished = True
        attempts, exchange, planned = self.attempts, self.exchange, self.planned
        relay = self.relay
        completed = relay.capture.completed and failure is None and not cancelled
        attempts.served(
            exchange,
            planned,
            self.target,
            self.reservation,
            relay.capture.usage if completed else None,
            self.body_size,
            self.cap,
            self.price,
            self.started,
        )
        breaker = attempts.breakers.get(*self.target.key)
        status, message, tripped = "ok", "", False
        if cancelled:
            breaker.release()
            status, message = "error", "the agent went away during the stream"
        elif failure is not None:
            tripped = breaker.failure(attempts.clock())
            status, message = failure.status, failure.message
        else:
            breaker.success()
        attempt = exchange.attempts[-1]
        attempt.status, attempt.error, attempt.breaker_tripped = status, message, tripped
        verdict = self.screen.finish(relay.capture.text)
        if verdict is not None:
            exchange.verdicts.append(verdict)
            if verdict.verdict == BLOCK:
                status, message = "refused", verdict.reason
        exchange.response_model = relay.capture.model
        answer = relay.body()
        note_tool_calls(exchange, planned.request.api, answer)
        if completed and status == "ok":
            caching.remember(self.responses, exchange, planned, answer, orjson.dumps(answer))
        if planned.policy.pii == "redact":
            for container, key in translate.answer_texts(planned.request.api, answer):
                container[key] = filtering.redact_text(container[key], planned.policy)
        exchange.response_body = orjson.dumps(answer).decode()
        self.recorder.capture(exchange, status, message, planned.spend)


def _stream_error(api: str, message: str) -> bytes:
    """The error event each API's SDK raises on when a stream breaks off."""
    if api == OPENAI:
        error = {"message": message, "type": "acp_route", "code": "route.stream_failed"}
        return sse.encode(orjson.dumps({"error": error}))
    event = {"type": "error", "error": {"type": "api_error", "message": message}}
    return sse.encode(orjson.dumps(event), "error")

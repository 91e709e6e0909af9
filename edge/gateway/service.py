"""The pipeline: authenticate → policy → content filter → budget → route (+ failover) →
capture, for one request, as a ``Reply`` the HTTP layer sends. Its parts: ``planning``
(the stages before the provider), ``attempts`` (each try at a candidate), ``caching``
(the response cache), ``stream_run`` (a stream until it ends) and ``recorder`` (the
record's hand-off to the spool)."""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import time
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import orjson

from edge.auth_throttle import AuthThrottle
from edge.config import ConfigStore
from edge.gateway import cache, caching, filtering, routing_auto, translate
from edge.gateway.attempts import Attempts
from edge.gateway.authenticate import authenticate
from edge.gateway.breaker import Breakers
from edge.gateway.budget import BudgetKey, BudgetLedger
from edge.gateway.capture import Exchange
from edge.gateway.planning import Plan, Planner
from edge.gateway.providers import AttemptError, ProviderClient
from edge.gateway.recorder import Recorder, capture_answer, note_tool_calls
from edge.gateway.reply import Reply, refusal_reply
from edge.gateway.request import CHAT, OPENAI
from edge.gateway.route import Target, offered_models
from edge.gateway.stream_run import StreamRun
from edge.gateway.verdicts import Refusal, error_body
from edge.settings import Settings
from edge.spool import Spool
from edge.watch import Watch

logger = logging.getLogger("edge.gateway")


class Gateway:
    def __init__(
        self,
        settings: Settings,
        config: ConfigStore,
        spool: Spool,
        providers: ProviderClient,
        *,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.config = config
        self.spool = spool
        self.providers = providers
        self.ledger = BudgetLedger(spool.spend_totals())
        self.breakers = Breakers(settings.breaker_failures, settings.breaker_cooldown_seconds)
        self.cache = cache.ResponseCache(settings.cache_max_bytes)
        self.latencies = routing_auto.Latencies()
        self.auth_throttle = AuthThrottle(
            per_address=settings.auth_max_failures_per_address,
            per_key=settings.auth_max_failures_per_key,
            lockout_seconds=settings.auth_lockout_seconds,
        )
        self.watch = Watch()
        self.planner = Planner(
            spool,
            self.breakers,
            self.latencies,
            self.watch,
            rng or random.Random(),  # noqa: S311 - load spreading, not security
        )
        self.attempts = Attempts(settings, self.ledger, self.breakers, self.latencies, clock)
        self.recorder = Recorder(config, spool, self.watch)

    # --- entry points ------------------------------------------------------------------

    def models(self, headers: Mapping[str, str], address: str = "") -> Reply:
        api = "anthropic" if "anthropic-version" in headers else OPENAI
        config = self.config.current
        try:
            principal = authenticate(config, headers, self.auth_throttle, address)
        except Refusal as refusal:
            return refusal_reply(api, refusal)
        assert config is not None
        agent = config.gateway.agents.get(principal.agent_id)
        names = (
            offered_models(
                config.gateway.routes,
                config.gateway.providers,
                principal.tenant_id,
                agent.allowed_models,
            )
            if agent is not None
            else []
        )
        if api == OPENAI:
            data: list[dict[str, Any]] = [
                {"id": name, "object": "model", "created": 0, "owned_by": "acp"} for name in names
            ]
            return Reply(200, orjson.dumps({"object": "list", "data": data}))
        data = [
            {
                "type": "model",
                "id": name,
                "display_name": name,
                "created_at": "1970-01-01T00:00:00Z",
            }
            for name in names
        ]
        body = {
            "data": data,
            "has_more": False,
            "first_id": names[0] if names else None,
            "last_id": names[-1] if names else None,
        }
        return Reply(200, orjson.dumps(body))

    async def handle(
        self,
        api: str,
        operation: str,
        headers: Mapping[str, str],
        raw: bytes,
        *,
        surface: str | None = None,
        oversized: int | None = None,
        address: str = "",
    ) -> Reply:
        """One request through the pipeline, from the client at ``address``.
        ``surface``: the endpoint the agent called when it is not ``api``'s own (the
        Responses API arrives here as a chat completion). ``oversized``: the body was
        not read because it exceeds this many bytes (refused with 413 once the agent is
        known)."""
        config = self.config.current
        try:
            principal = authenticate(config, headers, self.auth_throttle, address)
        except Refusal as refusal:
            # Not captured: a caller who is nobody must not be able to fill the spool.
            return refusal_reply(api, refusal)
        assert config is not None
        exchange = Exchange(
            principal=principal,
            operation=operation,
            requested_model="",
            started_ns=time.time_ns(),
            started_monotonic=time.monotonic(),
            api=api,
            request_body=raw.decode(errors="replace"),
            traceparent=headers.get("traceparent"),
            user_agent=headers.get("user-agent", ""),
        )
        if surface is not None:
            exchange.annotations["acp.gateway.endpoint"] = surface
        spend: list[tuple[BudgetKey, Decimal]] = []
        try:
            if oversized is not None:
                raise Refusal(
                    413,
                    "invalid_request_error",
                    "request.too_large",
                    f"the body exceeds {oversized} bytes",
                    stage="request",
                )
            planned = self.planner.plan(config, principal, exchange, api, operation, headers, raw)
            spend = planned.spend
            cached = caching.from_cache(self.cache, self.recorder, exchange, planned)
            if cached is not None:
                return cached
            if planned.request.stream:
                return await self._stream(exchange, planned)
            return await self._complete(exchange, planned)
        except Exception as error:
            refused = error if isinstance(error, Refusal) else _internal_error(error)
            exchange.verdicts.append(refused.verdict)
            exchange.http_status = refused.status
            if refused.kind != "acp_capture":
                self.recorder.capture(exchange, refused.record_status, refused.reason, spend)
            return refusal_reply(api, refused)

    async def _complete(self, exchange: Exchange, planned: Plan) -> Reply:
        request = planned.request
        async for target, body, price, cap, reservation in self.attempts.each(exchange, planned):
            started = time.monotonic()
            try:
                try:
                    async with asyncio.timeout(planned.route.timeout_seconds):
                        response = await self.providers.send(
                            target.provider,
                            request.operation,
                            body,
                            planned.headers,
                            planned.route.timeout_seconds,
                        )
                    answer = orjson.loads(response.content)
                    if not isinstance(answer, dict):
                        raise AttemptError("error", "the provider's answer is not a JSON object")
                except TimeoutError:
                    raise AttemptError("timeout", "timed out: no whole answer in time") from None
                except orjson.JSONDecodeError:
                    raise AttemptError("error", "the provider's answer is not JSON") from None
            except AttemptError as error:
                self.attempts.failed(exchange, planned, target, reservation, error, started)
                if not error.retryable:
                    return self._provider_error(exchange, planned, target, error)
                continue
            except asyncio.CancelledError:
                self.attempts.abandoned(exchange, planned, target, reservation)
                self.recorder.capture(exchange, "error", "the agent went away", planned.spend)
                raise
            usage = translate.usage_of(target.provider.kind, answer)
            self.attempts.served(
                exchange, planned, target, reservation, usage, len(body), cap, price, started
            )
            self.breakers.get(*target.key).success()
            exchange.response_model = str(answer.get("model") or "")
            if target.provider.kind == request.api:
                content = response.content
            else:
                answer = translate.agent_answer(request, target.provider.kind, answer)
                content = orjson.dumps(answer)
            if request.operation == CHAT:
                content = filtering.screen_answer(
                    request.api, content, planned.policy, exchange.verdicts
                )

            note_tool_calls(exchange, request.api, answer)
            caching.remember(self.cache, exchange, planned, answer, content)
            finish = functools.partial(capture_answer, exchange, planned, content)
            self.recorder.capture(exchange, "ok", "", planned.spend, finish)
            return Reply(200, content, headers=caching.cache_headers(planned))
        raise self.attempts.all_failed(exchange, planned)

    async def _stream(self, exchange: Exchange, planned: Plan) -> Reply:
        request = planned.request
        async for target, body, price, cap, reservation in self.attempts.each(exchange, planned):
            started = time.monotonic()
            try:
                response = await self.providers.open_stream(
                    target.provider,
                    request.operation,
                    body,
                    planned.headers,
                    planned.route.timeout_seconds,
                )
            except AttemptError as error:
                self.attempts.failed(exchange, planned, target, reservation, error, started)
                if not error.retryable:
                    return self._provider_error(exchange, planned, target, error)
                continue
            except asyncio.CancelledError:
                self.attempts.abandoned(exchange, planned, target, reservation)
                self.recorder.capture(exchange, "error", "the agent went away", planned.spend)
                raise
            run = StreamRun(
                self.attempts,
                self.cache,
                self.recorder,
                exchange,
                planned,
                target,
                response,
                reservation,
                len(body),
                cap,
                price,
                started,
            )
            headers = {"cache-control": "no-cache", "x-accel-buffering": "no"}
            headers.update(caching.cache_headers(planned))
            return Reply(200, stream=run, headers=headers)
        raise self.attempts.all_failed(exchange, planned)

    def _provider_error(
        self, exchange: Exchange, planned: Plan, target: Target, error: AttemptError
    ) -> Reply:
        """A request the provider refused as malformed goes back as it said it."""
        status = error.http_status or 502
        request = planned.request
        if target.provider.kind == request.api and error.body:
            body = error.body
        else:
            body = error_body(
                request.api, status, "invalid_request_error", "provider.rejected", error.message
            )
        exchange.http_status = status
        exchange.response_body = body.decode(errors="replace")
        self.recorder.capture(exchange, "error", error.message, planned.spend)
        return Reply(status, body, headers={"x-should-retry": "false"})


def _internal_error(error: Exception) -> Refusal:
    """A request the gateway itself failed on: answered in the agent's API and captured
    like any other, so the agent's SDK can read it and the connection stays usable."""
    logger.error("the gateway failed on a request", exc_info=error)
    return Refusal(
        500,
        "api_error",
        "gateway.internal_error",
        f"the gateway failed on this request ({type(error).__name__}); it was recorded",
        stage="gateway",
        record_status="error",
    )

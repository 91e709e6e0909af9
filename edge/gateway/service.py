"""The pipeline: authenticate → policy → content filter → budget → route (+ failover) →
capture, for one request, as a ``Reply`` the HTTP layer sends."""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import anyio
import httpx
import orjson

from edge.auth import Principal
from edge.auth_throttle import AuthThrottle
from edge.config import ConfigStore, EdgeConfig
from edge.gateway import cache, capture, filtering, policy, routing_auto, sse, streams, translate
from edge.gateway.authenticate import authenticate
from edge.gateway.breaker import Breakers
from edge.gateway.budget import (
    BudgetKey,
    BudgetLedger,
    Reservation,
    applicable,
    cost,
    most_cost,
)
from edge.gateway.capture import Attempt, Exchange
from edge.gateway.catalog import AUTO, Budget, GatewayConfig, Price, Route, TenantPolicy
from edge.gateway.providers import AttemptError, ProviderClient
from edge.gateway.ratelimit import AgentRates
from edge.gateway.request import CHAT, EMBEDDINGS, OPENAI, GatewayRequest, parse_request
from edge.gateway.route import Target, attempts, offered_models, plan, select_route
from edge.gateway.verdicts import BLOCK, FLAG, Refusal, Verdict, error_body
from edge.settings import Settings
from edge.spool import Spool, SpoolFullError
from edge.watch import Watch, request_items

logger = logging.getLogger("edge.gateway")

ZERO = Decimal(0)
SPOOL_RETRY_AFTER = 30
_RETRY_BACKOFF = 0.05


@dataclass
class Reply:
    status: int
    body: bytes = b""
    stream: StreamRun | None = None
    headers: dict[str, str] = field(default_factory=dict)


def refusal_reply(api: str, refusal: Refusal) -> Reply:
    headers = {"x-acp-code": refusal.code}
    if refusal.retry_after is not None:
        headers["retry-after"] = str(refusal.retry_after)
    if refusal.status == 401:
        headers["www-authenticate"] = "Bearer"
    if refusal.status in (400, 403, 404) or refusal.kind == "acp_budget":
        # Asking again changes nothing (SDKs otherwise retry 429 on their own).
        headers["x-should-retry"] = "false"
    body = error_body(api, refusal.status, refusal.kind, refusal.code, refusal.reason)
    return Reply(refusal.status, body, headers=headers)


@dataclass
class _Plan:
    """What the stages before routing decided for one request."""

    request: GatewayRequest
    config: GatewayConfig
    policy: TenantPolicy
    route: Route
    targets: list[Target]
    budgets: list[Budget]
    now: datetime
    headers: Mapping[str, str]
    spend: list[tuple[BudgetKey, Decimal]] = field(default_factory=list)
    unpriced: list[str] = field(default_factory=list)
    cache: cache.Lookup | None = None
    auto: routing_auto.Choice | None = None
    frontier: Price | None = None
    """The ``complex`` tier's price when auto routing chose: the baseline of its saving."""


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
        self.rng = rng or random.Random()  # noqa: S311 - load spreading, not security
        self.clock = clock
        self.cache = cache.ResponseCache(settings.cache_max_bytes)
        self.latencies = routing_auto.Latencies()
        self.auth_throttle = AuthThrottle(
            per_address=settings.auth_max_failures_per_address,
            per_key=settings.auth_max_failures_per_key,
            lockout_seconds=settings.auth_lockout_seconds,
        )
        self.agent_rates = AgentRates()
        self.watch = Watch()

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
            planned = self._plan(config, principal, exchange, api, operation, headers, raw)
            spend = planned.spend
            cached = self._from_cache(exchange, planned)
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
                self._capture(exchange, refused.record_status, refused.reason, spend)
            return refusal_reply(api, refused)

    # --- stages before the provider --------------------------------------------------------

    def _plan(
        self,
        config: EdgeConfig,
        principal: Principal,
        exchange: Exchange,
        api: str,
        operation: str,
        headers: Mapping[str, str],
        raw: bytes,
    ) -> _Plan:
        gateway = config.gateway
        now = datetime.now(UTC)
        agent = gateway.agents.get(principal.agent_id)
        self.agent_rates.admit(principal.agent_id, agent.max_requests_per_minute if agent else None)
        request = parse_request(api, operation, raw, headers)
        exchange.requested_model = request.model
        exchange.stream = request.stream
        exchange.tools = request.tools
        tenant_policy = (
            gateway.policies.get(principal.tenant_id, policy.NO_POLICY)
            if agent
            else policy.NO_POLICY
        )
        exchange.data_classes = policy.data_classes(request, tenant_policy)[0]
        try:
            decision = policy.evaluate(gateway, principal, request, now)
        except Refusal:
            # Refused before the filter ran: the record still must not carry what the
            # tenant has personal data redacted from.
            if filtering.redact_pii(request, tenant_policy):
                exchange.request_body = request.body_text()
            raise
        self.watch.check_request(
            config.watch,
            principal.agent_id,
            principal.tenant_id,
            request_items(request.tools, exchange.data_classes, request.model),
        )
        tier, auto = decision.tier, None
        if tier == AUTO:
            auto = routing_auto.choose(request, decision.policy)
            tier = auto.tier
            exchange.annotations.update(auto.annotations())
        exchange.tier = tier
        try:
            filtering.screen(request, decision.policy, exchange.verdicts)
        finally:
            exchange.request_body = request.body_text()
        model = None if request.tier_alias else request.model
        route = select_route(gateway.routes, principal.tenant_id, tier, model)
        if route is None:
            raise Refusal(
                404,
                "acp_route",
                "route.no_route",
                f"no route serves model {request.model} at tier {tier}",
                stage="route",
            )
        exchange.route_id = route.route_id
        cross_api = translate.translatable(request)

        def serves(provider: Any) -> bool:
            if operation == EMBEDDINGS:
                return bool(provider.kind == OPENAI)
            return bool(provider.kind == api or cross_api)

        targets = plan(
            route, model, gateway.providers, decision.agent.allowed_models, serves, self.rng
        )
        if not targets:
            if plan(route, model, gateway.providers, (), serves, self.rng):
                raise Refusal(
                    403,
                    "acp_policy",
                    "policy.model_not_allowed",
                    f"no model of route {route.route_id} is allowed for this agent",
                    stage="policy",
                )
            raise Refusal(
                502,
                "acp_route",
                "route.no_candidate",
                f"no candidate of route {route.route_id} can serve this request "
                "(model not offered, or a request that does not translate across APIs)",
                stage="route",
            )
        frontier = None
        if auto is not None:
            tokens = routing_auto.expected_tokens(request, len(request.raw))
            targets = routing_auto.by_cost(
                targets, gateway.prices, now, tokens, self._unhealthy, self.latencies
            )
            frontier = routing_auto.frontier_price(
                gateway.routes,
                gateway.providers,
                gateway.prices,
                tenant_id=principal.tenant_id,
                model=model,
                allowed_models=decision.agent.allowed_models,
                serves=serves,
                now=now,
                tokens=tokens,
            )
        stats = self.spool.stats
        if stats.bytes >= stats.max_bytes:
            raise Refusal(
                503,
                "acp_capture",
                "capture.spool_full",
                "the edge cannot record more requests until the control plane pulls",
                stage="capture",
                retry_after=SPOOL_RETRY_AFTER,
            )
        return _Plan(
            request=request,
            config=gateway,
            policy=decision.policy,
            route=route,
            targets=targets,
            budgets=applicable(gateway.budgets, principal, now),
            now=now,
            headers=headers,
            auto=auto,
            frontier=frontier,
        )

    def _unhealthy(self, target: Target) -> bool:
        return self.breakers.get(*target.key).state != "closed"

    # --- attempts ---------------------------------------------------------------------

    def _price(self, planned: _Plan, target: Target, exchange: Exchange) -> Price | None:
        price = planned.config.prices.for_provider(target.provider, target.model, planned.now)
        if price is None and planned.budgets:
            code = "budget.unpriced"
            if not any(verdict.code == code for verdict in exchange.verdicts):
                reason = f"{_priced_as(target)}/{target.model} has no price; it counts as free"
                exchange.verdicts.append(Verdict("budget", FLAG, code, reason))
        return price

    async def _attempts(
        self, exchange: Exchange, planned: _Plan
    ) -> AsyncIterator[tuple[Target, bytes, Price | None, int, Reservation]]:
        """Each attempt to make, reserved against the budgets (and its breaker's probe
        taken); the caller settles and reports it."""
        sent = 0
        for round_number, target in attempts(planned.targets, planned.route.max_attempts):
            if sent >= planned.route.max_attempts:
                return
            if round_number and sent:
                # The same candidates again: give a transient failure a moment to pass.
                await asyncio.sleep(min(_RETRY_BACKOFF * 2 ** (round_number - 1), 0.5))
            hard = any(budget.kind == "hard" for budget in planned.budgets)
            if hard and not planned.config.prices.for_provider(
                target.provider, target.model, planned.now
            ):
                # Counted as free, an unpriced model would be a way around every hard
                # limit: it is not used while one applies.
                planned.unpriced.append(f"{_priced_as(target)}/{target.model}")
                continue
            breaker = self.breakers.get(*target.key)
            if not breaker.allow(self.clock()):
                continue
            request = planned.request
            body = orjson.dumps(
                translate.upstream_body(
                    request, target.provider.kind, target.model, self.settings.default_max_tokens
                )
            )
            price = self._price(planned, target, exchange)
            # Tokens never exceed bytes, so the body's size bounds the input side.
            cap = (
                0
                if request.operation == EMBEDDINGS
                else translate.output_cap(request, self.settings.default_max_tokens)
            )
            try:
                reservation = self.ledger.reserve(
                    planned.budgets, most_cost(price, len(body), cap), planned.now
                )
            except Refusal:
                breaker.release()
                raise
            sent += 1
            yield target, body, price, cap, reservation

    def _failed(
        self,
        exchange: Exchange,
        planned: _Plan,
        target: Target,
        reservation: Reservation,
        error: AttemptError,
        started: float,
    ) -> None:
        planned.spend.extend(self.ledger.settle(reservation, ZERO))
        breaker = self.breakers.get(*target.key)
        tripped = False
        if error.retryable:
            tripped = breaker.failure(self.clock())
        else:
            breaker.success()
        exchange.attempts.append(
            Attempt(
                provider_id=target.provider.provider_id,
                provider=_priced_as(target),
                model=target.model,
                status=error.status,
                latency_ms=(time.monotonic() - started) * 1000,
                error=error.message,
                http_status=error.http_status,
                breaker_tripped=tripped,
            )
        )

    def _served(
        self,
        exchange: Exchange,
        planned: _Plan,
        target: Target,
        reservation: Reservation,
        usage: translate.Usage | None,
        body_size: int,
        cap: int,
        price: Price | None,
        started: float,
    ) -> None:
        if usage is None:
            # No usage reported: count the most it can have cost, never less.
            usage = translate.Usage(body_size, cap)
            exchange.usage_reported = False
        actual = cost(price, usage)
        latency_ms = (time.monotonic() - started) * 1000
        self.latencies.observe(target.key, latency_ms)
        if planned.auto is not None:
            exchange.annotations.update(routing_auto.savings(planned.frontier, actual, usage))
        planned.spend.extend(self.ledger.settle(reservation, actual))
        exchange.verdicts.extend(self.ledger.soft_flags(planned.budgets))
        exchange.provider = price.provider if price is not None else _priced_as(target)
        exchange.model = target.model
        exchange.tokens = usage
        exchange.attempts.append(
            Attempt(
                provider_id=target.provider.provider_id,
                provider=_priced_as(target),
                model=target.model,
                status="ok",
                latency_ms=latency_ms,
                cost=actual,
            )
        )

    def _abandoned(
        self, exchange: Exchange, planned: _Plan, target: Target, reservation: Reservation
    ) -> None:
        """The agent went away mid-attempt: the provider may still bill, so the whole
        reservation counts."""
        planned.spend.extend(self.ledger.settle(reservation, reservation.amount))
        self.breakers.get(*target.key).release()
        exchange.attempts.append(
            Attempt(
                provider_id=target.provider.provider_id,
                provider=_priced_as(target),
                model=target.model,
                status="error",
                latency_ms=0,
                error="cancelled: the agent went away",
                cost=reservation.amount,
            )
        )

    def _all_failed(self, exchange: Exchange, planned: _Plan) -> Refusal:
        if not exchange.attempts and planned.unpriced:
            return Refusal(
                403,
                "acp_budget",
                "budget.unpriced",
                f"a hard budget applies and {', '.join(sorted(set(planned.unpriced)))} has no "
                "price on this edge",
                stage="budget",
            )
        if not exchange.attempts:
            return Refusal(
                502,
                "acp_route",
                "route.unavailable",
                "every candidate's circuit is open; try again shortly",
                stage="route",
                retry_after=max(1, round(self.settings.breaker_cooldown_seconds)),
                record_status="error",
            )
        last = exchange.attempts[-1]
        timed_out = last.status == "timeout"
        return Refusal(
            504 if timed_out else 502,
            "acp_route",
            "route.timeout" if timed_out else "route.failed",
            f"{len(exchange.attempts)} attempt(s) failed; last: {last.provider_id}/"
            f"{last.model}: {last.error[:200]}",
            stage="route",
            record_status="timeout" if timed_out else "error",
        )

    def _provider_error(
        self, exchange: Exchange, planned: _Plan, target: Target, error: AttemptError
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
        self._capture(exchange, "error", error.message, planned.spend)
        return Reply(status, body, headers={"x-should-retry": "false"})

    # --- response cache -----------------------------------------------------------------

    def _from_cache(self, exchange: Exchange, planned: _Plan) -> Reply | None:
        """The cached answer when there is one: no provider call, no cost, and the
        saving on the record."""
        lookup = planned.cache = self.cache.lookup(
            tenant_id=exchange.principal.tenant_id,
            ttl_seconds=planned.policy.cache_ttl_seconds,
            route_id=planned.route.route_id,
            tier=exchange.tier,
            request=planned.request,
            headers=planned.headers,
            verdicts=exchange.verdicts,
        )
        if lookup is None:
            return None
        exchange.annotations["acp.gateway.cache"] = lookup.status
        entry = lookup.entry
        if entry is None:
            return None
        exchange.provider, exchange.model = entry.provider, entry.model
        exchange.response_model = entry.response_model
        exchange.annotations.update(cache.hit_annotations(entry, self.cache.clock()))
        _note_tool_calls(exchange, planned.request.api, orjson.loads(entry.content))
        finish = functools.partial(_capture_answer, exchange, planned, entry.content)
        self._capture(exchange, "ok", "", planned.spend, finish)
        headers = self._cache_headers(planned)
        headers["age"] = str(int(self.cache.clock() - entry.stored_at))
        request = planned.request
        if not request.stream:
            return Reply(200, entry.content, headers=headers)
        headers.update({"content-type": "text/event-stream", "cache-control": "no-cache"})
        return Reply(
            200, cache.replay(request.api, entry.content, request.include_usage), headers=headers
        )

    def _remember(
        self, exchange: Exchange, planned: _Plan, answer: dict[str, Any], content: bytes
    ) -> None:
        """Keep a served answer for the next identical request (when the tenant caches)."""
        lookup = planned.cache
        if lookup is None or not lookup.stores or cache.flagged(exchange.verdicts):
            return
        if not cache.cacheable_answer(planned.request.api, answer):
            return
        now = self.cache.clock()
        entry = cache.Entry(
            tenant_id=exchange.principal.tenant_id,
            content=content,
            provider=exchange.provider,
            model=exchange.model,
            response_model=exchange.response_model,
            input_tokens=exchange.tokens.input_tokens,
            output_tokens=exchange.tokens.output_tokens,
            cost=exchange.attempts[-1].cost,
            stored_at=now,
            expires_at=now + lookup.ttl_seconds,
        )
        self.cache.store(lookup, entry)

    @staticmethod
    def _cache_headers(planned: _Plan) -> dict[str, str]:
        return {"x-acp-cache": planned.cache.status} if planned.cache is not None else {}

    async def _complete(self, exchange: Exchange, planned: _Plan) -> Reply:
        request = planned.request
        async for target, body, price, cap, reservation in self._attempts(exchange, planned):
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
                self._failed(exchange, planned, target, reservation, error, started)
                if not error.retryable:
                    return self._provider_error(exchange, planned, target, error)
                continue
            except asyncio.CancelledError:
                self._abandoned(exchange, planned, target, reservation)
                self._capture(exchange, "error", "the agent went away", planned.spend)
                raise
            usage = translate.usage_of(target.provider.kind, answer)
            self._served(
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

            _note_tool_calls(exchange, request.api, answer)
            self._remember(exchange, planned, answer, content)
            finish = functools.partial(_capture_answer, exchange, planned, content)
            self._capture(exchange, "ok", "", planned.spend, finish)
            return Reply(200, content, headers=self._cache_headers(planned))
        raise self._all_failed(exchange, planned)

    async def _stream(self, exchange: Exchange, planned: _Plan) -> Reply:
        request = planned.request
        async for target, body, price, cap, reservation in self._attempts(exchange, planned):
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
                self._failed(exchange, planned, target, reservation, error, started)
                if not error.retryable:
                    return self._provider_error(exchange, planned, target, error)
                continue
            except asyncio.CancelledError:
                self._abandoned(exchange, planned, target, reservation)
                self._capture(exchange, "error", "the agent went away", planned.spend)
                raise
            run = StreamRun(
                self,
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
            headers.update(self._cache_headers(planned))
            return Reply(200, stream=run, headers=headers)
        raise self._all_failed(exchange, planned)

    # --- capture ----------------------------------------------------------------------

    def _capture(
        self,
        exchange: Exchange,
        status: str,
        message: str,
        spend: Sequence[tuple[BudgetKey, Decimal]],
        finish: Callable[[], None] | None = None,
    ) -> None:
        """Record the request once the answer is on its way: building the record (and
        ``finish``, e.g. redacting the captured answer) runs after the response is
        sent, so the agent does not wait for it."""
        ended = time.time_ns()
        latency_ms = (time.monotonic() - exchange.started_monotonic) * 1000
        config = self.config.current
        if config is not None and config.watch:
            self.watch.count(
                config.watch,
                exchange.principal.agent_id,
                exchange.principal.tenant_id,
                tokens=exchange.tokens.input_tokens + exchange.tokens.output_tokens,
            )

        def write() -> None:
            if finish is not None:
                finish()
            event_id, body, kept = capture.record(
                exchange,
                status=status,
                status_message=message[:1000],
                ended_ns=ended,
                latency_ms=latency_ms,
                received_at=ended,
            )
            try:
                future = self.spool.append(
                    [(event_id, body)], ended, spend, bodies=[kept] if kept else ()
                )
            except Exception:
                logger.exception("the spool is closed: request %s not recorded", event_id)
                return
            future.add_done_callback(_log_capture_failure)

        asyncio.get_running_loop().call_soon(write)


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


def _log_capture_failure(future: Future[int]) -> None:
    error = future.exception()
    if isinstance(error, SpoolFullError):
        logger.error("the spool is full: a gateway record was dropped (its spend was kept)")
    elif error is not None:
        logger.error("a gateway record could not be written: %s", error)


def _note_tool_calls(exchange: Exchange, api: str, answer: dict[str, Any]) -> None:
    """The tools the model called, for the policy and the behavioural baselines (the
    tools offered are ``acp.gateway.tools``)."""
    called = translate.called_tools(api, answer)
    if called:
        exchange.annotations["acp.gateway.tool_calls"] = called


def _priced_as(target: Target) -> str:
    """The provider a record names when no price applied: its catalog name."""
    return target.provider.name or target.provider.kind


def _capture_answer(exchange: Exchange, planned: _Plan, content: bytes) -> None:
    """The answer as the record keeps it: redacted when the tenant redacts."""
    if planned.policy.pii != "redact" or planned.request.operation != CHAT:
        exchange.response_body = content.decode(errors="replace")
        return
    answer = orjson.loads(content)
    for container, key in translate.answer_texts(planned.request.api, answer):
        container[key] = filtering.redact_text(container[key], planned.policy)
    exchange.response_body = orjson.dumps(answer).decode()


class StreamRun:
    """A stream from a provider on its way to the agent. However it ends — done, the
    provider failing, the agent leaving, or never started — it is settled and captured
    exactly once (``close`` is the HTTP layer's guarantee of that)."""

    def __init__(
        self,
        gateway: Gateway,
        exchange: Exchange,
        planned: _Plan,
        target: Target,
        response: httpx.Response,
        reservation: Reservation,
        body_size: int,
        cap: int,
        price: Price | None,
        started: float,
    ) -> None:
        self.gateway = gateway
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
        gateway, exchange, planned = self.gateway, self.exchange, self.planned
        relay = self.relay
        completed = relay.capture.completed and failure is None and not cancelled
        gateway._served(
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
        breaker = gateway.breakers.get(*self.target.key)
        status, message, tripped = "ok", "", False
        if cancelled:
            breaker.release()
            status, message = "error", "the agent went away during the stream"
        elif failure is not None:
            tripped = breaker.failure(gateway.clock())
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
        _note_tool_calls(exchange, planned.request.api, answer)
        if completed and status == "ok":
            gateway._remember(exchange, planned, answer, orjson.dumps(answer))
        if planned.policy.pii == "redact":
            for container, key in translate.answer_texts(planned.request.api, answer):
                container[key] = filtering.redact_text(container[key], planned.policy)
        exchange.response_body = orjson.dumps(answer).decode()
        gateway._capture(exchange, status, message, planned.spend)


def _stream_error(api: str, message: str) -> bytes:
    """The error event each API's SDK raises on when a stream breaks off."""
    if api == OPENAI:
        error = {"message": message, "type": "acp_route", "code": "route.stream_failed"}
        return sse.encode(orjson.dumps({"error": error}))
    event = {"type": "error", "error": {"type": "api_error", "message": message}}
    return sse.encode(orjson.dumps(event), "error")

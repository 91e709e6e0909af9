"""The attempts at the route's candidates for one request: each reserved against the
budgets (and its circuit breaker's probe taken) before it is sent, and settled after —
served, failed or abandoned — on the budgets, the breaker and the record's attempts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import orjson

from edge.gateway import routing_auto, translate
from edge.gateway.breaker import Breakers
from edge.gateway.budget import BudgetLedger, Reservation, cost, most_cost
from edge.gateway.capture import Attempt, Exchange
from edge.gateway.catalog import Price
from edge.gateway.planning import Plan
from edge.gateway.providers import AttemptError
from edge.gateway.request import EMBEDDINGS
from edge.gateway.route import Target, attempts
from edge.gateway.verdicts import FLAG, Refusal, Verdict
from edge.settings import Settings

ZERO = Decimal(0)
_RETRY_BACKOFF = 0.05


class Attempts:
    def __init__(
        self,
        settings: Settings,
        ledger: BudgetLedger,
        breakers: Breakers,
        latencies: routing_auto.Latencies,
        clock: Callable[[], float],
    ) -> None:
        self.settings = settings
        self.ledger = ledger
        self.breakers = breakers
        self.latencies = latencies
        self.clock = clock

    def _price(self, planned: Plan, target: Target, exchange: Exchange) -> Price | None:
        price = planned.config.prices.for_provider(target.provider, target.model, planned.now)
        if price is None and planned.budgets:
            code = "budget.unpriced"
            if not any(verdict.code == code for verdict in exchange.verdicts):
                reason = f"{_priced_as(target)}/{target.model} has no price; it counts as free"
                exchange.verdicts.append(Verdict("budget", FLAG, code, reason))
        return price

    async def each(
        self, exchange: Exchange, planned: Plan
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

    def failed(
        self,
        exchange: Exchange,
        planned: Plan,
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
            _attempt(
                target,
                status=error.status,
                latency_ms=(time.monotonic() - started) * 1000,
                error=error.message,
                http_status=error.http_status,
                breaker_tripped=tripped,
            )
        )

    def served(
        self,
        exchange: Exchange,
        planned: Plan,
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
            _attempt(
                target,
                status="ok",
                latency_ms=latency_ms,
                cost=actual,
            )
        )

    def abandoned(
        self, exchange: Exchange, planned: Plan, target: Target, reservation: Reservation
    ) -> None:
        """The agent went away mid-attempt: the provider may still bill, so the whole
        reservation counts."""
        planned.spend.extend(self.ledger.settle(reservation, reservation.amount))
        self.breakers.get(*target.key).release()
        exchange.attempts.append(
            _attempt(
                target,
                status="error",
                latency_ms=0,
                error="cancelled: the agent went away",
                cost=reservation.amount,
            )
        )

    def all_failed(self, exchange: Exchange, planned: Plan) -> Refusal:
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


def _attempt(target: Target, **outcome: Any) -> Attempt:
    """The record of one attempt at ``target``: its provider and model, then ``outcome``."""
    return Attempt(
        provider_id=target.provider.provider_id,
        provider=_priced_as(target),
        model=target.model,
        **outcome,
    )


def _priced_as(target: Target) -> str:
    """The provider a record names when no price applied: its catalog name."""
    return target.provider.name or target.provider.kind

"""Stage 4: budgets. Before each attempt the gateway reserves the attempt's maximum cost
against every budget that applies; after it, the reservation settles to the provider's
reported usage (zero for a failed attempt).

A hard budget refuses when ``spent + reserved + this reservation`` would exceed the
edge's allowance for the period, so concurrent requests can never together spend past
it (docs/gateway.md, "Budgets across edges"). The ledger lives in the event loop, so a
check and its reservation happen without an await in between; ``spent`` is kept
durably by the spool (same transaction as the capture record) and read back at start.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from edge.auth import Principal
from edge.gateway.catalog import Budget, Price
from edge.gateway.verdicts import FLAG, Refusal, Verdict
from edge.tokens import TokenCounts

STAGE = "budget"
ZERO = Decimal(0)

BudgetKey = tuple[str, str]


def cost(price: Price | None, tokens: TokenCounts) -> Decimal:
    """Exact cost in the price's currency, class by class; an unpriced model costs
    nothing, as in the ledger's price book."""
    if price is None:
        return ZERO
    return price.rates.cost(tokens)


def most_cost(price: Price | None, input_tokens: int, output_tokens: int) -> Decimal:
    """The most an attempt of at most these many tokens can cost, whatever classes the
    provider reports them in (a cache write or reasoning may cost more than plain)."""
    if price is None:
        return ZERO
    rates = price.rates.per_million()
    worst_input = max(rates["input"], rates["cached_input"], rates["cache_write"])
    worst_output = max(rates["output"], rates["reasoning"])
    return (worst_input * input_tokens + worst_output * output_tokens) / Decimal(1_000_000)


def applicable(budgets: Iterable[Budget], principal: Principal, now: datetime) -> list[Budget]:
    """The budgets over this agent (its own, its department's, its tenant's), each as
    its entry for the period that contains ``now``. A hard budget whose bundle entries
    are all for other periods applies with nothing allowed: an edge cut off from the
    control plane across a period boundary must not spend without a grant."""
    scope_ids = {
        "agent": principal.agent_id,
        "department": principal.department_id,
        "tenant": principal.tenant_id,
    }
    current: dict[str, Budget] = {}
    stale: dict[str, Budget] = {}
    for budget in budgets:
        if budget.tenant_id != principal.tenant_id or scope_ids[budget.scope] != budget.scope_id:
            continue
        if budget.period_start <= now < budget.period_end:
            current[budget.budget_id] = budget
        else:
            stale.setdefault(budget.budget_id, budget)
    for budget_id, budget in stale.items():
        if budget_id not in current and budget.kind == "hard":
            current[budget_id] = budget.current(now)
    return list(current.values())


@dataclass
class Reservation:
    budgets: Sequence[Budget]
    amount: Decimal
    settled: bool = False


class BudgetLedger:
    def __init__(self, spent: Mapping[BudgetKey, Decimal] | None = None) -> None:
        self._spent: defaultdict[BudgetKey, Decimal] = defaultdict(Decimal, spent or {})
        self._reserved: defaultdict[BudgetKey, Decimal] = defaultdict(Decimal)

    def spent(self, budget: Budget) -> Decimal:
        return self._spent[budget.key]

    def totals(self) -> dict[BudgetKey, Decimal]:
        """Spend per (budget_id, period_start) so far, settled requests only."""
        return {key: amount for key, amount in self._spent.items() if amount}

    def reserved(self, budget: Budget) -> Decimal:
        return self._reserved[budget.key]

    def reserve(self, budgets: Sequence[Budget], amount: Decimal, now: datetime) -> Reservation:
        """Hold ``amount`` against every budget, or refuse (429) if a hard one cannot
        take it; nothing is held then."""
        for budget in budgets:
            if budget.kind != "hard":
                continue
            committed = self._spent[budget.key] + self._reserved[budget.key]
            # A used-up allowance refuses even a request that would cost nothing.
            if committed >= budget.allowance or committed + amount > budget.allowance:
                retry_after = max(1, math.ceil((budget.period_end - now).total_seconds()))
                raise Refusal(
                    429,
                    "acp_budget",
                    "budget.exhausted",
                    f"budget {budget.budget_id} ({budget.scope}, {budget.period}) has no "
                    f"room for this request on this edge",
                    stage=STAGE,
                    retry_after=retry_after,
                )
        for budget in budgets:
            self._reserved[budget.key] += amount
        return Reservation(budgets, amount)

    def settle(self, reservation: Reservation, actual: Decimal) -> list[tuple[BudgetKey, Decimal]]:
        """Replace the reservation with what the attempt cost; the spend to persist."""
        if reservation.settled:
            return []
        reservation.settled = True
        deltas = []
        for budget in reservation.budgets:
            self._reserved[budget.key] -= reservation.amount
            if actual:
                self._spent[budget.key] += actual
                deltas.append((budget.key, actual))
        return deltas

    def soft_flags(self, budgets: Sequence[Budget]) -> list[Verdict]:
        """A flag for each soft budget whose allowance this edge's spend has reached."""
        return [
            Verdict(
                STAGE,
                FLAG,
                "budget.soft_limit",
                f"soft budget {budget.budget_id} reached its allowance of {budget.allowance}",
            )
            for budget in budgets
            if budget.kind == "soft" and self._spent[budget.key] >= budget.allowance
        ]

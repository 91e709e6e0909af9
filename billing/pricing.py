"""Looking up the price in force for a model call."""

from __future__ import annotations

import bisect
import datetime as dt
from decimal import Decimal

from billing.models import ModelPrice
from edge.tokens import TokenCounts

ZERO = Decimal(0)


class PriceBook:
    """All prices in memory, for pricing a batch of calls without a query per call."""

    def __init__(self, prices: list[ModelPrice]) -> None:
        self._by_model: dict[tuple[str, str], tuple[list[dt.datetime], list[ModelPrice]]] = {}
        for price in sorted(prices, key=lambda p: p.effective_from):
            starts, entries = self._by_model.setdefault((price.provider, price.model), ([], []))
            starts.append(price.effective_from)
            entries.append(price)

    @classmethod
    def load(cls) -> PriceBook:
        return cls(list(ModelPrice.objects.all()))

    def price_at(self, provider: str, model: str, when: dt.datetime) -> ModelPrice | None:
        found = self._by_model.get((provider, model))
        if not found:
            return None
        starts, entries = found
        index = bisect.bisect_right(starts, when) - 1
        return entries[index] if index >= 0 else None

    def cost(self, provider: str, model: str, when: dt.datetime, tokens: TokenCounts) -> Decimal:
        """The cost of a call, class by class; zero for a model with no price (shown as
        unpriced usage)."""
        price = self.price_at(provider, model, when)
        return price.cost(tokens) if price else ZERO


def price_list(now: dt.datetime) -> tuple[list[ModelPrice], list[ModelPrice]]:
    """The price in force at ``now`` of each provider and model, and the prices that start
    later (in starting order)."""
    current = (
        ModelPrice.objects.filter(effective_from__lte=now)
        .order_by("provider", "model", "-effective_from")
        .distinct("provider", "model")
    )
    upcoming = ModelPrice.objects.filter(effective_from__gt=now).order_by(
        "effective_from", "provider", "model"
    )
    return list(current), list(upcoming)

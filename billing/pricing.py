"""Looking up the price in force for a model call."""

from __future__ import annotations

import bisect
import datetime as dt
from decimal import Decimal

from billing.models import ModelPrice
from edge.tokens import TokenCounts, TokenRates

ZERO = Decimal(0)


class PriceBook:
    """All prices in memory, for pricing a batch of calls without a query per call."""

    def __init__(self, prices: list[ModelPrice]) -> None:
        # Per model: the prices' start times, the prices, and their rates (made once, not
        # once per call priced).
        self._by_model: dict[
            tuple[str, str], tuple[list[dt.datetime], list[ModelPrice], list[TokenRates]]
        ] = {}
        for price in sorted(prices, key=lambda p: p.effective_from):
            starts, entries, rates = self._by_model.setdefault(
                (price.provider, price.model), ([], [], [])
            )
            starts.append(price.effective_from)
            entries.append(price)
            rates.append(price.rates())

    @classmethod
    def load(cls) -> PriceBook:
        return cls(list(ModelPrice.objects.all()))

    def _index(self, provider: str, model: str, when: dt.datetime) -> int:
        """The position of the price in force in its model's lists; -1 if none."""
        found = self._by_model.get((provider, model))
        return bisect.bisect_right(found[0], when) - 1 if found else -1

    def price_at(self, provider: str, model: str, when: dt.datetime) -> ModelPrice | None:
        index = self._index(provider, model, when)
        return self._by_model[provider, model][1][index] if index >= 0 else None

    def cost(self, provider: str, model: str, when: dt.datetime, tokens: TokenCounts) -> Decimal:
        """The cost of a call, class by class; zero for a model with no price (shown as
        unpriced usage)."""
        index = self._index(provider, model, when)
        return self._by_model[provider, model][2][index].cost(tokens) if index >= 0 else ZERO


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

"""The ``auto`` tier: the gateway infers a request's tier from the request itself, then
orders the tier route's candidates by what the request is expected to cost
(docs/gateway.md, "Auto routing"; decision 0023).

The score is a weighted sum of features read from the request — its length, the depth
of the conversation, the tools offered, code, reasoning cues and the output size asked
for — between 0 and 1. Below the tenant's ``auto_simple_max`` the request is
``simple``, from ``auto_complex_min`` on ``complex``, ``standard`` in between. Every
feature's contribution goes on the record, so a routing decision can be explained.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from edge.gateway.catalog import Price, PriceTable, Provider, Route, TenantPolicy
from edge.gateway.request import GatewayRequest
from edge.gateway.route import Target, plan, select_route
from edge.tokens import TokenCounts

EXPECTED_OUTPUT_TOKENS = 400
"""Output expected from a request that sets no cap (the caps are far above typical)."""

# Reasoning cues: whole words, word stems and phrases (a set lookup per word: a regex
# alternation of them all costs ten times more).
_CUE_WORDS = frozenset(
    [
        "analyse",
        "analyze",
        "analysis",
        "design",
        "prove",
        "proof",
        "derive",
        "tradeoff",
        "tradeoffs",
        "complexity",
        "evaluate",
        "compare",
        "comparison",
        "justify",
        "critique",
        "investigate",
        "invariant",
        "invariants",
        "detailed",
        "comprehensive",
        "rigorous",
        "explain",
        "propose",
        "review",
        "identify",
        "discuss",
        "prioritise",
        "prioritize",
        "prioritised",
        "prioritized",
        "estimate",
        "hypothesis",
        "hypotheses",
        "specification",
        "argument",
        "reasoning",
        "evidence",
        "risk",
        "risks",
        "architecture",
        "experiment",
        "schema",
        "capacity",
    ]
)
_CUE_STEMS = (
    "architect",
    "optimi",
    "refactor",
    "debug",
    "algorithm",
    "implement",
    "migrat",
    "concurren",
    "assess",
    "strateg",
    "diagnos",
    "reconcil",
    "forecast",
    "scalab",
    "recommend",
    "calculat",
)
_CUE_PHRASES = (
    "step by step",
    "step-by-step",
    "trade-off",
    "trade off",
    "root cause",
    "race condition",
    "threat model",
    "pros and cons",
    "plan for",
    "model the",
    "why does",
    "why is",
    "explain how",
    "explain why",
    "in depth",
    "edge case",
    "latency budget",
    "failure mode",
    "describe how",
    "walk me through",
)
_WORD = re.compile(r"[a-z]+")
_CODE = re.compile(
    r"```|\bdef \w+\(|\bclass \w+[:(]|\bfunction \w*\(|=>|\bSELECT\b[^;]{0,300}\bFROM\b|"
    r"\bimport \w+|#include|\bpublic static\b|\bfn \w+\(|\{\s*\n|;\s*\n|Traceback \(most"
)


_STEM_LENGTHS = sorted({len(stem) for stem in _CUE_STEMS})
_STEMS = frozenset(_CUE_STEMS)
_CODE_HINTS = ("```", "(", "=>", "{", ";", "#include", "import ", "SELECT", "Traceback")


def reasoning_cues(text: str) -> int:
    """Distinct reasoning words, stems and phrases in ``text``."""
    lowered = text.lower()
    words = set(_WORD.findall(lowered))
    stems = {word[:size] for word in words for size in _STEM_LENGTHS} & _STEMS
    found = len(words & _CUE_WORDS) + len(stems)
    return found + sum(1 for phrase in _CUE_PHRASES if phrase in lowered)


def has_code(text: str) -> bool:
    # The regex only where a cheap look finds what code is made of.
    return any(hint in text for hint in _CODE_HINTS) and _CODE.search(text) is not None


# How much each feature may add to the score (they sum to 1).
WEIGHTS = {
    "length": 0.30,
    "reasoning": 0.35,
    "code": 0.15,
    "tools": 0.08,
    "depth": 0.06,
    "output": 0.06,
}


@dataclass(frozen=True)
class Features:
    chars: int
    """The conversation's text without the system prompt (an agent's system prompt is
    the same for its easy and hard requests), in characters."""
    messages: int
    tools: int
    code: bool
    reasoning_cues: int
    """Distinct reasoning words and phrases."""
    max_output_tokens: int | None

    def contributions(self) -> dict[str, float]:
        # Length on a log scale: 60 characters add nothing, 600 the full weight.
        length = min(1.0, max(0.0, math.log10(max(self.chars, 1) / 60)))
        output = self.max_output_tokens
        return {
            "length": WEIGHTS["length"] * length,
            "reasoning": WEIGHTS["reasoning"] * min(1.0, self.reasoning_cues / 2),
            "code": WEIGHTS["code"] * self.code,
            "tools": WEIGHTS["tools"] * min(1.0, self.tools / 3),
            "depth": WEIGHTS["depth"] * min(1.0, max(0, self.messages - 1) / 8),
            "output": WEIGHTS["output"]
            * (0.0 if output is None else min(1.0, max(0.0, (output - 256) / 1792))),
        }


def _texts(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _texts(item)
    elif isinstance(value, dict):
        for key in ("text", "content", "input", "arguments"):
            if key in value:
                yield from _texts(value[key])


def features(request: GatewayRequest) -> Features:
    body = request.body
    messages = body.get("messages") or []
    texts = [
        text
        for message in messages
        if isinstance(message, dict) and message.get("role") not in ("system", "developer")
        for text in _texts(message.get("content"))
    ]
    text = "\n".join(texts)
    return Features(
        chars=len(text),
        messages=len(messages),
        tools=len(request.tools),
        code=has_code(text),
        reasoning_cues=reasoning_cues(text),
        max_output_tokens=request.max_output_tokens,
    )


@dataclass(frozen=True)
class Choice:
    tier: str
    score: float
    features: Features
    contributions: dict[str, float]

    def annotations(self) -> dict[str, Any]:
        f = self.features
        return {
            "acp.gateway.auto.tier": self.tier,
            "acp.gateway.auto.score": round(self.score, 4),
            "acp.gateway.auto.features": {
                "chars": f.chars,
                "messages": f.messages,
                "tools": f.tools,
                "code": f.code,
                "reasoning_cues": f.reasoning_cues,
                "max_output_tokens": f.max_output_tokens,
            },
            "acp.gateway.auto.contributions": {
                name: round(value, 4) for name, value in self.contributions.items()
            },
        }


def choose(request: GatewayRequest, policy: TenantPolicy) -> Choice:
    found = features(request)
    contributions = found.contributions()
    score = min(1.0, sum(contributions.values()))
    if score < policy.auto_simple_max:
        tier = "simple"
    elif score >= policy.auto_complex_min:
        tier = "complex"
    else:
        tier = "standard"
    return Choice(tier, score, found, contributions)


# --- which candidate ------------------------------------------------------------------------


def expected_tokens(request: GatewayRequest, body_bytes: int) -> tuple[int, int]:
    """(input, output) tokens to expect: about 4 bytes a token in, the cap or a typical
    answer out."""
    cap = request.max_output_tokens
    output = min(cap, EXPECTED_OUTPUT_TOKENS) if cap else EXPECTED_OUTPUT_TOKENS
    return body_bytes // 4 + 1, output


def expected_cost(price: Price | None, tokens: tuple[int, int]) -> Decimal | None:
    if price is None:
        return None
    return (price.input_per_million * tokens[0] + price.output_per_million * tokens[1]) / 1_000_000


class Latencies:
    """Recent latency per provider and model (exponentially weighted), to break ties."""

    def __init__(self, weight: float = 0.2) -> None:
        self.weight = weight
        self._ms: dict[tuple[str, str], float] = {}

    def observe(self, key: tuple[str, str], latency_ms: float) -> None:
        before = self._ms.get(key)
        self._ms[key] = (
            latency_ms if before is None else before + self.weight * (latency_ms - before)
        )

    def get(self, key: tuple[str, str]) -> float:
        return self._ms.get(key, 0.0)


def by_cost(
    targets: Sequence[Target],
    prices: PriceTable,
    now: datetime,
    tokens: tuple[int, int],
    unhealthy: Callable[[Target], bool],
    latencies: Latencies,
) -> list[Target]:
    """Cheapest for the expected tokens first, then healthy before unhealthy, then the
    faster; unpriced candidates last (their cost is unknown)."""

    def rank(target: Target) -> tuple[bool, Decimal, bool, float]:
        cost = expected_cost(prices.for_provider(target.provider, target.model, now), tokens)
        return (cost is None, cost or Decimal(0), unhealthy(target), latencies.get(target.key))

    return sorted(targets, key=rank)


def frontier_price(
    routes: Sequence[Route],
    providers: Mapping[str, Provider],
    prices: PriceTable,
    *,
    tenant_id: str,
    model: str | None,
    allowed_models: Collection[str],
    serves: Callable[[Provider], bool],
    now: datetime,
    tokens: tuple[int, int],
) -> Price | None:
    """The price the request would have had at the ``complex`` tier: the baseline of
    what auto routing saves."""
    route = select_route(routes, tenant_id, "complex", model)
    if route is None:
        return None
    order = random.Random(0)  # noqa: S311 - sorted by cost right after
    targets = plan(route, model, providers, allowed_models, serves, order)
    for target in by_cost(targets, prices, now, tokens, lambda _: False, Latencies()):
        return prices.for_provider(target.provider, target.model, now)
    return None


def savings(frontier: Price | None, actual: Decimal, tokens: TokenCounts) -> dict[str, Any]:
    """What the request would have cost at the frontier tier, token class by token
    class as it was served, and what auto saved."""
    if frontier is None:
        return {}
    baseline = frontier.rates.cost(tokens)
    return {
        "acp.gateway.auto.frontier_cost": str(baseline),
        "acp.gateway.auto.saved": str(max(baseline - actual, Decimal(0))),
    }

"""What the ``auto`` tier saves against sending everything to the frontier (complex)
tier, on the demo's traffic mix and on the labelled set of the tests.

    .venv/bin/python bench/auto_routing_savings.py [--requests 5000] [--seed 1]

In-process and deterministic: each request is scored by ``edge.gateway.routing_auto``
exactly as the edge does, and priced at the candidate auto routing puts first in the
demo's route for the chosen tier (controlplane/gateway/demo.py: its routes and list
prices), for the tokens the simulated provider would use (input: the request body at
4 bytes a token; output: the simulated answer, capped by ``max_tokens``). Frontier-only
prices every request at the complex route's first candidate the same way; "as declared"
at the tier the demo's agents declare by role (what the demo does today).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlplane.settings")

import django  # noqa: E402

django.setup()  # the demo's configuration lives with the Django apps

from controlplane.gateway.demo import PRICES  # noqa: E402
from controlplane.telemetry.simulator import (  # noqa: E402
    TIER_BY_ROLE,
    TOOLS_BY_ROLE,
    SimulatedAgent,
    gateway_chat_request,
    system_prompt_for,
)
from edge.gateway.catalog import NO_POLICY, Price, PriceTable, Provider  # noqa: E402
from edge.gateway.request import parse_request  # noqa: E402
from edge.gateway.route import Target  # noqa: E402
from edge.gateway.routing_auto import Latencies, by_cost, choose, expected_cost  # noqa: E402
from edge.simprovider import count_tokens, prompt_text, reply_text  # noqa: E402
from tests.edge.gateway.test_routing_auto import labelled  # noqa: E402

NOW = datetime(2026, 12, 1, tzinfo=UTC)
# The demo's tier routes (controlplane/gateway/demo.py).
TIER_CANDIDATES = {
    "simple": ("gpt-4o-mini", "claude-3-5-haiku"),
    "standard": ("gpt-4o", "claude-sonnet-4"),
    "complex": ("claude-sonnet-4", "gpt-4o"),
}


def price_table() -> PriceTable:
    return PriceTable(
        [Price(model, model, prices[0], prices[1], NOW) for model, prices in PRICES.items()]
    )


def first_choice(tier: str, prices: PriceTable, tokens: tuple[int, int]) -> Target:
    targets = [
        Target(Provider(model, None, "openai", "http://sim", frozenset(), name=model), model)
        for model in TIER_CANDIDATES[tier]
    ]
    return by_cost(targets, prices, NOW, tokens, lambda _: False, Latencies())[0]


def demo_traffic(count: int, seed: int) -> list[tuple[str, dict[str, Any]]]:
    """(declared tier, body) of the demo agents' gateway requests, roles in equal share."""
    rng = random.Random(seed)
    agents = [
        SimulatedAgent(f"{role}-agent", role, {}, "", system_prompt_for(f"{role}-agent", role))
        for role in TOOLS_BY_ROLE
    ]
    traffic = []
    for number in range(count):
        agent = agents[number % len(agents)]
        body = gateway_chat_request(agent, rng, stray_rate=0)
        traffic.append((TIER_BY_ROLE.get(agent.role, "standard"), body))
    return traffic


def run(name: str, traffic: list[tuple[str, dict[str, Any]]]) -> None:
    prices = price_table()
    totals = Counter[str]()
    money = {"auto": Decimal(0), "frontier": Decimal(0), "declared": Decimal(0)}
    for declared, body in traffic:
        raw = orjson.dumps({**body, "model": "acp/auto"})
        request = parse_request("openai", "chat", raw, {})
        tier = choose(request, NO_POLICY).tier
        totals[tier] += 1
        answer, _ = reply_text(prompt_text(body), body.get("max_tokens"))
        tokens = (len(raw) // 4 + 1, count_tokens(answer))
        for key, chosen in (("auto", tier), ("frontier", "complex"), ("declared", declared)):
            target = first_choice(chosen, prices, tokens)
            cost = expected_cost(prices.for_provider(target.provider, target.model, NOW), tokens)
            money[key] += cost or Decimal(0)
    saved = money["frontier"] - money["auto"]
    share = saved / money["frontier"] * 100 if money["frontier"] else Decimal(0)
    print(f"## {name}: {len(traffic)} requests")
    print(f"tiers chosen by auto: {dict(sorted(totals.items()))}")
    print("| routing | cost (USD) | per 1,000 requests |")
    print("| --- | ---: | ---: |")
    for key, label in (
        ("frontier", "frontier only (complex tier)"),
        ("declared", "tier as declared"),
        ("auto", "auto tier"),
    ):
        per_thousand = money[key] / len(traffic) * 1000
        print(f"| {label} | {money[key]:.4f} | {per_thousand:.4f} |")
    print(f"auto saves {saved:.4f} USD against frontier only ({share:.1f} %)\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    run("demo traffic mix", demo_traffic(args.requests, args.seed))
    run("labelled set (tests/edge/gateway/data)", labelled())


if __name__ == "__main__":
    main()

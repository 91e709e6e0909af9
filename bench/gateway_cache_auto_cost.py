"""The gateway's own work for the response cache and the auto tier, in process (no
HTTP, no other process), so that a loaded machine blurs it less than the end-to-end
benchmark:

    .venv/bin/python bench/gateway_cache_auto_cost.py [--runs 5] [--requests 20000] [--json FILE]

- cache hit: parse the request, key it, look it up, and build the answer (whole, and
  replayed as a stream) — everything the edge does for a hit besides the HTTP hops,
  authentication and policy, which a miss pays too;
- cache miss: key, look up, store;
- auto tier: score a request (features, tier) and order three candidates by cost.

Each run times every case over ``--requests`` requests: the mean wall time and CPU time
per request; bench/harness.py reports the median of ``--runs`` runs with their spread,
the load average and the commit.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from itertools import count
from pathlib import Path

import orjson

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench import harness  # noqa: E402
from edge.gateway import cache  # noqa: E402
from edge.gateway.catalog import NO_POLICY, Price, PriceTable, Provider  # noqa: E402
from edge.gateway.request import parse_request  # noqa: E402
from edge.gateway.route import Target  # noqa: E402
from edge.gateway.routing_auto import Latencies, by_cost, choose, expected_tokens  # noqa: E402

NOW = datetime(2026, 12, 1, tzinfo=UTC)
TENANT = "7d3e5a0c-1111-4c6b-9a53-0d5f1d8e0001"
PROMPT = (
    "Summarise the customer's ticket in two sentences and propose the next step. "
    "The customer reports that invoices from last month show the wrong VAT rate."
)


def body(number: int, model: str = "acp/auto") -> bytes:
    return orjson.dumps(
        {
            "model": model,
            "messages": [
                {"role": "system", "content": "You are a support assistant."},
                {"role": "user", "content": f"{PROMPT} Ticket {number}."},
            ],
            "max_tokens": 64,
        }
    )


ANSWER = orjson.dumps(
    {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": "gpt-4o-mini",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "lorem ipsum " * 20},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 60, "completion_tokens": 60, "total_tokens": 120},
    }
)


def entry(store: cache.ResponseCache) -> cache.Entry:
    now = store.clock()
    return cache.Entry(
        TENANT,
        ANSWER,
        "openai",
        "gpt-4o-mini",
        "gpt-4o-mini",
        60,
        60,
        Decimal("0.0001"),
        now,
        now + 3600,
    )


def lookup(store: cache.ResponseCache, raw: bytes) -> cache.Lookup | None:
    request = parse_request("openai", "chat", raw, {})
    return store.lookup(
        tenant_id=TENANT,
        ttl_seconds=3600,
        route_id="default",
        tier="simple",
        request=request,
        headers={},
        verdicts=[],
    )


def timed(work: Callable[[int], object], requests: int) -> tuple[float, float]:
    """Mean (wall µs, CPU µs) per request."""
    with harness.CpuClock() as cpu:
        wall = time.perf_counter()
        for number in range(requests):
            work(number)
        wall = time.perf_counter() - wall
    return wall / requests * 1e6, cpu.seconds / requests * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=20000)
    harness.add_arguments(parser)
    args = parser.parse_args()

    store = cache.ResponseCache(64 << 20)
    hit_body = body(0)
    first = lookup(store, hit_body)
    assert first is not None
    store.store(first, entry(store))
    prices = PriceTable(
        [
            Price("openai", "gpt-4o-mini", Decimal("0.15"), Decimal("0.60"), NOW),
            Price("openai", "gpt-4o", Decimal("2.50"), Decimal("10"), NOW),
            Price("anthropic", "claude-sonnet-4", Decimal("3"), Decimal("15"), NOW),
        ]
    )
    targets = [
        Target(Provider(kind, None, kind, "http://x", frozenset(), name=kind), model)
        for kind, model in (
            ("anthropic", "claude-sonnet-4"),
            ("openai", "gpt-4o"),
            ("openai", "gpt-4o-mini"),
        )
    ]
    latencies = Latencies()

    def hit(_: int) -> object:
        found = lookup(store, hit_body)
        assert found is not None and found.entry is not None
        return found.entry.content

    def hit_stream(_: int) -> object:
        found = lookup(store, hit_body)
        assert found is not None and found.entry is not None
        return cache.replay("openai", found.entry.content, True)

    fresh = count(1)

    def miss(_: int) -> object:
        found = lookup(store, body(next(fresh)))
        assert found is not None and found.status == "miss"
        return store.store(found, entry(store))

    def auto(number: int) -> object:
        raw = body(number)
        request = parse_request("openai", "chat", raw, {})
        choose(request, NO_POLICY)
        tokens = expected_tokens(request, len(raw))
        return by_cost(targets, prices, NOW, tokens, lambda _: False, latencies)

    def baseline(number: int) -> object:
        return parse_request("openai", "chat", body(number), {})

    cases = {
        "parse only (every request pays it)": baseline,
        "cache hit, whole answer": hit,
        "cache hit, replayed as a stream": hit_stream,
        "cache miss (key, look up, store)": miss,
        "auto tier (score + order by cost)": auto,
    }

    def measure_once(_: int) -> harness.Figures:
        figures: harness.Figures = {}
        for name, work in cases.items():
            wall, cpu = timed(work, args.requests)
            figures[f"{name}: wall_us"] = wall
            figures[f"{name}: CPU_us"] = cpu
        return figures

    context = harness.start()
    runs = harness.repeat(measure_once, runs=args.runs)
    context.notes.append(
        f"{args.requests:,} requests per case and run, in one process; cache entries at the "
        f"end: {len(store):,} ({store.bytes:,} bytes)."
    )
    harness.report(
        "Response cache and auto tier, in process", runs, context=context, json_path=args.json
    )


if __name__ == "__main__":
    main()

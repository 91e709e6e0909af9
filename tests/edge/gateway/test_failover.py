"""Failover under load: the primary provider fails 30% of requests, a second one is
healthy; nearly every request is served, and each is metered exactly once."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import orjson

from tests.edge.conftest import NODE_HEADERS

from .conftest import (
    OPENAI_HEADERS,
    SimProcess,
    apull_all,
    await_spooled,
    gateway_doc,
    in_process_edge,
    provider,
    route,
)

REQUESTS = 10_000
CONCURRENCY = 50


async def _drive(tmp_path: Path, primary: SimProcess, secondary: SimProcess) -> None:
    doc = gateway_doc(
        providers=[provider("primary", primary.url), provider("secondary", secondary.url)],
        routes=[
            route(
                candidates=[
                    {"provider_id": "primary", "model": "*", "weight": 3},
                    {"provider_id": "secondary", "model": "*", "weight": 1},
                ],
                max_attempts=3,
            )
        ],
    )
    doc["policies"][0].update(injection="off", pii="off")  # not what this test is about
    async with in_process_edge(tmp_path / "edge", breaker_cooldown_seconds=1.0) as edge:
        response = await edge.put("/v1/config", content=orjson.dumps(doc), headers=NODE_HEADERS)
        assert response.status_code == 200, response.text
        statuses: Counter[int] = Counter()
        remaining = iter(range(REQUESTS))

        async def client() -> None:
            for number in remaining:
                body = {
                    "model": "gpt-4o-mini",
                    "messages": [{"role": "user", "content": f"request {number}"}],
                    "max_tokens": 16,
                }
                answer = await edge.post("/v1/chat/completions", json=body, headers=OPENAI_HEADERS)
                statuses[answer.status_code] += 1

        started = time.monotonic()
        await asyncio.gather(*(client() for _ in range(CONCURRENCY)))
        elapsed = time.monotonic() - started
        assert await await_spooled(edge, REQUESTS) == REQUESTS
        records = await apull_all(edge)

    served = statuses[200]
    print(f"{REQUESTS} requests in {elapsed:.1f}s; statuses {dict(statuses)}")
    assert served / REQUESTS >= 0.999, statuses

    # Exactly one record per request, none twice.
    assert len(records) == REQUESTS
    assert len({record["event_id"] for record in records}) == REQUESTS
    assert Counter(record["status"] for record in records)["ok"] == served

    attempts = [a for record in records for a in record["attributes"]["acp.gateway.attempts"]]
    by_provider = Counter(attempt["provider_id"] for attempt in attempts)
    # Every attempt the providers saw is listed on exactly one record.
    assert by_provider["primary"] == primary.stats()["requests"]
    assert by_provider["secondary"] == secondary.stats()["requests"]
    failed_over = [r for r in records if len(r["attributes"]["acp.gateway.attempts"]) > 1]
    assert len(failed_over) > 100, "the primary's failures were failed over"
    for record in failed_over:
        listed = record["attributes"]["acp.gateway.attempts"]
        assert [a["status"] for a in listed[:-1]] == ["error"] * (len(listed) - 1)
        assert listed[0]["http_status"] == 500
    # The primary's breaker opened (and re-opened after failed probes); each trip is on
    # the failed attempt that caused it, and only the failing provider trips.
    trips = Counter(a["provider_id"] for a in attempts if a["breaker_tripped"])
    assert trips["primary"] >= 1 and trips["secondary"] == 0
    assert all(a["status"] != "ok" for a in attempts if a["breaker_tripped"])
    # Failed attempts cost nothing; the served one is priced from its reported usage.
    for record in records:
        listed = record["attributes"]["acp.gateway.attempts"]
        assert sum(Decimal(a["cost"]) for a in listed) == Decimal(
            record["attributes"]["acp.gateway.cost"]
        )
        if record["status"] == "ok":
            price = (Decimal("0.15") * record["input_tokens"]) + (
                Decimal("0.60") * record["output_tokens"]
            )
            assert Decimal(record["attributes"]["acp.gateway.cost"]) == price / 1_000_000


def test_ten_thousand_requests_through_a_failing_primary(
    tmp_path: Path, sim_processes: Callable[..., SimProcess]
) -> None:
    primary = sim_processes("--latency-ms", "0", "--error-rate", "0.3", "--seed", "7")
    secondary = sim_processes("--latency-ms", "0", "--seed", "8")
    asyncio.run(_drive(tmp_path, primary, secondary))

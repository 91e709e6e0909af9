"""A hard budget under 50 concurrent agents' requests (chat, streams and failover
attempts alike): nothing is served past the allowance, and once it is used up every
request is refused."""

from __future__ import annotations

import asyncio
import sqlite3
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from tests.edge.conftest import NODE_HEADERS, TENANT

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

CLIENTS = 50
ALLOWANCE = Decimal("0.50")
PRICE = {
    "provider": "openai",
    "model": "gpt-4o-mini",
    "input_per_million": "100",
    "output_per_million": "1000",
    "effective_from": "2026-01-01T00:00:00Z",
}


def budget_doc() -> dict[str, Any]:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return {
        "budget_id": "tenant-day",
        "tenant_id": TENANT,
        "scope": "tenant",
        "scope_id": TENANT,
        "period": "day",
        "period_start": today.isoformat(),
        "limit": "2.00",
        "kind": "hard",
        "allowance": str(ALLOWANCE),
    }


async def _drive(data_dir: Path, flaky: SimProcess, healthy: SimProcess) -> None:
    doc = gateway_doc(
        providers=[provider("flaky", flaky.url), provider("healthy", healthy.url)],
        routes=[
            route(
                candidates=[
                    {"provider_id": "flaky", "weight": 1},
                    {"provider_id": "healthy", "weight": 0},
                ]
            )
        ],
        prices=[PRICE],
        budgets=[budget_doc()],
    )
    async with in_process_edge(data_dir, breaker_failures=1000) as edge:
        response = await edge.put("/v1/config", content=orjson.dumps(doc), headers=NODE_HEADERS)
        assert response.status_code == 200, response.text
        statuses: Counter[int] = Counter()

        async def agent(number: int) -> None:
            stream = number % 2 == 1
            while True:
                body: dict[str, Any] = {
                    "model": "gpt-4o-mini",
                    "messages": [{"role": "user", "content": f"agent {number} asks"}],
                    "max_tokens": 16,
                }
                if stream:
                    body.update(stream=True, stream_options={"include_usage": True})
                answer = await edge.post("/v1/chat/completions", json=body, headers=OPENAI_HEADERS)
                statuses[answer.status_code] += 1
                if answer.status_code == 429:
                    assert answer.json()["error"]["code"] == "budget.exhausted"
                    assert int(answer.headers["retry-after"]) > 0
                    return
                assert answer.status_code == 200, answer.text

        await asyncio.gather(*(agent(n) for n in range(CLIENTS)))
        late = await edge.post(
            "/v1/chat/completions",
            json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]},
            headers=OPENAI_HEADERS,
        )
        assert late.status_code == 429, "a used-up allowance refuses every request"
        total = sum(statuses.values()) + 1
        assert await await_spooled(edge, total) == total
        records = await apull_all(edge)
        ledger = edge.app.state.gateway.ledger  # type: ignore[attr-defined]
        in_memory = ledger.totals()

    served = [r for r in records if r["status"] == "ok"]
    refused = [r for r in records if r["status"] == "refused"]
    assert len(served) == statuses[200] and len(refused) == statuses[429] + 1 == CLIENTS + 1
    spent = sum(Decimal(r["attributes"]["acp.gateway.cost"]) for r in records)
    print(f"served {len(served)}, refused {len(refused)}, spent {spent} of {ALLOWANCE}")
    assert len(served) > 10
    assert spent <= ALLOWANCE
    assert all(
        r["attributes"]["acp.gateway.verdicts"][-1]["code"] == "budget.exhausted" for r in refused
    )
    assert any(len(r["attributes"]["acp.gateway.attempts"]) > 1 for r in served), "failovers"
    key = ("tenant-day", budget_doc()["period_start"].replace("Z", "+00:00"))
    assert in_memory == {key: spent}
    with sqlite3.connect(data_dir / "spool.sqlite3") as db:
        rows = db.execute("SELECT budget_id, period_start, spent FROM budget_spend").fetchall()
    assert [(b, p, Decimal(s)) for b, p, s in rows] == [(*key, spent)], "durable, same total"


def test_fifty_agents_never_spend_past_a_hard_allowance(
    tmp_path: Path, sim_processes: Callable[..., SimProcess]
) -> None:
    flaky = sim_processes("--latency-ms", "0", "--error-rate", "0.3", "--seed", "3")
    healthy = sim_processes("--latency-ms", "0")
    asyncio.run(_drive(tmp_path / "edge", flaky, healthy))

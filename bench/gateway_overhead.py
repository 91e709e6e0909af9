"""What the routing gateway adds to a model call: the same chat request sent to the
simulated provider directly and through an edge node, side by side, repeated
(bench/harness.py: 5 runs, median, spread, CPU per request, load average, commit).

    .venv/bin/python bench/gateway_overhead.py [--runs 5] [--rate 200] [--seconds 10]
        [--ceiling-seconds 0] [--concurrency 32] [--cache-auto] [--json FILE]

Each run, at a steady open-loop ``--rate`` requests/s to the provider directly and the
same rate through the edge, interleaved so both see the same machine (added latency =
through-edge percentile minus direct percentile), two phases on one edge:

- default: the content filter's **rules** inline (injection ``block``, PII ``flag``),
  then the same with the **learned stage** (``injection_stage: rules_and_classifier``;
  the classifier reads every text the rules leave undecided, i.e. every benign one);
- ``--cache-auto``: the tenant caches answers and the agent asks for ``acp/auto``;
  **misses** (every request differs: key, lookup, store, auto scoring and cost ordering
  on every one), then **hits** (one request repeated; its added latency is the hit's
  time through the edge minus the provider's own answer).

``--ceiling-seconds N`` adds a closed loop of ``--concurrency`` requests in flight: the
throughput ceiling of one edge process. The simulated provider answers at once
(latency 0), so what is measured is the gateway: authentication, policy, content filter,
budget reservation, routing, the provider call's own HTTP hop, and the capture record
written to the spool (fsync, group commit). The load generator is a minimal keep-alive
HTTP/1.1 client, so that its own cost does not blur the numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import count
from pathlib import Path
from typing import Any

import httpx
import orjson
import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench import harness  # noqa: E402
from edge.process import free_port  # noqa: E402
from tests.edge.conftest import (  # noqa: E402
    AGENT_KEY,
    DEVICE,
    DEVICE_KEY,
    NODE_HEADERS,
    NODE_TOKEN,
    TENANT,
)
from tests.edge.gateway.conftest import gateway_doc, provider, route  # noqa: E402

PROMPT = (
    "Summarise the customer's ticket in two sentences and propose the next step. "
    "The customer reports that invoices from last month show the wrong VAT rate."
)
BODY = orjson.dumps(
    {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "You are a support assistant."},
            {"role": "user", "content": PROMPT},
        ],
        "max_tokens": 64,
    }
)
AUTO_ROUTES = [
    route("simple", [{"provider_id": "sim-a", "model": "gpt-4o-mini", "weight": 1}], tier="simple"),
    route(
        "standard", [{"provider_id": "sim-a", "model": "gpt-4o-mini", "weight": 1}], tier="standard"
    ),
    route("complex", [{"provider_id": "sim-a", "model": "gpt-4o", "weight": 1}], tier="complex"),
]


def unique_bodies(model: str) -> Callable[[], bytes]:
    """A different request each time (every one a cache miss), else as BODY."""
    numbers = count()

    def body() -> bytes:
        prompt = f"{PROMPT} Ticket {next(numbers)}."
        return orjson.dumps(
            {
                "model": model,
                "messages": [
                    {"role": "system", "content": "You are a support assistant."},
                    {"role": "user", "content": prompt},
                ],
                "max_tokens": 64,
            }
        )

    return body


EDGE_HEADERS = {
    "Authorization": f"Bearer {AGENT_KEY}",
    "X-ACP-Device-Id": DEVICE,
    "X-ACP-Device-Key": DEVICE_KEY,
}


class Connection:
    """One keep-alive HTTP/1.1 connection; bodies with Content-Length only."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.used = time.monotonic()

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def post(self, path: str, headers: dict[str, str], body: bytes) -> int:
        head = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"]
        head += [f"{name}: {value}" for name, value in headers.items()]
        head.append(f"Content-Length: {len(body)}")
        self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        response = await self.reader.readuntil(b"\r\n\r\n")
        status = int(response[9:12])
        length = 0
        for line in response.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        await self.reader.readexactly(length)
        return status


class Target:
    """Requests to one server over a pool of keep-alive connections."""

    def __init__(
        self,
        name: str,
        port: int,
        path: str,
        headers: dict[str, str],
        body: Callable[[], bytes] = lambda: BODY,
    ) -> None:
        self.name, self.port, self.path, self.headers = name, port, path, headers
        self.body = body
        self.idle: list[Connection] = []
        self.latencies: list[float] = []
        self.errors = 0
        self.error_kinds: Counter[str] = Counter()

    async def send(self) -> None:
        # Servers close idle keep-alive connections (uvicorn after 5 s): do not reuse
        # one that may be gone.
        while self.idle and time.monotonic() - self.idle[0].used > 2:
            self.idle.pop(0).writer.close()
        connection = self.idle.pop() if self.idle else await Connection.open(self.port)
        started = time.perf_counter()
        try:
            status = await connection.post(self.path, self.headers, self.body())
        except (OSError, asyncio.IncompleteReadError) as error:
            self.errors += 1
            self.error_kinds[type(error).__name__] += 1
            return
        self.latencies.append((time.perf_counter() - started) * 1000)
        if status != 200:
            self.errors += 1
            self.error_kinds[f"HTTP {status}"] += 1
        connection.used = time.monotonic()
        self.idle.append(connection)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def steady(targets: list[Target], rate: float, seconds: float) -> None:
    """Open loop: a request to each target every 1/rate s, whether or not the last one
    has returned (so a slow server cannot slow the offered load)."""
    tasks: set[asyncio.Task[None]] = set()
    interval = 1 / rate
    start = time.perf_counter()
    for number in range(int(rate * seconds)):
        delay = start + number * interval - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        for target in targets:
            task = asyncio.create_task(target.send())
            tasks.add(task)
            task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)


async def closed_loop(target: Target, concurrency: int, seconds: float) -> float:
    deadline = time.perf_counter() + seconds
    done = 0

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await target.send()
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done / (time.perf_counter() - started)


@dataclass(frozen=True)
class Phase:
    name: str
    stage: str  # the policy's injection_stage
    body: Callable[[], bytes]
    direct_body: Callable[[], bytes]
    cache_ttl_seconds: int = 0


def phases(cache_auto: bool) -> list[Phase]:
    if not cache_auto:
        return [
            Phase("rules", "rules", lambda: BODY, lambda: BODY),
            Phase("learned", "rules_and_classifier", lambda: BODY, lambda: BODY),
        ]
    hit_body = unique_bodies("acp/auto")()
    return [
        Phase("miss", "rules", unique_bodies("acp/auto"), unique_bodies("gpt-4o-mini"), 3600),
        Phase("hit", "rules", lambda: hit_body, lambda: BODY, 3600),
    ]


class Edge:
    """The simulated provider and one edge process, configured through its API."""

    def __init__(self, data_dir: str, cache_auto: bool) -> None:
        self.sim_port, self.port = free_port(), free_port()
        self.cache_auto = cache_auto
        self.version = 0
        self.processes = [
            start(["-m", "edge.simprovider", "--port", str(self.sim_port), "--latency-ms", "0"])
        ]
        edge_env = {
            "EDGE_PORT": str(self.port),
            "EDGE_DATA_DIR": data_dir,
            "EDGE_NODE_TOKEN_SHA256": hashlib.sha256(NODE_TOKEN.encode()).hexdigest(),
        }
        self.processes.append(start(["-m", "edge"], edge_env))
        self.process = psutil.Process(self.processes[-1].pid)
        self.sim_url, self.url = (
            f"http://127.0.0.1:{self.sim_port}",
            f"http://127.0.0.1:{self.port}",
        )
        wait_for(f"{self.sim_url}/_sim/stats")
        wait_for(f"{self.url}/v1/heartbeat", NODE_HEADERS)

    def configure(self, phase: Phase) -> None:
        self.version += 1
        doc: dict[str, Any] = gateway_doc(
            self.version,
            providers=[provider("sim-a", self.sim_url)],
            routes=AUTO_ROUTES if self.cache_auto else None,
        )
        doc["policies"][0].update(
            injection="block",
            pii="flag",
            injection_stage=phase.stage,
            cache_ttl_seconds=phase.cache_ttl_seconds,
        )
        if self.cache_auto:
            doc["prices"].append({**doc["prices"][0], "model": "gpt-4o"})
        doc["budgets"] = [
            {
                "budget_id": "bench",
                "tenant_id": TENANT,
                "scope": "tenant",
                "scope_id": TENANT,
                "period": "day",
                "period_start": datetime.now(UTC)
                .replace(hour=0, minute=0, second=0, microsecond=0)
                .isoformat(),
                "limit": "1000000",
                "kind": "hard",
                "allowance": "1000000",
            }
        ]
        response = httpx.put(
            f"{self.url}/v1/config", content=orjson.dumps(doc), headers=NODE_HEADERS
        )
        response.raise_for_status()

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
            process.wait(10)


async def measure_phase(edge: Edge, phase: Phase, args: argparse.Namespace) -> harness.Figures:
    direct = Target("direct", edge.sim_port, "/v1/chat/completions", {}, phase.direct_body)
    gateway = Target("edge", edge.port, "/v1/chat/completions", EDGE_HEADERS, phase.body)
    await steady([direct, gateway], args.rate, 2)  # warm up both (and fill the cache)
    direct.latencies.clear()
    gateway.latencies.clear()
    gateway.errors = direct.errors = 0
    times = edge.process.cpu_times()
    await steady([direct, gateway], args.rate, args.seconds)
    after = edge.process.cpu_times()
    edge_cpu = after.user + after.system - times.user - times.system
    served = max(1, len(gateway.latencies))
    p = phase.name
    figures = {
        f"{p}: direct p50_ms": percentile(direct.latencies, 0.5),
        f"{p}: direct p99_ms": percentile(direct.latencies, 0.99),
        f"{p}: edge p50_ms": percentile(gateway.latencies, 0.5),
        f"{p}: edge p99_ms": percentile(gateway.latencies, 0.99),
        f"{p}: added p50_ms": percentile(gateway.latencies, 0.5)
        - percentile(direct.latencies, 0.5),
        f"{p}: added p99_ms": percentile(gateway.latencies, 0.99)
        - percentile(direct.latencies, 0.99),
        f"{p}: edge CPU per request_ms": edge_cpu * 1000 / served,
        f"{p}: errors": float(gateway.errors + direct.errors),
    }
    if args.ceiling_seconds:
        target = Target("edge", edge.port, "/v1/chat/completions", EDGE_HEADERS, phase.body)
        figures[f"{p}: ceiling_per_s"] = await closed_loop(
            target, args.concurrency, args.ceiling_seconds
        )
    return figures


def measure_once(edge: Edge, args: argparse.Namespace) -> harness.Figures:
    figures: harness.Figures = {}
    for phase in phases(args.cache_auto):
        edge.configure(phase)
        figures.update(asyncio.run(measure_phase(edge, phase, args)))
    return figures


def failed_attempts(edge_url: str) -> Counter[str]:
    """Provider attempts that failed, by error (the gateway retried or failed over)."""
    errors: Counter[str] = Counter()
    after = 0
    while True:
        response = httpx.get(
            f"{edge_url}/v1/pull", params={"after": after, "limit": 10000}, headers=NODE_HEADERS
        )
        if int(response.headers["X-ACP-Count"]) == 0:
            return errors
        for line in response.content.splitlines():
            for attempt in orjson.loads(line)["attributes"]["acp.gateway.attempts"]:
                if attempt["status"] != "ok":
                    errors[attempt["error"][:80]] += 1
        after = int(response.headers["X-ACP-Next-Cursor"])


def wait_for(url: str, headers: dict[str, str] | None = None) -> None:
    deadline = time.monotonic() + 20
    while True:
        try:
            httpx.get(url, headers=headers, timeout=1)
            return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def start(args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, *args], cwd=REPO, env={**os.environ, **(env or {})})


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--ceiling-seconds", type=float, default=0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument(
        "--cache-auto",
        action="store_true",
        help="cache on, agent asks for acp/auto: a phase of misses, then one of hits",
    )
    harness.add_arguments(parser)
    args = parser.parse_args()

    context = harness.start()
    with tempfile.TemporaryDirectory() as data_dir:
        edge = Edge(data_dir, args.cache_auto)
        try:
            runs = harness.repeat(lambda _: measure_once(edge, args), runs=args.runs)
            records = httpx.get(f"{edge.url}/v1/heartbeat", headers=NODE_HEADERS).json()["spool"]
            retried = failed_attempts(edge.url)
        finally:
            edge.stop()
    context.notes.append(
        f"{args.rate:.0f} requests/s to the provider and {args.rate:.0f} through the edge for "
        f"{args.seconds:.0f} s per phase; {records['last_cursor']:,} capture records written."
    )
    if retried:
        context.notes.append(f"Failed provider attempts (retried): {dict(retried)}")
    title = "Gateway overhead, cache + auto tier" if args.cache_auto else "Gateway overhead"
    harness.report(title, runs, context=context, json_path=args.json)


if __name__ == "__main__":
    main()

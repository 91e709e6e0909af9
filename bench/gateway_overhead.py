"""What the routing gateway adds to a model call: the same chat request sent to the
simulated provider directly and through an edge node, side by side in one run.

    .venv/bin/python bench/gateway_overhead.py [--rate 200] [--seconds 20]
                                                [--ceiling-seconds 10] [--concurrency 32]

1. Latency at a steady rate: open-loop, ``--rate`` requests/s to the provider directly
   and ``--rate`` requests/s through the edge, interleaved, so both see the same machine.
   Added latency = through-edge percentile minus direct percentile.
2. Throughput ceiling of one edge process: closed-loop, ``--concurrency`` requests in
   flight through the edge for ``--ceiling-seconds``.

The simulated provider answers at once (latency 0), so what is measured is the gateway:
authentication, policy, content filter (injection ``block``, PII ``flag``), budget
reservation, routing, the provider call's own HTTP hop, and the capture record written
to the spool (fsync, group commit). The load generator is a minimal keep-alive HTTP/1.1
client, so that its own cost does not blur the numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from itertools import count
from pathlib import Path
from typing import Any

import httpx
import orjson
import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

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


async def measure(
    sim_port: int, edge_port: int, edge_process: psutil.Process, args: argparse.Namespace
) -> tuple[Target, Target, Target, float, float, float, float]:
    if args.cache_auto:
        direct = Target(
            "direct", sim_port, "/v1/chat/completions", {}, unique_bodies("gpt-4o-mini")
        )
        gateway = Target(
            "edge (cache miss, auto tier)",
            edge_port,
            "/v1/chat/completions",
            EDGE_HEADERS,
            unique_bodies("acp/auto"),
        )
    else:
        direct = Target("direct", sim_port, "/v1/chat/completions", {})
        gateway = Target("edge", edge_port, "/v1/chat/completions", EDGE_HEADERS)
    await steady([direct, gateway], args.rate, 2)  # warm up both
    direct.latencies.clear()
    gateway.latencies.clear()
    edge_process.cpu_percent(None)
    await steady([direct, gateway], args.rate, args.seconds)
    cpu = edge_process.cpu_percent(None)

    ceiling_target = Target("edge", edge_port, "/v1/chat/completions", EDGE_HEADERS)
    edge_process.cpu_percent(None)
    ceiling = await closed_loop(ceiling_target, args.concurrency, args.ceiling_seconds)
    ceiling_cpu = edge_process.cpu_percent(None)
    direct_target = Target("direct", sim_port, "/v1/chat/completions", {})
    direct_ceiling = await closed_loop(direct_target, args.concurrency, args.ceiling_seconds / 2)
    return direct, gateway, ceiling_target, cpu, ceiling, ceiling_cpu, direct_ceiling


async def measure_hits(sim_port: int, edge_port: int, args: argparse.Namespace) -> list[Target]:
    """The same request again and again: every one after the first a cache hit."""
    hit_body = unique_bodies("acp/auto")()
    direct = Target("direct (same request)", sim_port, "/v1/chat/completions", {})
    hits = Target(
        "edge (cache hit)", edge_port, "/v1/chat/completions", EDGE_HEADERS, lambda: hit_body
    )
    await steady([direct, hits], args.rate, 2)
    direct.latencies.clear()
    hits.latencies.clear()
    await steady([direct, hits], args.rate, args.seconds)
    return [direct, hits]


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
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--ceiling-seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument(
        "--cache-auto",
        action="store_true",
        help="the tenant caches answers and the agent asks for acp/auto; every request "
        "differs (misses), then a phase of one request repeated (hits)",
    )
    args = parser.parse_args()

    load_before = os.getloadavg()
    sim_port, edge_port = free_port(), free_port()
    processes = []
    with tempfile.TemporaryDirectory() as data_dir:
        try:
            processes.append(
                start(["-m", "edge.simprovider", "--port", str(sim_port), "--latency-ms", "0"])
            )
            edge_env = {
                "EDGE_PORT": str(edge_port),
                "EDGE_DATA_DIR": data_dir,
                "EDGE_NODE_TOKEN_SHA256": hashlib.sha256(NODE_TOKEN.encode()).hexdigest(),
            }
            edge = start(["-m", "edge"], edge_env)
            processes.append(edge)
            sim_url, edge_url = f"http://127.0.0.1:{sim_port}", f"http://127.0.0.1:{edge_port}"
            wait_for(f"{sim_url}/_sim/stats")
            wait_for(f"{edge_url}/v1/heartbeat", NODE_HEADERS)
            doc: dict[str, Any] = gateway_doc(
                providers=[provider("sim-a", sim_url)],
                routes=AUTO_ROUTES if args.cache_auto else None,
            )
            doc["policies"][0].update(injection="block", pii="flag")
            if args.cache_auto:
                doc["policies"][0]["cache_ttl_seconds"] = 3600
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
                f"{edge_url}/v1/config", content=orjson.dumps(doc), headers=NODE_HEADERS
            )
            response.raise_for_status()

            edge_process = psutil.Process(edge.pid)
            direct, gateway, ceiling_target, cpu, ceiling, ceiling_cpu, direct_ceiling = (
                asyncio.run(measure(sim_port, edge_port, edge_process, args))
            )
            hit_targets = (
                asyncio.run(measure_hits(sim_port, edge_port, args)) if args.cache_auto else []
            )
            records = httpx.get(f"{edge_url}/v1/heartbeat", headers=NODE_HEADERS).json()["spool"]
            retried = failed_attempts(edge_url)
        finally:
            for process in processes:
                process.terminate()
                process.wait(10)

    print(
        f"machine: {os.cpu_count()} CPUs; load average before: "
        f"{', '.join(f'{load:.2f}' for load in load_before)}; after: "
        f"{', '.join(f'{load:.2f}' for load in os.getloadavg())}"
    )
    print(f"steady: {args.rate:.0f} req/s to each for {args.seconds:.0f} s")
    print("| | p50 ms | p90 ms | p99 ms | max ms | errors |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for target in (direct, gateway):
        values = target.latencies
        print(
            f"| {target.name} | {percentile(values, 0.5):.2f} | {percentile(values, 0.9):.2f} "
            f"| {percentile(values, 0.99):.2f} | {max(values):.2f} | {target.errors} |"
        )
    added = {
        q: percentile(gateway.latencies, q) - percentile(direct.latencies, q)
        for q in (0.5, 0.9, 0.99)
    }
    print(f"| added by the gateway | {added[0.5]:.2f} | {added[0.9]:.2f} | {added[0.99]:.2f} | | |")
    for target in hit_targets:
        values = target.latencies
        print(
            f"| {target.name} | {percentile(values, 0.5):.2f} | {percentile(values, 0.9):.2f} "
            f"| {percentile(values, 0.99):.2f} | {max(values):.2f} | {target.errors} |"
        )
    print(f"edge CPU at {args.rate:.0f} req/s: {cpu:.0f}% of one core")
    mean = statistics.fmean(gateway.latencies)
    print(f"mean through the edge: {mean:.2f} ms")
    print(
        f"ceiling: {ceiling:.0f} req/s through one edge process ({args.concurrency} in flight, "
        f"edge CPU {ceiling_cpu:.0f}%, errors {ceiling_target.errors}); the simulated provider "
        f"alone: {direct_ceiling:.0f} req/s"
    )
    print(f"spool records written: {records['last_cursor']}")
    if retried:
        print(f"failed provider attempts (retried by the gateway): {dict(retried)}")
    for target in (direct, gateway, ceiling_target):
        if target.error_kinds:
            print(f"errors ({target.name}): {dict(target.error_kinds)}")


if __name__ == "__main__":
    main()

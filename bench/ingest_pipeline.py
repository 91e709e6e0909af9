"""Events per second from one edge node's spool into both stores, with one worker, and
what the events cost on disk in ClickHouse and in the Postgres ledger.

    .venv/bin/python bench/ingest_pipeline.py [--events 200000] [--agents 40]
                                              [--dir var/bench]

1. A fresh embedded Postgres and chDB under ``--dir`` (wiped first if this benchmark
   made it), ``migrate`` and ``migrate_clickhouse``, list prices for the simulator's
   models; a tenant with departments, a site, an edge node and ``--agents`` agents of
   five roles, through the services.
2. A real ``python -m edge`` process; one ``pull_edge_node`` pushes its configuration.
3. The spool is filled with ``TraceFactory`` traffic (OTLP protobuf POSTs, not timed):
   long system prompts with tool schemas that repeat per agent, JSON bodies, errors.
4. Timed: ``pull_edge_node`` in a loop, in this process (what one Celery worker runs),
   until the spool is empty: pull over HTTP, parse, price, ledger COPY + insert,
   ClickHouse insert, ack; the next batch is pulled and prepared, and the ClickHouse
   insert runs, in helper threads (docs/decisions/0009-ingest-concurrency.md). The
   split is measured by wrapping what pull.py calls (``EdgeClient.pull``/``ack``,
   ``build_batch``, ``ledger_insert``, ``spans_table``, ``spans_insert``, and the
   worker's two waits) with timers; product code is not changed. CPU is reported for
   the whole stack (this process, the edge process, Postgres), the measure to compare
   runs by on a shared machine. ``BENCH_PROFILE=out.prof`` also writes a cProfile of
   the drain (the worker's own thread only).
5. Sizes: raw = the spool's record bytes; ClickHouse = active parts of ``spans`` after
   ``OPTIMIZE TABLE spans FINAL``, per column too; Postgres = ``pg_total_relation_size``
   of the ledger partitions.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

F = TypeVar("F", bound=Callable[..., Any])


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200_000, help="spans to ingest")
    parser.add_argument("--agents", type=int, default=40)
    parser.add_argument("--dir", type=Path, default=REPO / "var" / "bench")
    parser.add_argument("--seed", type=int, default=2026)
    return parser.parse_args()


ARGS = _args()
BENCH_DIR = ARGS.dir.resolve()
MARKER = BENCH_DIR / ".ingest-pipeline-bench"
if BENCH_DIR.exists() and any(BENCH_DIR.iterdir()):
    if not MARKER.exists():  # never wipe a directory this benchmark did not make
        sys.exit(f"{BENCH_DIR} is not empty and was not made by this benchmark; pass --dir")
    shutil.rmtree(BENCH_DIR)
BENCH_DIR.mkdir(parents=True, exist_ok=True)
MARKER.touch()
os.environ["CONTROLPLANE_VAR_DIR"] = str(BENCH_DIR)
os.environ["CHDB_PATH"] = str(BENCH_DIR / "chdb")
os.environ["DJANGO_SETTINGS_MODULE"] = "controlplane.settings"
for name in ("DATABASE_URL", "CLICKHOUSE_URL", "REDIS_URL"):
    os.environ.pop(name, None)

import django  # noqa: E402

django.setup()

import httpx  # noqa: E402
import psutil  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from billing.services import model_price_create  # noqa: E402
from controlplane.agents.client_env import DEVICE_ID_HEADER, DEVICE_KEY_HEADER  # noqa: E402
from controlplane.agents.models import EdgeNode  # noqa: E402
from controlplane.agents.services import (  # noqa: E402
    agent_create,
    agent_key_issue,
    device_register,
    edge_node_create,
    sha256_hex,
    site_create,
)
from controlplane.analytics import get_store  # noqa: E402
from controlplane.audit.services import Actor  # noqa: E402
from controlplane.core.tenancy import all_tenants_context, tenant_context  # noqa: E402
from controlplane.gateway.demo import PRICES, PRICES_FROM  # noqa: E402
from controlplane.gateway.signing import bundle_public_keys  # noqa: E402
from controlplane.telemetry import pull  # noqa: E402
from controlplane.telemetry.edge_client import EdgeClient  # noqa: E402
from controlplane.telemetry.simulator import (  # noqa: E402
    MODELS,
    TOOLS_BY_ROLE,
    SimulatedAgent,
    TraceFactory,
    system_prompt_for,
)
from tenants.services import department_create, tenant_create  # noqa: E402
from tests.edge.conftest import EdgeProcess  # noqa: E402

ACTOR = Actor.system("bench")
ROLES = {
    "marketing": "Marketing",
    "finance": "Finance",
    "support": "Support",
    "engineering": "Engineering",
    "hr": "HR",
}
TRACES_PER_REQUEST = 20
NODE_HEADERS: dict[str, str] = {}


# --- timers around what pull.py calls ------------------------------------------------

TIMES: dict[str, float] = defaultdict(float)
CALLS: dict[str, int] = defaultdict(int)


def timed(label: str, function: F) -> F:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            TIMES[label] += time.perf_counter() - started
            CALLS[label] += 1

    return wrapper  # type: ignore[return-value]


def install_timers() -> None:
    # Helper threads prepare the next batch (pull, parse and price, Arrow table) and
    # insert into ClickHouse while the worker's own thread writes the ledger: only the
    # ledger insert and the two waits are on the worker's own thread.
    pull.build_batch = timed("build_batch (parse, price), overlapped", pull.build_batch)
    pull.spans_table = timed("spans_table (Arrow), overlapped", pull.spans_table)
    pull.spans_insert = timed("spans_insert (ClickHouse), overlapped", pull.spans_insert)
    pull.ledger_insert_isolating = timed(
        "ledger_insert (Postgres COPY)", pull.ledger_insert_isolating
    )
    pull._Pipeline.prepared = timed(  # type: ignore[method-assign]
        "wait for the next batch", pull._Pipeline.prepared
    )
    pull.wait = timed("wait for ClickHouse", pull.wait)
    pull.acquire_lease = timed("lease (take, extend)", pull.acquire_lease)
    EdgeClient.pull = timed("edge pull (HTTP), overlapped", EdgeClient.pull)  # type: ignore[method-assign]
    EdgeClient.ack = timed("edge ack (HTTP), overlapped", EdgeClient.ack)  # type: ignore[method-assign]


# --- setup ------------------------------------------------------------------------------


def setup_fleet(agents: int) -> tuple[EdgeNode, EdgeProcess, list[SimulatedAgent]]:
    call_command("migrate", verbosity=0)
    call_command("migrate_clickhouse", verbosity=0)
    for provider, model, _ in MODELS:  # the simulator's models, at list prices
        input_price, output_price = PRICES[model]
        model_price_create(
            actor=ACTOR,
            provider=provider,
            model=model,
            input_per_million=input_price,
            output_per_million=output_price,
            effective_from=PRICES_FROM,
        )
    tenant = tenant_create(actor=ACTOR, slug="bench", name="Bench Corp")
    departments = {
        role: department_create(actor=ACTOR, tenant=tenant, name=name)
        for role, name in ROLES.items()
    }
    site = site_create(actor=ACTOR, tenant=tenant, name="HQ")
    node, token = edge_node_create(
        actor=ACTOR,
        site=site,
        name="edge-1",
        pull_url="http://127.0.0.1:1",
        agent_url="http://127.0.0.1:1",
    )
    edge = EdgeProcess(
        BENCH_DIR / "edge",
        EDGE_NODE_TOKEN_SHA256=sha256_hex(token),
        EDGE_NODE_TOKEN=token,
        EDGE_BUNDLE_PUBLIC_KEYS=bundle_public_keys(),
        EDGE_MAX_SPOOL_BYTES=str(8 << 30),
    )
    NODE_HEADERS["Authorization"] = f"Bearer {token}"
    with tenant_context(tenant):
        EdgeNode.objects.filter(pk=node.pk).update(pull_url=edge.url, agent_url=edge.url)
    node.pull_url = node.agent_url = edge.url
    simulated = []
    roles = list(ROLES)
    for index in range(agents):
        role = roles[index % len(roles)]
        name = f"{role}-{TOOLS_BY_ROLE[role][0].split('.')[0]}-{index:03d}"
        device, device_key = device_register(actor=ACTOR, site=site, name=f"{name}-host")
        agent = agent_create(
            actor=ACTOR,
            tenant=tenant,
            name=name,
            department=departments[role],
            role=role,
            device=device,
            purpose=f"Bench {role} agent",
        )
        _, agent_key = agent_key_issue(actor=ACTOR, agent=agent)
        headers = {
            "Authorization": f"Bearer {agent_key}",
            DEVICE_ID_HEADER: str(device.pk),
            DEVICE_KEY_HEADER: device_key,
        }
        simulated.append(
            SimulatedAgent(
                name=name,
                role=role,
                headers=headers,
                endpoint=edge.url,
                system_prompt=system_prompt_for(name, role),
            )
        )
    return node, edge, simulated


def fill_spool(
    edge: EdgeProcess, agents: list[SimulatedAgent], events: int, seed: int
) -> tuple[int, int]:
    """Send traffic until the spool holds ``events`` spans. Returns (records, bytes)."""
    now = time.time_ns()
    lock = threading.Lock()
    sent = [0]

    def sender(worker: int) -> None:
        rng = random.Random(seed + worker)
        factory = TraceFactory(rng)
        with httpx.Client(timeout=60) as client:
            while True:
                with lock:
                    if sent[0] >= events:
                        return
                agent = rng.choice(agents)
                # Spread over the last three days, so rows fall into many hours.
                start = now - rng.randrange(0, 3 * 86_400) * 1_000_000_000
                request = factory.request(agent, TRACES_PER_REQUEST, now_ns=start)
                spans = sum(len(s.spans) for r in request.resource_spans for s in r.scope_spans)
                response = client.post(
                    f"{edge.url}/v1/traces",
                    content=request.SerializeToString(),
                    headers={**agent.headers, "Content-Type": "application/x-protobuf"},
                )
                response.raise_for_status()
                with lock:
                    sent[0] += spans

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(sender, range(4)))
    spool = heartbeat(edge)["spool"]
    return int(spool["records"]), int(spool["bytes"])


def heartbeat(edge: EdgeProcess) -> dict[str, Any]:
    response = httpx.get(f"{edge.url}/v1/heartbeat", headers=NODE_HEADERS)
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


# --- sizes ------------------------------------------------------------------------------


def clickhouse_sizes() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    store = get_store()
    store.command("OPTIMIZE TABLE spans FINAL")
    parts = store.query(
        "SELECT count() AS parts, sum(rows) AS rows, sum(bytes_on_disk) AS on_disk, "
        "sum(data_compressed_bytes) AS compressed, "
        "sum(data_uncompressed_bytes) AS uncompressed "
        "FROM system.parts WHERE database = currentDatabase() AND table = 'spans' AND active"
    )[0]
    columns = store.query(
        "SELECT name, type, compression_codec AS codec, data_compressed_bytes AS compressed, "
        "data_uncompressed_bytes AS uncompressed FROM system.columns "
        "WHERE database = currentDatabase() AND table = 'spans' "
        "ORDER BY data_compressed_bytes DESC LIMIT 10"
    )
    return parts, columns


def postgres_sizes() -> dict[str, int]:
    with all_tenants_context(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(sum(pg_total_relation_size(inhrelid)), 0), "
            "coalesce(sum(pg_relation_size(inhrelid)), 0), "
            "coalesce(sum(pg_indexes_size(inhrelid)), 0) FROM pg_inherits "
            "WHERE inhparent = 'telemetry_usageevent'::regclass"
        )
        total, heap, indexes = cursor.fetchone()
        cursor.execute("SELECT count(*) FROM telemetry_usageevent")
        (rows,) = cursor.fetchone()
    return {"total": int(total), "heap": int(heap), "indexes": int(indexes), "rows": int(rows)}


def thread_cpu() -> dict[str, float]:
    """CPU seconds of this process's threads, by thread name (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    by_name: dict[str, float] = defaultdict(float)
    for task in Path("/proc/self/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # the thread ended
            continue
        by_name[name.rstrip("0123456789_-")] += (int(fields[11]) + int(fields[12])) / ticks
    return by_name


def stack_processes(edge: EdgeProcess) -> list[psutil.Process]:
    """The edge process and the benchmark's Postgres (postmaster and its children)."""
    assert edge.process is not None
    found = [psutil.Process(edge.process.pid)]
    postmaster_pid = BENCH_DIR / "pgdata" / "postmaster.pid"
    if postmaster_pid.exists():
        postmaster = psutil.Process(int(postmaster_pid.read_text().split()[0]))
        found += [postmaster, *postmaster.children(recursive=True)]
    return found


def cpu_seconds(processes: list[psutil.Process]) -> dict[str, float]:
    """User + system CPU by kind ("edge", "postgres") of processes still running."""
    by_kind: dict[str, float] = defaultdict(float)
    for process in processes:
        try:
            times = process.cpu_times()
            kind = "postgres" if "postgres" in process.name() else "edge"
        except psutil.NoSuchProcess:
            continue
        by_kind[kind] += times.user + times.system
    return by_kind


def mib(n: float) -> str:
    return f"{n / 2**20:,.1f} MiB"


# --- main -------------------------------------------------------------------------------


def main() -> None:
    print(
        f"load average before: {os.getloadavg()[0]:.1f} (other work on the machine skews "
        "the numbers)"
    )
    print(
        f"machine: {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB; "
        f"stores under {BENCH_DIR}"
    )
    node, edge, agents = setup_fleet(ARGS.agents)
    edge.start()
    try:
        first = pull.pull_edge_node(node.pk, worker="bench")  # pushes the config
        assert first is not None and first.error == "", first
        started = time.monotonic()
        records, raw_bytes = fill_spool(edge, agents, ARGS.events, ARGS.seed)
        print(
            f"spool: {records:,} records, {mib(raw_bytes)}, "
            f"{raw_bytes / records:,.0f} bytes/record on average "
            f"(filled in {time.monotonic() - started:.0f} s, not timed)"
        )

        install_timers()
        proc = psutil.Process()
        cpu_before = sum(proc.cpu_times()[:2])
        threads_before = thread_cpu()
        stack = stack_processes(edge)
        stack_before = cpu_seconds(stack)
        started = time.perf_counter()
        ingested = runs = 0
        profiler = None
        if os.environ.get("BENCH_PROFILE"):  # a cProfile of the drain, main thread only
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        while True:
            result = pull.pull_edge_node(node.pk, worker="bench")
            assert result is not None and result.error == "", result
            runs += 1
            ingested += result.new_in_ledger
            if result.records == 0 or heartbeat(edge)["spool"]["records"] == 0:
                break
        elapsed = time.perf_counter() - started
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(os.environ["BENCH_PROFILE"])
        cpu = sum(proc.cpu_times()[:2]) - cpu_before
        stack_cpu = {
            kind: seconds - stack_before.get(kind, 0.0)
            for kind, seconds in cpu_seconds(stack).items()
        }
        threads = {
            name: seconds - threads_before.get(name, 0.0) for name, seconds in thread_cpu().items()
        }
        spool = heartbeat(edge)["spool"]
        load = os.getloadavg()[0]
    finally:
        edge.stop()

    print(
        f"\ndrain: {ingested:,} events in {elapsed:.2f} s with one worker "
        f"({runs} pull_edge_node runs, batch {settings.EDGE_PULL_BATCH_SIZE}); "
        f"spool left: {spool['records']}"
    )
    print(
        f"==> {ingested / elapsed:,.0f} events/s end to end, "
        f"{raw_bytes / elapsed / 2**20:,.1f} MiB/s of records; "
        f"worker CPU {cpu / elapsed:.0%} of one core, {cpu / ingested * 1e6:.0f} µs per event; "
        f"load average after: {load:.1f}"
    )
    total_cpu = cpu + sum(stack_cpu.values())
    print(
        f"CPU of the whole stack: {total_cpu / ingested * 1e6:.0f} µs per event "
        f"({total_cpu / elapsed:.0%} of one core; worker {cpu:.1f} s, "
        + ", ".join(f"{kind} {seconds:.1f} s" for kind, seconds in sorted(stack_cpu.items()))
        + f", over {elapsed:.1f} s on {os.cpu_count()} cores)"
    )
    # Python threads carry the interpreter's name; the helper threads of a finished run
    # are gone from /proc, so Python's share is what the named chDB threads leave.
    engine = {name: seconds for name, seconds in threads.items() if name != "python"}
    busy = sorted(engine.items(), key=lambda item: -item[1])
    print(
        f"worker CPU by thread: Python threads {cpu - sum(engine.values()):.1f} s, "
        + ", ".join(
            f"{name or '?'} {seconds:.1f} s" for name, seconds in busy[:5] if seconds >= 0.05
        )
    )
    print("\ntime split (inside the drain; overlapped stages run in helper threads):")
    accounted = 0.0
    for label, seconds in sorted(TIMES.items(), key=lambda item: -item[1]):
        accounted += 0 if "overlapped" in label else seconds
        print(
            f"  {label:32s} {seconds:7.2f} s  {seconds / elapsed:6.1%}  "
            f"({CALLS[label]} calls, {seconds / max(CALLS[label], 1) * 1000:.1f} ms each)"
        )
    other = elapsed - accounted
    print(f"  {'rest (waits, lease, node rows)':32s} {other:7.2f} s  {other / elapsed:6.1%}")

    parts, columns = clickhouse_sizes()
    print(f"\nClickHouse spans: {parts['rows']:,} rows in {parts['parts']} active parts")
    print(
        f"  on disk {mib(parts['on_disk'])}, compressed {mib(parts['compressed'])}, "
        f"uncompressed {mib(parts['uncompressed'])}"
    )
    print(
        f"  raw:on disk {raw_bytes / parts['on_disk']:.1f}:1, "
        f"raw:compressed {raw_bytes / parts['compressed']:.1f}:1, "
        f"uncompressed:compressed {parts['uncompressed'] / parts['compressed']:.1f}:1, "
        f"{parts['on_disk'] / parts['rows']:.0f} bytes/row on disk"
    )
    print("  top columns by compressed size:")
    for column in columns:
        ratio = column["uncompressed"] / max(column["compressed"], 1)
        print(
            f"    {column['name']:16s} {mib(column['compressed']):>12s} of "
            f"{mib(column['uncompressed']):>12s} ({ratio:5.1f}:1)  {column['codec']}"
        )

    pg = postgres_sizes()
    print(
        f"\nPostgres ledger: {pg['rows']:,} rows, {mib(pg['total'])} "
        f"(heap {mib(pg['heap'])}, indexes {mib(pg['indexes'])}), "
        f"{pg['total'] / max(pg['rows'], 1):.0f} bytes/row; "
        f"raw:stored {raw_bytes / pg['total']:.1f}:1 (the ledger keeps no bodies)"
    )

    get_store().close()
    connection.close()


if __name__ == "__main__":
    main()

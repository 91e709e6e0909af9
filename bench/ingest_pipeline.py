"""Events per second from one edge node's spool into both stores, with one worker, the
CPU the whole stack spends per event (by process), and what the events cost on disk in
ClickHouse and in the Postgres ledger. Reported through bench/harness.py: the median of
``--runs`` (5) drains, with their spread, the load average and the commit.

    .venv/bin/python bench/ingest_pipeline.py [--events 200000] [--agents 40] [--runs 5]
                                              [--dir var/bench] [--json FILE]

1. Once: a fresh embedded Postgres and chDB under ``--dir`` (wiped first if this
   benchmark made it), ``migrate`` and ``migrate_clickhouse``, list prices for the
   simulator's models; a tenant with departments, a site, an edge node and ``--agents``
   agents of five roles, through the services; a real ``python -m edge`` process, and
   one ``pull_edge_node`` that pushes its configuration.
2. Each run: the spool is filled with ``--events`` spans of ``TraceFactory`` traffic
   (OTLP protobuf POSTs, not timed; new traces every run): long system prompts with tool
   schemas that repeat per agent, JSON bodies, errors. Then, timed, ``pull_edge_node``
   in a loop, in this process (what one Celery worker runs), until the spool is empty:
   pull over HTTP, parse, price, ledger COPY + insert, ClickHouse insert, ack; the next
   batch is pulled and prepared, and the ClickHouse insert runs, in helper threads
   (docs/decisions/0009-ingest-concurrency.md).
3. CPU per event of the whole stack (the number to compare runs by on a shared machine,
   robust under ``nice``), split by process: this worker's Python threads, chDB in the
   worker (inserts with their materialized views: its ``ThreadPool`` threads and its
   work in the calling thread; merges, ``MergeMutate``; other chDB threads), the edge
   process, and Postgres (postmaster and backends). The time split of the last run comes
   from timers wrapped around what pull.py calls; product code is not changed.
   ``BENCH_PROFILE=out.prof`` writes a cProfile of the last drain (the worker's thread).
4. Sizes, after the runs: raw = the spool's record bytes; ClickHouse = active parts of
   ``spans`` after ``OPTIMIZE TABLE spans FINAL``; Postgres = ``pg_total_relation_size``
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
sys.path.insert(0, str(REPO / "bench"))

import harness  # noqa: E402

F = TypeVar("F", bound=Callable[..., Any])


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200_000, help="spans to ingest")
    parser.add_argument("--agents", type=int, default=40)
    parser.add_argument("--dir", type=Path, default=REPO / "var" / "bench")
    parser.add_argument("--seed", type=int, default=2026)
    harness.add_arguments(parser)
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
THREAD_CPU: dict[str, float] = defaultdict(float)
"""CPU of the calling thread inside each stage (chDB runs part of an insert there)."""
CALLS: dict[str, int] = defaultdict(int)
INSERT = "spans_insert (ClickHouse), overlapped"


def timed(label: str, function: F) -> F:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started, cpu = time.perf_counter(), time.thread_time()
        try:
            return function(*args, **kwargs)
        finally:
            TIMES[label] += time.perf_counter() - started
            THREAD_CPU[label] += time.thread_time() - cpu
            CALLS[label] += 1

    return wrapper  # type: ignore[return-value]


def install_timers() -> None:
    # Helper threads prepare the next batch (pull, parse and price, Arrow table) and
    # insert into ClickHouse while the worker's own thread writes the ledger: only the
    # ledger insert and the two waits are on the worker's own thread.
    pull.build_batch = timed("build_batch (parse, price), overlapped", pull.build_batch)
    pull.spans_table = timed("spans_table (Arrow), overlapped", pull.spans_table)
    pull.spans_insert = timed(INSERT, pull.spans_insert)
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


# One client for the benchmark's own heartbeats: a new one per call (httpx.get) loaded
# the CA bundle each time, 20-40 ms of CPU counted with the worker's Python.
_HEARTBEATS = httpx.Client(timeout=60)


def heartbeat(edge: EdgeProcess) -> dict[str, Any]:
    response = _HEARTBEATS.get(f"{edge.url}/v1/heartbeat", headers=NODE_HEADERS)
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
    """CPU seconds of this process's threads, by thread name (Linux /proc): chDB names
    its threads (``ThreadPool``, ``MergeMutate``, ...), Python threads carry the
    interpreter's name."""
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


def cpu_seconds(edge: EdgeProcess) -> dict[str, float]:
    """User + system CPU seconds so far, by part of the stack: the worker's Python
    threads and its chDB threads (insert pool, merges, the rest), the edge, Postgres.
    Threads and backends that ended are counted by their process (the worker's own
    total, Postgres's by the backends still running: the bench keeps one connection)."""
    own = psutil.Process().cpu_times()
    worker = own.user + own.system
    threads = thread_cpu()
    chdb = {name: seconds for name, seconds in threads.items() if name != "python"}
    insert = chdb.pop("ThreadPool", 0.0)
    merges = chdb.pop("MergeMutate", 0.0)
    calling = THREAD_CPU[INSERT]  # the insert's work in the thread that called it
    found = {
        "python": worker - insert - calling - merges - sum(chdb.values()),
        "chdb_insert": insert + calling,
        "chdb_merges": merges,
        "chdb_other": sum(chdb.values()),
        "edge": 0.0,
        "postgres": 0.0,
    }
    for process in stack_processes(edge):
        try:
            times = process.cpu_times()
            kind = "postgres" if "postgres" in process.name() else "edge"
        except psutil.NoSuchProcess:
            continue
        found[kind] += times.user + times.system
    return found


def drain(node: EdgeNode, edge: EdgeProcess) -> tuple[int, float]:
    """Pull the node until its spool is empty. Returns (new ledger rows, seconds)."""
    started = time.perf_counter()
    ingested = 0
    while True:
        result = pull.pull_edge_node(node.pk, worker="bench")
        assert result is not None and result.error == "", result
        ingested += result.new_in_ledger
        if result.records == 0 or heartbeat(edge)["spool"]["records"] == 0:
            return ingested, time.perf_counter() - started


def measure(
    run: int, node: EdgeNode, edge: EdgeProcess, agents: list[SimulatedAgent], raw: list[int]
) -> harness.Figures:
    records, raw_bytes = fill_spool(edge, agents, ARGS.events, ARGS.seed + 100 * run)
    raw.append(raw_bytes)
    for stages in (TIMES, THREAD_CPU, CALLS):
        stages.clear()
    profiler = None
    if os.environ.get("BENCH_PROFILE") and run == ARGS.runs:  # the worker's thread only
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    before = cpu_seconds(edge)
    ingested, elapsed = drain(node, edge)
    after = cpu_seconds(edge)
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(os.environ["BENCH_PROFILE"])
    assert ingested == records, f"{ingested} new ledger rows of {records} records"
    cpu = {part: after[part] - before[part] for part in after}
    figures = {
        "events_per_s": ingested / elapsed,
        "stack_cpu_us_per_event": sum(cpu.values()) / ingested * 1e6,
    }
    figures |= {f"{part}_cpu_us_per_event": s / ingested * 1e6 for part, s in cpu.items()}
    figures["stack_cpu_pct_of_2_cores"] = 100 * sum(cpu.values()) / elapsed / (os.cpu_count() or 1)
    return figures


def time_split() -> str:
    """The last run's stages (overlapped ones run in helper threads), as a note."""
    rows = [
        f"{label} {seconds / max(CALLS[label], 1) * 1000:.0f} ms "
        f"({THREAD_CPU[label] / max(CALLS[label], 1) * 1000:.0f} ms CPU of its thread)"
        for label, seconds in sorted(TIMES.items(), key=lambda item: -item[1])
    ]
    batches = CALLS["build_batch (parse, price), overlapped"]
    return (
        f"Time split of the last run, per call, {batches} batches of up to "
        f"{settings.EDGE_PULL_BATCH_SIZE:,} (overlapped stages run in helper threads): "
        + "; ".join(rows)
        + "."
    )


def sizes(raw_bytes: int) -> str:
    parts, columns = clickhouse_sizes()
    pg = postgres_sizes()
    top = ", ".join(f"{column['name']} {mib(column['compressed'])}" for column in columns[:4])
    return (
        f"Sizes after the runs: raw {mib(raw_bytes)} of records; ClickHouse spans "
        f"{parts['rows']:,} rows, {mib(parts['on_disk'])} on disk "
        f"({raw_bytes / parts['on_disk']:.1f}:1 raw to disk, "
        f"{parts['on_disk'] / parts['rows']:.0f} bytes/row; largest columns compressed: "
        f"{top}); Postgres ledger {pg['rows']:,} rows, "
        f"{mib(pg['total'])} (heap {mib(pg['heap'])}, indexes {mib(pg['indexes'])}), "
        f"{pg['total'] / max(pg['rows'], 1):.0f} bytes/row, {raw_bytes / pg['total']:.1f}:1 "
        "(the ledger keeps no bodies)."
    )


def mib(n: float) -> str:
    return f"{n / 2**20:,.1f} MiB"


# --- main -------------------------------------------------------------------------------


def main() -> None:
    context = harness.start()
    node, edge, agents = setup_fleet(ARGS.agents)
    edge.start()
    raw: list[int] = []
    try:
        first = pull.pull_edge_node(node.pk, worker="bench")  # pushes the config
        assert first is not None and first.error == "", first
        install_timers()
        runs = harness.repeat(lambda run: measure(run, node, edge, agents, raw), runs=ARGS.runs)
    finally:
        edge.stop()
    context.notes.append(
        f"{ARGS.events:,} events per run ({sum(raw) / len(raw) / 2**20:,.0f} MiB of records, "
        f"{sum(raw) / (ARGS.events * len(raw)):,.0f} bytes per record on average), "
        f"{ARGS.agents} agents, one worker, batch {settings.EDGE_PULL_BATCH_SIZE:,}; "
        "each run adds to the stores of the runs before it."
    )
    context.notes.append(time_split())
    context.notes.append(sizes(sum(raw)))
    harness.report("Ingestion pipeline, one worker", runs, context=context, json_path=ARGS.json)
    get_store().close()
    connection.close()


if __name__ == "__main__":
    main()

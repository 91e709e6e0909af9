"""Events per second through the multi-process server stack: two edge spools drained by a
Celery worker process into PostgreSQL and ClickHouse over HTTP.

    DATABASE_URL=postgres://controlplane@127.0.0.1:5432/cp_bench_stack \\
    REDIS_URL=redis://127.0.0.1:6379/14 \\
        .venv/bin/python bench/stack_pipeline.py [--events 20000] [--runs 5] [--concurrency 2]

The processes are the ones tests/stack starts (tests/stack/processes.py): ClickHouse over
HTTP (``python -m controlplane.analytics.chdb_server``), two ``python -m edge`` nodes, a
Celery worker (prefork) and beat, in production settings, against the PostgreSQL of
DATABASE_URL (run ``manage.py bootstrap_db`` for it first; the bench migrates it and adds
a tenant per invocation) and the Redis database of REDIS_URL (flushed: use a spare one).

Each run: with the worker stopped, ``--events`` spans are exported to the two edges
(half each) through the OpenTelemetry SDK (not timed); then the worker starts, and the
clock runs from its "ready" to the moment both edges report their spool acknowledged to
the last record. CPU is the CPU time over that window of the worker (with its pool),
ClickHouse and both edges; PostgreSQL's is not counted (a shared server here).
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench import harness  # noqa: E402
from tests.stack import processes  # noqa: E402


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    harness.add_arguments(parser)
    parser.add_argument("--events", type=int, default=20_000, help="spans per run")
    parser.add_argument("--concurrency", type=int, default=2, help="worker pool size")
    return parser.parse_args()


def _cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            process = psutil.Process(pid)
            for member in [process, *process.children(recursive=True)]:
                times = member.cpu_times()
                total += times.user + times.system
        except psutil.NoSuchProcess:
            continue
    return total


def main() -> None:
    args = _args()
    context = harness.start()
    for name in ("DATABASE_URL", "REDIS_URL"):
        if not os.environ.get(name):
            sys.exit(f"stack_pipeline: set {name} (see the docstring)")
    work = Path(tempfile.mkdtemp(prefix="bench-stack-"))
    logs = work / "logs"
    password = secrets.token_hex(12)
    clickhouse_port = processes.free_port()
    clickhouse = processes.clickhouse_server(
        path=work / "chdb", port=clickhouse_port, password=password, log_dir=logs
    ).start()
    clickhouse_url = f"http://default:{password}@127.0.0.1:{clickhouse_port}/"
    os.environ["CLICKHOUSE_URL"] = clickhouse_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlplane.settings")
    import django

    django.setup()
    import redis
    from celery import Celery
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    from controlplane.agents.models import EdgeNode
    from controlplane.agents.services import (
        agent_create,
        agent_key_issue,
        device_register,
        edge_node_create,
        site_create,
    )
    from controlplane.audit.services import Actor
    from controlplane.core.tenancy import tenant_context
    from controlplane.gateway.signing import bundle_public_keys
    from tenants.services import tenant_create
    from tests.stack.traffic import Traffic

    call_command("migrate", verbosity=0)
    call_command("migrate_clickhouse", verbosity=0)
    actor = Actor.system("bench")
    slug = f"bench-{secrets.token_hex(3)}"
    tenant = tenant_create(actor=actor, slug=slug, name=slug)
    site = site_create(actor=actor, tenant=tenant, name="bench")
    device, device_key = device_register(actor=actor, site=site, name="bench-host")
    agent = agent_create(actor=actor, tenant=tenant, name="bench-agent", device=device)
    _, agent_key = agent_key_issue(actor=actor, agent=agent)
    edges, tokens = [], []
    for number in (1, 2):
        port = processes.free_port()
        url = f"http://127.0.0.1:{port}"
        _, token = edge_node_create(
            actor=actor, site=site, name=f"edge-{number}", pull_url=url, agent_url=url
        )
        edges.append(
            processes.edge(
                f"edge-{number}",
                data_dir=work / f"edge-{number}",
                port=port,
                node_token=token,
                bundle_public_keys=bundle_public_keys(),
                log_dir=logs,
            ).start()
        )
        tokens.append(token)
    redis_url = os.environ["REDIS_URL"]
    redis.Redis.from_url(redis_url).flushdb()
    env = processes.app_env(
        var_dir=work / "var",
        database_url=processes.database_url(connection.settings_dict),
        redis_url=redis_url,
        clickhouse_url=clickhouse_url,
        field_encryption_keys=settings.FIELD_ENCRYPTION_KEYS,
        bundle_signing_keys=settings.BUNDLE_SIGNING_KEYS,
        EDGE_PULL_INTERVAL_SECONDS="1",
    )
    beat = processes.beat(env=env, log_dir=logs, var_dir=work / "var").start()
    broker = Celery(broker=redis_url, set_as_current=False)
    traffic = Traffic(
        str(tenant.pk),
        {
            "Authorization": f"Bearer {agent_key}",
            "x-acp-device-id": str(device.pk),
            "x-acp-device-key": device_key,
        },
    )

    def spool(index: int) -> dict[str, int]:
        import httpx

        edge = edges[index]
        reply = httpx.get(
            f"http://127.0.0.1:{edge.env['EDGE_PORT']}/v1/heartbeat",
            headers={"Authorization": f"Bearer {tokens[index]}"},
            timeout=10,
        )
        return dict(reply.json()["spool"])

    def drained() -> bool:
        return all(s["acked_cursor"] >= s["last_cursor"] for s in map(spool, (0, 1)))

    # The configuration first: agents are refused until the edge has it.
    worker = processes.worker("bench", env=env, log_dir=logs, concurrency=args.concurrency).start()
    deadline = time.monotonic() + 60
    with tenant_context(tenant):
        while EdgeNode.objects.filter(site=site, config_version_applied=0).exists():
            if time.monotonic() > deadline:
                sys.exit("stack_pipeline: the edges did not get their configuration")
            time.sleep(0.2)
    worker.stop()

    def measure(run: int) -> harness.Figures:
        for index in (0, 1):
            url = f"http://127.0.0.1:{edges[index].env['EDGE_PORT']}"
            for _ in range(args.events // 2 // 500):
                traffic.export(url, 500)
        events = 2 * (args.events // 2 // 500) * 500
        worker.start()
        pids = [s.process.pid for s in (worker, clickhouse, *edges) if s.process]
        # Time from the pull round beat would send next, sent now.
        cpu_start, started = _cpu(pids), time.perf_counter()
        broker.send_task("telemetry.schedule_pulls", queue="telemetry")
        while not drained():
            time.sleep(0.05)
        seconds = time.perf_counter() - started
        cpu = _cpu(pids) - cpu_start
        worker.stop()
        return {"events_per_s": events / seconds, "stack_cpu_us_per_event": cpu / events * 1e6}

    try:
        runs = harness.repeat(measure, runs=args.runs)
    finally:
        broker.close()
        for service in (worker, beat, *edges, clickhouse):
            service.stop()
    context.notes.append(
        f"{args.events:,} events a run over two edges, one worker of {args.concurrency} "
        f"processes; PostgreSQL's CPU is not counted; logs in {logs}."
    )
    harness.report("Server stack pipeline", runs, context=context, json_path=args.json)


if __name__ == "__main__":
    main()

"""Spans per second that ``manage.py import_otlp`` brings from a collector's files into
both stores, and what importing the same files again costs (it must add nothing).

    .venv/bin/python bench/import_otlp.py [--runs 5] [--weeks 3] [--dir var/bench-import]

1. A fresh embedded Postgres and chDB under ``--dir`` (wiped first if this benchmark
   made it), ``migrate`` and ``migrate_clickhouse``.
2. The security scenario kit's four office agents over ``--weeks`` weeks (plus four
   days) as OTLP (controlplane/security/scenario_otlp.py), written as a file exporter
   writes them, twice: all of it as JSON lines (gzipped), and all of it as
   length-delimited protobuf.
3. Timed, ``--runs`` times each, every run into a fresh tenant with the four agents:
   the JSON file, the protobuf file, and the protobuf file again into the tenant that
   has it (nothing new). Reported: the median and the spread (min-max) of wall time and
   of this process's CPU per 1,000 spans (the measure to compare runs by on a shared
   machine: Postgres and chDB's work in this process are included, Postgres's own is
   not), the load average, and the commit.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import os
import shutil
import statistics
import subprocess
import sys
import time
from io import StringIO
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--weeks", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=REPO / "var" / "bench-import")
    return parser.parse_args()


ARGS = _args()
BENCH_DIR = ARGS.dir.resolve()
MARKER = BENCH_DIR / ".import-otlp-bench"
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

from django.core.management import call_command  # noqa: E402

from controlplane.agents.services import agent_create  # noqa: E402
from controlplane.audit.services import Actor  # noqa: E402
from controlplane.security.scenario_otlp import as_json_line, otlp_requests  # noqa: E402
from controlplane.security.scenarios import AgentSpec, Plan, TenantPlan, spans  # noqa: E402
from tenants.services import tenant_create  # noqa: E402

ACTOR = Actor.system("bench")


def _plan(weeks: int) -> Plan:
    start = dt.datetime(2026, 8, 17, tzinfo=dt.UTC)
    tenant = TenantPlan(
        "bench",
        [
            AgentSpec("sup-1", "support", "office", 24),
            AgentSpec("sup-2", "support", "office", 20),
            AgentSpec("sup-3", "support", "office", 18),
            AgentSpec("eng-1", "engineering", "office", 12),
        ],
    )
    until = start + dt.timedelta(weeks=weeks, days=4)
    return Plan(3, start, until, [tenant], {"bench": []}, [])


def _files(plan: Plan) -> tuple[Path, Path, int]:
    rows = list(spans(plan, plan.tenants[0]))
    messages = list(otlp_requests(rows))
    json_path = BENCH_DIR / "traces.jsonl.gz"
    with gzip.open(json_path, "wb") as handle:
        for message in messages:
            handle.write(as_json_line(message))
    proto_path = BENCH_DIR / "traces.pb"
    with proto_path.open("wb") as handle:
        for message in messages:
            handle.write(len(message).to_bytes(4, "big") + message)
    return json_path, proto_path, len(rows)


def _tenant(plan: Plan, slug: str) -> str:
    tenant = tenant_create(actor=ACTOR, slug=slug, name=slug)
    for spec in plan.tenants[0].agents:
        agent_create(actor=ACTOR, tenant=tenant, name=spec.name, role=spec.role)
    return tenant.slug


def _timed(slug: str, path: Path) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    call_command("import_otlp", "--tenant", slug, str(path), stdout=StringIO())
    return time.perf_counter() - wall, time.process_time() - cpu


def _line(label: str, samples: list[tuple[float, float]], count: int) -> str:
    walls = [wall for wall, _ in samples]
    cpus = [cpu / count * 1000 for _, cpu in samples]
    return (
        f"| {label} | {count} | {statistics.median(walls):.1f} s "
        f"({min(walls):.1f}-{max(walls):.1f}) | {count / statistics.median(walls):,.0f} | "
        f"{statistics.median(cpus) * 1000:.0f} ms ({min(cpus) * 1000:.0f}-"
        f"{max(cpus) * 1000:.0f}) |"
    )


def main() -> None:
    call_command("migrate", verbosity=0)
    call_command("migrate_clickhouse", verbosity=0)
    plan = _plan(ARGS.weeks)
    json_path, proto_path, count = _files(plan)
    load = os.getloadavg()
    results: dict[str, list[tuple[float, float]]] = {"json": [], "proto": [], "again": []}
    for run in range(ARGS.runs):
        results["json"].append(_timed(_tenant(plan, f"json-{run}"), json_path))
        slug = _tenant(plan, f"proto-{run}")
        results["proto"].append(_timed(slug, proto_path))
        results["again"].append(_timed(slug, proto_path))
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
    ).stdout.strip()
    print(f"commit {commit}; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} before")
    print(f"{ARGS.runs} runs; median (min-max)")
    print("| file | spans | wall | spans/s | CPU per 1,000 spans |")
    print("| --- | --- | --- | --- | --- |")
    print(_line(f"JSON lines, gzip ({json_path.stat().st_size >> 10} KiB)", results["json"], count))
    print(_line(f"protobuf ({proto_path.stat().st_size >> 10} KiB)", results["proto"], count))
    print(_line("the protobuf file again (adds nothing)", results["again"], count))


if __name__ == "__main__":
    main()

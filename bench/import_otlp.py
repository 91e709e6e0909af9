"""Spans per second that ``manage.py import_otlp`` brings from a collector's files into
both stores, and what importing the same files again costs (it must add nothing).

    .venv/bin/python bench/import_otlp.py [--runs 5] [--weeks 3] [--dir var/bench-import]
                                          [--json FILE]

1. A fresh embedded Postgres and chDB under ``--dir`` (wiped first if this benchmark
   made it), ``migrate`` and ``migrate_clickhouse``.
2. The security scenario kit's four office agents over ``--weeks`` weeks (plus four
   days) as OTLP (controlplane/security/scenario_otlp.py), written as a file exporter
   writes them, twice: all of it as JSON lines (gzipped), and all of it as
   length-delimited protobuf.
3. Timed, ``--runs`` times each, every run into a fresh tenant with the four agents:
   the JSON file, the protobuf file, and the protobuf file again into the tenant that
   has it (nothing new). Reported through bench/harness.py: spans per second and this
   process's CPU per 1,000 spans (the measure to compare runs by on a shared machine:
   chDB's work in this process is included, Postgres's own is not), median and spread.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import os
import shutil
import sys
import time
from io import StringIO
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _bench_dir() -> Path:
    """``--dir``, read before Django starts (the stores are made there)."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--dir", type=Path, default=REPO / "var" / "bench-import")
    return Path(parser.parse_known_args()[0].dir).resolve()


BENCH_DIR = _bench_dir()
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

from bench import harness  # noqa: E402
from controlplane.agents.services import agent_create  # noqa: E402
from controlplane.audit.services import Actor  # noqa: E402
from controlplane.security.scenario_otlp import as_json_line, otlp_requests  # noqa: E402
from controlplane.security.scenario_spans import spans  # noqa: E402
from controlplane.security.scenarios import AgentSpec, Plan, TenantPlan  # noqa: E402
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


def _timed(slug: str, path: Path, count: int, label: str) -> harness.Figures:
    began = time.perf_counter()
    with harness.CpuClock() as cpu:
        call_command("import_otlp", "--tenant", slug, str(path), stdout=StringIO())
    wall = time.perf_counter() - began
    return {
        f"{label}_spans_per_s": count / wall,
        f"{label}_cpu_per_1000_spans_ms": cpu.seconds / count * 1000 * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    harness.add_arguments(parser)
    parser.add_argument("--weeks", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=REPO / "var" / "bench-import")
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    call_command("migrate_clickhouse", verbosity=0)
    plan = _plan(args.weeks)
    json_path, proto_path, count = _files(plan)
    context = harness.start()

    def measure(run: int) -> harness.Figures:
        figures = _timed(_tenant(plan, f"json-{run}"), json_path, count, "json")
        slug = _tenant(plan, f"proto-{run}")
        figures.update(_timed(slug, proto_path, count, "proto"))
        figures.update(_timed(slug, proto_path, count, "again"))
        return figures

    runs = harness.repeat(measure, runs=args.runs)
    context.notes.append(
        f"{count:,} spans a file: JSON lines gzipped ({json_path.stat().st_size >> 10} KiB), "
        f"length-delimited protobuf ({proto_path.stat().st_size >> 10} KiB); each run into a "
        "fresh tenant, then the protobuf file again into the tenant that has it (`again`, "
        "adds nothing). CPU of this process (chDB included, Postgres's own not)."
    )
    harness.report("OTLP file import", runs, context=context, json_path=args.json)


if __name__ == "__main__":
    main()

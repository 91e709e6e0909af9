"""The detectors' CPU cost per minute of telemetry, as they run live: a pass after each
pull judges the minute that just arrived (closed minutes, and the open one for what it
can raise early), over one tenant of the scenario kit.

    CHDB_PATH=/tmp/bench-security-cpu/chdb DATABASE_URL=postgres://... \\
        .venv/bin/python bench/security_cpu.py [--runs 5] [--minutes 30] [--only northwind]

1. ``migrate``, ``migrate_clickhouse``; the tenant ``--only`` of the scenario kit (seed 7,
   eight weeks) is loaded as bench/security_detection.py loads it, unless ``--prefix``
   names one loaded before.
2. Each run is an office-hours stretch of ``--minutes`` minutes on another weekday of
   week six. A first pass reads the history of whole days (once per tenant and day,
   controlplane/security/history.py) and is reported apart (``cold_pass_ms``); then one
   pass per minute, as after each pull: ``detection_run(fresh=True)`` with the clock at
   the end of that minute. CPU is this process's (Python, chDB's threads), by
   bench/harness.py CpuClock; Postgres's own is not counted (a shared server here).
3. Reported: CPU per minute of telemetry for the tenant and per agent, a pass's wall
   time (what bench/security_detection.py's ``--pass-seconds`` takes), the tasks a
   minute the tenant had, median of the runs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlplane.settings")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402

from bench import harness  # noqa: E402
from controlplane.core.tenancy import all_tenants_context, tenant_context  # noqa: E402
from controlplane.security import queries, scenarios, scoring  # noqa: E402
from controlplane.security.models import DetectionCursor  # noqa: E402
from controlplane.security.services import LATENESS, detection_run  # noqa: E402
from tenants.models import Tenant  # noqa: E402

MINUTE = dt.timedelta(minutes=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    harness.add_arguments(parser)
    parser.add_argument("--minutes", type=int, default=30)
    parser.add_argument("--only", default="northwind")
    parser.add_argument("--prefix", default=f"cpu{int(time.time()) % 100000}")
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    call_command("migrate_clickhouse", verbosity=0)
    plan = scenarios.plan(seed=7, weeks=8, prefix=args.prefix)
    plan.tenants = [t for t in plan.tenants if t.slug.endswith(args.only)]
    with all_tenants_context():
        tenant = Tenant.objects.filter(slug=plan.tenants[0].slug).first()
    if tenant is None:
        loaded = scoring.load(plan)
        tenant = loaded.tenants[plan.tenants[0].slug]
        print(f"loaded {loaded.spans:,} spans", file=sys.stderr)
    agents = len(plan.tenants[0].agents)
    context = harness.start()

    def measure(run: int) -> harness.Figures:
        # Week six, a weekday at 10:00 UTC (office hours of most agents).
        start = plan.start + dt.timedelta(weeks=5, days=(run - 1) % 5, hours=10)
        with tenant_context(tenant):
            DetectionCursor.objects.update_or_create(
                tenant=tenant, defaults={"judged_until": start - MINUTE}
            )
        with harness.CpuClock() as cold:
            detection_run(tenant_id=tenant.pk, now=start - dt.timedelta(seconds=1), fresh=True)
        walls = []
        with harness.CpuClock() as cpu:
            for minute in range(1, args.minutes + 1):
                now = start + minute * MINUTE - dt.timedelta(seconds=1)
                began = time.perf_counter()
                closed = (now - LATENESS).replace(second=0)  # what closed_until gives live
                detection_run(tenant_id=tenant.pk, now=now, until=closed, fresh=True)
                walls.append(time.perf_counter() - began)
        rows = queries.agent_minutes(tenant.pk, start, start + args.minutes * MINUTE)
        tasks = sum(float(r["tasks"]) for r in rows) / args.minutes
        per_minute = cpu.seconds / args.minutes
        return {
            "cpu_per_tenant_minute_ms": per_minute * 1000,
            "cpu_per_agent_minute_ms": per_minute * 1000 / agents,
            "pass_wall_ms": statistics.median(walls) * 1000,
            "cold_pass_ms": cold.seconds * 1000,
            "tasks_per_minute": tasks,
        }

    runs = harness.repeat(measure, runs=args.runs)
    context.notes.append(
        f"Tenant {plan.tenants[0].slug} ({agents} agents), {args.minutes} minutes a run, one "
        "pass a minute; cold_pass_ms is the first pass of a day (whole days of history read)."
    )
    harness.report(
        "Detectors' CPU per minute of telemetry", runs, context=context, json_path=args.json
    )


if __name__ == "__main__":
    main()

"""The detectors' CPU for a fleet: a round of detection runs, one per tenant, for each
minute of telemetry, as beat schedules them every minute, on the 10 M seed of
bench/dashboard_panels.py (100 tenants, 2,000 agents).

    CONTROLPLANE_VAR_DIR=/tmp/bench-dash .venv/bin/python bench/detection_fleet.py [--runs 5]

1. Every seeded tenant's detection cursor is set an hour before the newest seeded hour,
   and a first round is run: each tenant's weeks of history are read once
   (``cold_round_s``, the first round after a process starts or a day begins).
2. Each run: the next minute, ``detection_run`` for every tenant with that minute closed,
   as the worker's ``security.run_detection`` runs it. CPU of this process (Python and
   chDB's threads) by bench/harness.py CpuClock; Postgres's own is not counted.
3. Reported: CPU per round, per tenant and per agent, the largest tenant's run, and the
   round's wall time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlplane.settings")

import django  # noqa: E402

django.setup()

from bench import harness  # noqa: E402
from controlplane.agents.models import Agent  # noqa: E402
from controlplane.analytics import get_store  # noqa: E402
from controlplane.core.tenancy import all_tenants_context, tenant_context  # noqa: E402
from controlplane.security.models import DetectionCursor  # noqa: E402
from controlplane.security.services import detection_run  # noqa: E402
from tenants.models import Tenant  # noqa: E402

MINUTE = dt.timedelta(minutes=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    harness.add_arguments(parser)
    args = parser.parse_args()
    with all_tenants_context():
        tenants = list(Tenant.objects.filter(slug__startswith="seed-").order_by("slug"))
        agents = Agent.unscoped.filter(tenant__in=tenants).count()
    if not tenants:
        raise SystemExit("no seeded tenants here: run manage.py seed_events first")
    [latest] = get_store().query("SELECT max(hour) AS latest FROM tenants_hour")
    minute = latest["latest"].replace(tzinfo=dt.UTC) - dt.timedelta(hours=1)
    for tenant in tenants:
        with tenant_context(tenant):
            DetectionCursor.objects.update_or_create(
                tenant=tenant, defaults={"judged_until": minute}
            )
    context = harness.start()

    def round_at(at: dt.datetime) -> tuple[float, float, float]:
        """(CPU of the round, CPU of the largest tenant's run, wall time) in seconds."""
        began = time.perf_counter()
        with harness.CpuClock() as cpu:
            for tenant in tenants:
                with harness.CpuClock() as one:
                    detection_run(tenant_id=tenant.pk, now=at, until=at)
                if tenant is tenants[0]:
                    largest = one.seconds
        return cpu.seconds, largest, time.perf_counter() - began

    minute += MINUTE
    cold, _, _ = round_at(minute)

    def measure(run: int) -> harness.Figures:
        cpu, largest, wall = round_at(minute + run * MINUTE)
        return {
            "cpu_per_round_s": cpu,
            "cpu_per_tenant_minute_ms": cpu * 1000 / len(tenants),
            "cpu_per_agent_minute_ms": cpu * 1000 / agents,
            "largest_tenant_run_ms": largest * 1000,
            "round_wall_s": wall,
        }

    runs = harness.repeat(measure, runs=args.runs)
    context.notes.append(
        f"{len(tenants)} tenants, {agents:,} agents ({tenants[0].slug} the largest); one round "
        f"per minute of telemetry. The first round, which read every tenant's weeks of "
        f"history, took {cold:.1f} s of CPU (cold_round_s)."
    )
    harness.report("Detectors' CPU for a fleet", runs, context=context, json_path=args.json)


if __name__ == "__main__":
    main()

"""Behavioral security on the scenario kit: the real detectors over chDB, scored.

    CHDB_PATH=/tmp/bench-security/chdb DATABASE_URL=postgres://... \\
        .venv/bin/python bench/security_detection.py [--weeks 8] [--seed 7] [--step-minutes 60]

1. ``migrate`` and ``migrate_clickhouse`` (every ClickHouse migration in the checkout).
2. The scenario of controlplane/security/scenarios.py (four tenants, 30 agents, eight
   weeks; incidents of all five kinds, blatant and subtle, and benign look-alikes) is
   loaded: tenants, agents and the change calendar through the services, spans into
   ClickHouse ``spans``, whose materialized views fill the security rollups.
3. The detectors run from day 1 to the end in ``--step-minutes`` chunks, each minute
   judged on its own closed window in event time, exactly as the beat task runs them;
   every span goes through the edge fast path too, its watch section learned every
   ``--refresh-minutes`` (controlplane/security/edge_replay.py).
4. Recall per kind and grade, false alerts per agent-week, detection delay from the
   arrival of the first anomalous data (controlplane/security/scoring.py says how), and
   the detector's wall and CPU time per tenant-hour judged.
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

from controlplane.security import scenarios, scoring  # noqa: E402

KINDS = ("volume", "scope", "temporal", "escalation", "coordination")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weeks", type=int, default=8)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--step-minutes", type=int, default=60)
    parser.add_argument("--prefix", default=f"scn{int(time.time()) % 100000}")
    parser.add_argument("--show-false", action="store_true")
    parser.add_argument(
        "--pass-seconds",
        type=float,
        default=1.0,
        help="one detection pass's time, added to each delay (bench/security_cpu.py)",
    )
    parser.add_argument(
        "--refresh-minutes",
        type=int,
        default=60,
        help="how often the edges' watch section is learned again (production: hourly)",
    )
    parser.add_argument(
        "--record-seconds",
        type=float,
        default=0.05,
        help="recording one pull's edge findings, added to each edge delay "
        "(this run's median when it ran the edge)",
    )
    parser.add_argument("--only", default="", help="one tenant: the end of its slug")
    parser.add_argument(
        "--score-only",
        action="store_true",
        help="score the alerts a previous run left (tenants it judged to the end)",
    )
    parser.add_argument(
        "--reuse", action="store_true", help="the scenario of --prefix is loaded: judge again"
    )
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    plan = scenarios.plan(seed=args.seed, weeks=args.weeks, prefix=args.prefix)
    if args.only:
        plan.tenants = [t for t in plan.tenants if t.slug.endswith(args.only)]
        plan.labels = [label for label in plan.labels if label.tenant.endswith(args.only)]
    started = time.perf_counter()
    judge_from = plan.start + dt.timedelta(days=1)
    if args.score_only:
        loaded = scoring.finished(plan)
        report(plan, loaded, judge_from, None, args)
        return
    call_command("migrate_clickhouse", verbosity=0)
    if args.reuse:
        loaded = scoring.reset(plan)
    else:
        loaded = scoring.load(plan)
        print(f"loaded {loaded.spans:,} spans in {time.perf_counter() - started:.1f} s")
    run = scoring.replay(
        plan,
        loaded,
        judge_from=judge_from,
        step=dt.timedelta(minutes=args.step_minutes),
        refresh=dt.timedelta(minutes=args.refresh_minutes),
        pass_time=dt.timedelta(seconds=args.pass_seconds),
    )
    report(plan, loaded, judge_from, run, args)


def report(
    plan: scenarios.Plan,
    loaded: scoring.Loaded,
    judge_from: dt.datetime,
    run: scoring.Run | None,
    args: argparse.Namespace,
) -> None:
    plan.labels = [label for label in plan.labels if label.tenant in loaded.tenants]
    record_seconds = args.record_seconds
    if run is not None and run.record_seconds:
        record_seconds = statistics.median(run.record_seconds)
    result = scoring.score(
        plan,
        loaded,
        judge_from=judge_from,
        pass_time=dt.timedelta(seconds=args.pass_seconds),
        record_time=dt.timedelta(seconds=record_seconds),
    )
    print(f"tenants scored: {', '.join(sorted(loaded.tenants))}")
    if run is not None:
        tenant_hours = (plan.until - judge_from) / dt.timedelta(hours=1) * len(loaded.tenants)
        print(
            f"{run.runs} detector runs, {run.seconds:.1f} s wall, {run.cpu_seconds:.1f} s CPU; "
            f"{1000 * run.cpu_seconds / tenant_hours:.1f} ms CPU per tenant-hour judged"
        )
        print(
            f"edge: {run.pulls} pulls with findings, {run.edge_alerts} alerts created by "
            f"them; recording a pull's findings {1000 * record_seconds:.0f} ms (median)"
        )
    print(
        f"alerts: {result.alerts}; false alerts: {len(result.false_alerts)} over "
        f"{result.agent_weeks:.0f} agent-weeks = {result.false_per_agent_week():.3f} per "
        "agent-week"
    )
    print("| kind | blatant recall | subtle recall | median delay (min) | first raised by |")
    print("| --- | --- | --- | --- | --- |")
    for kind in KINDS:
        blatant = result.found.get((kind, "blatant"), [])
        subtle = result.found.get((kind, "subtle"), [])
        print(
            f"| {kind} | {sum(blatant)}/{len(blatant)} | {sum(subtle)}/{len(subtle)} | "
            f"{result.median_delay_minutes(kind):.1f} | {layers(result, kind)} |"
        )
    from_start = statistics.median(result.delays_from_start or [float("nan")])
    print(
        f"overall: blatant {result.recall(grade='blatant'):.0%}, subtle "
        f"{result.recall(grade='subtle'):.0%}, median delay "
        f"{result.median_delay_minutes():.1f} min (escalation excluded: "
        f"{statistics_without_escalation(result):.1f} min); from each incident's start "
        f"rather than its first anomalous span: {from_start:.1f} min"
    )
    for line in result.missed:
        print("missed:", line)
    for line in result.details:
        print("delay:", line)
    if args.show_false:
        for alert in result.false_alerts:
            print("false:", alert)


def layers(result: scoring.Score, kind: str) -> str:
    found = result.layers.get(kind, [])
    return ", ".join(f"{name} {found.count(name)}" for name in sorted(set(found))) or "-"


def statistics_without_escalation(result: scoring.Score) -> float:
    values = [v for k, vs in result.delays.items() if k != "escalation" for v in vs]
    return statistics.median(values) if values else float("nan")


if __name__ == "__main__":
    main()

"""A1, availability: edge nodes reachable, providers answering (failovers and breaker
trips counted), telemetry flowing without lag, capacity within limits, backups restored
in a recorded drill."""

from __future__ import annotations

import datetime as dt
from typing import Any

from compliance import evidence_queries as q
from compliance.checks import Context, Failing, Outcome, check
from controlplane.agents.models import Agent, EdgeNode
from controlplane.dashboards.health import PROVIDER_DEGRADED_SUCCESS
from controlplane.gateway.models import Policy
from controlplane.recovery.models import DrillRun
from controlplane.web.edge_status import DOWN, PENDING, node_problems, node_state

DRILL_EVERY = dt.timedelta(days=90)
CAPACITY_HEADROOM = 0.9  # a busiest minute at 90 % of the limit or more fails


@check("a1.edge_uptime", version=1)
def edge_uptime(ctx: Context) -> Outcome:
    """Every edge node of the tenant was pulled in the last 5 minutes and its last pull
    succeeded."""
    nodes = ctx.rows(EdgeNode.objects.order_by("name"))
    failing, population = [], []
    for node in nodes:
        state = node_state(node, ctx.now)
        if state in (DOWN, PENDING):
            reason = (
                f"{node.consecutive_failures} failed pulls: {node.last_error[:200]}"
                if node.consecutive_failures
                else "not pulled in the last 5 minutes"
                if node.last_success_at
                else "never pulled"
            )
            failing.append(Failing(f"edge_node:{node.pk}", node.name, reason))
        population.append(
            {
                "key": f"edge_node:{node.pk}",
                "name": node.name,
                "state": state,
                "last_success_at": node.last_success_at,
                "consecutive_failures": node.consecutive_failures,
            }
        )
    return Outcome(
        summary=f"{len(nodes) - len(failing)} of {len(nodes)} edge nodes up",
        population=population,
        failing=failing,
    )


@check("a1.pipeline_lag", version=1)
def pipeline_lag(ctx: Context) -> Outcome:
    """No edge node has records waiting 5 minutes or more, a spool 80 % full, a host out
    of CPU, memory or disk, or dead letters not replayed."""
    nodes = ctx.rows(EdgeNode.objects.order_by("name"))
    failing, population = [], []
    for node in nodes:
        problems = node_problems(node)
        if problems:
            failing.append(Failing(f"edge_node:{node.pk}", node.name, "; ".join(problems)))
        spool = (node.heartbeat or {}).get("spool") or {}
        population.append(
            {
                "key": f"edge_node:{node.pk}",
                "name": node.name,
                "cursor": node.cursor,
                "spool_records": spool.get("records"),
                "dead_letters": node.dead_letter_count,
                "heartbeat_at": node.heartbeat_at,
            }
        )
    return Outcome(
        summary=f"{len(nodes) - len(failing)} of {len(nodes)} edge nodes without lag",
        population=population,
        failing=failing,
    )


@check("a1.provider_availability", version=1)
def provider_availability(ctx: Context) -> Outcome:
    """Every provider the tenant's agents called answered at least 95 % of model calls
    in the period; failovers and circuit-breaker trips are counted."""
    assert ctx.tenant_id is not None
    calls = ctx.clickhouse(
        q.model_calls_by_provider(ctx.tenant_id, ctx.period_start, ctx.period_end)
    )
    attempts = {
        row["provider"]: row
        for row in ctx.clickhouse(
            q.provider_attempts(ctx.tenant_id, ctx.period_start, ctx.period_end)
        )
    }
    failing: list[Failing] = []
    population: list[dict[str, Any]] = []
    for row in calls:
        requests, faults = int(row["calls"]), int(row["failed"])
        success = (requests - faults) / requests if requests else 1.0
        gateway = attempts.get(row["provider"], {})
        if success < PROVIDER_DEGRADED_SUCCESS:
            failing.append(
                Failing(
                    f"provider:{row['provider']}",
                    row["provider"],
                    f"answered {success:.1%} of {requests} calls "
                    f"(target {PROVIDER_DEGRADED_SUCCESS:.0%})",
                )
            )
        population.append(
            {
                "key": f"provider:{row['provider']}",
                "requests": requests,
                "faults": faults,
                "success_ratio": success,
                "failovers": int(gateway.get("failovers", 0)),
                "breaker_trips": int(gateway.get("breaker_trips", 0)),
            }
        )
    return Outcome(
        summary=f"{len(calls)} providers called, {len(calls) - len(failing)} at or above "
        f"{PROVIDER_DEGRADED_SUCCESS:.0%}; "
        f"{sum(p['failovers'] for p in population)} failovers, "
        f"{sum(p['breaker_trips'] for p in population)} breaker trips",
        population=population,
        failing=failing,
        metrics={"target_success_ratio": PROVIDER_DEGRADED_SUCCESS},
    )


@check("a1.capacity", version=1)
def capacity(ctx: Context) -> Outcome:
    """No agent's busiest minute of model calls came within 10 % of its request-rate
    limit (its own, else the tenant policy's)."""
    assert ctx.tenant_id is not None
    agents = {str(a.pk): a for a in ctx.rows(Agent.objects.order_by("name"))}
    policy = next(iter(ctx.rows(Policy.objects.all()[:1])), None)
    default = policy.max_requests_per_minute if policy else None
    peaks = ctx.clickhouse(q.peak_request_rates(ctx.tenant_id, ctx.period_start, ctx.period_end))
    failing, population = [], []
    for row in peaks:
        agent = agents.get(str(row["agent_id"]))
        limit = (agent.max_requests_per_minute if agent else None) or default
        peak = int(row["peak_per_minute"])
        name = agent.name if agent else str(row["agent_id"])
        if limit and peak >= CAPACITY_HEADROOM * limit:
            failing.append(
                Failing(
                    f"agent:{row['agent_id']}", name, f"busiest minute {peak} calls, limit {limit}"
                )
            )
        population.append(
            {
                "key": f"agent:{row['agent_id']}",
                "agent": name,
                "peak_per_minute": peak,
                "requests": int(row["requests"]),
                "limit_per_minute": limit,
            }
        )
    return Outcome(
        summary=f"{len(peaks)} agents called models; {len(failing)} near their rate limit",
        population=population,
        failing=failing,
        metrics={"headroom": CAPACITY_HEADROOM},
    )


@check("a1.backup_drill", version=1, scope="msp")
def backup_drill(ctx: Context) -> Outcome:
    """A backup and restore drill (``manage.py backup_drill``) passed in the last 90 days."""
    drills = ctx.rows(
        DrillRun.objects.filter(started_at__gte=ctx.now - DRILL_EVERY).order_by("-started_at")
    )
    passed = [d for d in drills if d.outcome == DrillRun.Outcome.PASSED]
    failing = []
    if not passed:
        failing.append(
            Failing(
                "drill:none",
                "backup and restore drill",
                f"no drill passed in the last {DRILL_EVERY.days} days"
                + (f" ({len(drills)} failed)" if drills else ""),
            )
        )
    population = [
        {
            "key": f"drill:{d.pk}",
            "started_at": d.started_at,
            "outcome": d.outcome,
            "seconds": d.total_seconds,
            "host": d.host,
        }
        for d in drills
    ]
    return Outcome(
        summary=f"{len(drills)} drills in {DRILL_EVERY.days} days, {len(passed)} passed"
        + (f"; last passed {passed[0].started_at:%Y-%m-%d}" if passed else ""),
        population=population,
        failing=failing,
    )

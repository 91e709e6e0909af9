"""CC7, system operations: behavioural alerts triaged within their SLA, injections and
policy violations refused at the gateway, critical alerts contained by quarantine."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from compliance import evidence_queries as q
from compliance.checks import Context, Failing, Outcome, check
from controlplane.agents.models import Agent
from controlplane.gateway.models import Policy
from controlplane.security.models import Alert, Quarantine, State

INJECTION = "filter.injection"


def _agent_names(ctx: Context) -> dict[str, str]:
    return {str(pk): name for pk, name in Agent.objects.values_list("pk", "name")}


@check("cc7.alert_triage", version=1)
def alert_triage(ctx: Context) -> Outcome:
    """Every behavioural alert raised in the period was acknowledged (or closed) before
    its SLA ran out, or is still inside it."""
    alerts = ctx.rows(
        Alert.objects.filter(
            raised_at__gte=ctx.period_start, raised_at__lt=ctx.period_end
        ).order_by("raised_at")
    )
    failing, population = [], []
    for alert in alerts:
        handled_at = alert.acknowledged_at or alert.closed_at
        late = (handled_at or ctx.now) > alert.sla_due_at
        if late:
            reason = (
                f"acknowledged {int((handled_at - alert.sla_due_at).total_seconds() // 60)} "
                "min after its SLA"
                if handled_at
                else f"still {alert.state}, SLA ran out"
            )
            failing.append(Failing(f"alert:{alert.pk}", alert.title, reason))
        population.append(
            {
                "key": f"alert:{alert.pk}",
                "severity": alert.severity,
                "state": alert.state,
                "raised_at": alert.raised_at,
                "sla_due_at": alert.sla_due_at,
                "handled_at": handled_at,
                "within_sla": not late,
            }
        )
    return Outcome(
        summary=f"{len(alerts)} alerts raised, {len(alerts) - len(failing)} triaged within SLA",
        population=population,
        failing=failing,
    )


@check("cc7.injection_refusals", version=1)
def injection_refusals(ctx: Context) -> Outcome:
    """The gateway screens model calls for prompt injection with blocking on, and no
    injection it found went through to a provider."""
    assert ctx.tenant_id is not None
    policy = next(iter(ctx.rows(Policy.objects.all()[:1])), None)
    mode = policy.injection if policy else Policy.Injection.BLOCK
    verdicts = ctx.clickhouse(q.gateway_verdicts(ctx.tenant_id, ctx.period_start, ctx.period_end))
    refused = ctx.clickhouse(q.refusals(ctx.tenant_id, ctx.period_start, ctx.period_end))
    names = _agent_names(ctx)
    failing: list[Failing] = []
    if mode != Policy.Injection.BLOCK:
        failing.append(
            Failing(f"policy:{ctx.tenant_id}", "gateway policy", f"injection screening is {mode}")
        )
    per_agent: dict[str, dict[str, Any]] = defaultdict(lambda: defaultdict(int))
    for row in verdicts:
        agent = str(row["agent_id"])
        per_agent[agent][f"{row['code']}:{row['decision']}"] += int(row["calls"])
        if row["code"] == INJECTION and row["decision"] != "block":
            failing.append(
                Failing(
                    f"agent:{agent}",
                    names.get(agent, agent),
                    f"{row['calls']} suspected injections passed with a {row['decision']} "
                    f"verdict (e.g. trace {row['sample_traces'][0]})",
                )
            )
    for row in refused:
        per_agent[str(row["agent_id"])]["refused"] += int(row["refused"])
    population = [
        {"key": f"agent:{agent}", "agent": names.get(agent, agent), **dict(counts)}
        for agent, counts in per_agent.items()
    ]
    blocked = sum(c.get(f"{INJECTION}:block", 0) for c in per_agent.values())
    total_refused = sum(int(r["refused"]) for r in refused)
    return Outcome(
        summary=f"injection screening {mode}; {total_refused} calls refused, {blocked} of them "
        f"as injections; {len(failing)} problems",
        population=population,
        failing=failing,
        metrics={"injection_mode": mode, "refused": total_refused, "injections_blocked": blocked},
    )


@check("cc7.quarantines", version=1)
def quarantines(ctx: Context) -> Outcome:
    """Every critical alert of the period led to a quarantine of its agents, or was
    closed as a false positive."""
    critical = ctx.rows(
        Alert.objects.filter(
            severity="critical", raised_at__gte=ctx.period_start, raised_at__lt=ctx.period_end
        ).order_by("raised_at")
    )
    started = ctx.rows(
        Quarantine.objects.filter(
            started_at__gte=ctx.period_start, started_at__lt=ctx.period_end
        ).order_by("started_at")
    )
    quarantined = {str(qr.target_id) for qr in started} | {str(qr.alert_id) for qr in started}
    failing = [
        Failing(f"alert:{alert.pk}", alert.title, "critical, but no agent of it was quarantined")
        for alert in critical
        if alert.state != State.FALSE_POSITIVE
        and str(alert.pk) not in quarantined
        and not any(str(agent) in quarantined for agent in alert.agent_ids)
    ]
    population = [
        {
            "key": f"quarantine:{qr.pk}",
            "scope": qr.scope,
            "target_id": qr.target_id,
            "started_at": qr.started_at,
            "started_by": qr.started_by,
            "released_at": qr.released_at,
        }
        for qr in started
    ] + [{"key": f"alert:{a.pk}", "severity": a.severity, "state": a.state} for a in critical]
    return Outcome(
        summary=f"{len(critical)} critical alerts, {len(started)} quarantines started; "
        f"{len(failing)} critical alerts not contained",
        population=population,
        failing=failing,
        metrics={"quarantines_started": len(started), "critical_alerts": len(critical)},
    )

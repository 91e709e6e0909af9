"""P, privacy: personal data found in agents' traffic (counted per type, never its
values) and redacted or blocked, retention enforced in the stores, residency,
data-subject requests served."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import Counter, defaultdict
from typing import Any

from compliance import evidence_queries as q
from compliance.checks import Context, Failing, Outcome, check
from compliance.privacy import selectors as privacy_selectors
from compliance.privacy.models import DataSubjectRequest
from controlplane.agents.models import Agent
from controlplane.audit.models import AuditEvent
from controlplane.gateway.models import Policy
from controlplane.telemetry.models import DeadLetter

# GDPR art. 12(3): a data-subject request is answered within one month.
DSR_DEADLINE = dt.timedelta(days=30)

PII_CODES = ("filter.pii", "filter.response_pii")
# "personal data: email x2, national_id:us_ssn" -> [("email", 2), ("national_id:us_ssn", 1)]
_KIND = re.compile(r"([a-z_]+(?::[a-z_]+)?)(?: x(\d+))?")
# Spans may outlive their retention by the time ClickHouse takes to merge their part.
RETENTION_GRACE = dt.timedelta(days=2)
EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


def pii_kinds(reason: str) -> Counter[str]:
    """The kinds (and counts) a ``filter.pii`` verdict's reason names. The reason holds
    types only; the values never leave the edge."""
    _, _, listed = reason.partition(":")
    kinds: Counter[str] = Counter()
    for part in listed.split(","):
        match = _KIND.fullmatch(part.strip().split(" (")[0])
        if match:
            kinds[match.group(1).split(":")[0]] += int(match.group(2) or 1)
    return kinds


@check("p.pii_detections", version=1)
def pii_detections(ctx: Context) -> Outcome:
    """Personal data the gateway found in prompts and answers was redacted or blocked
    before it reached a provider or an agent; counted per type, with sample traces."""
    assert ctx.tenant_id is not None
    policy = next(iter(ctx.rows(Policy.objects.all()[:1])), None)
    mode = policy.pii if policy else Policy.Pii.FLAG
    names = {str(pk): name for pk, name in Agent.objects.values_list("pk", "name")}
    rows = [
        row
        for row in ctx.clickhouse(
            q.gateway_verdicts(ctx.tenant_id, ctx.period_start, ctx.period_end)
        )
        if row["code"] in PII_CODES
    ]
    by_type: Counter[str] = Counter()
    per_agent: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"calls": 0, "passed": 0, "types": Counter(), "samples": set()}
    )
    for row in rows:
        agent = per_agent[str(row["agent_id"])]
        agent["calls"] += int(row["calls"])
        if row["decision"] == "flag":
            agent["passed"] += int(row["calls"])
        for reason in row["reasons"]:
            kinds = pii_kinds(reason)
            agent["types"].update(kinds)
            by_type.update(kinds)
        agent["samples"].update(row["sample_traces"])
    failing, population = [], []
    if mode in (Policy.Pii.OFF, Policy.Pii.FLAG):
        failing.append(
            Failing(
                f"policy:{ctx.tenant_id}",
                "gateway policy",
                f"personal data is only {mode}ged"
                if mode == Policy.Pii.FLAG
                else "personal data screening is off",
            )
        )
    for agent_id, found in sorted(per_agent.items()):
        if found["passed"]:
            failing.append(
                Failing(
                    f"agent:{agent_id}",
                    names.get(agent_id, agent_id),
                    f"{found['passed']} calls carried personal data through unredacted",
                )
            )
        population.append(
            {
                "key": f"agent:{agent_id}",
                "agent": names.get(agent_id, agent_id),
                "calls": found["calls"],
                "unredacted": found["passed"],
                "types": dict(found["types"]),
                "sample_traces": sorted(found["samples"])[: q.SAMPLE_TRACES],
            }
        )
    return Outcome(
        summary=f"personal data screening {mode}: {sum(by_type.values())} findings in "
        f"{sum(p['calls'] for p in population)} calls"
        + (f" ({', '.join(f'{k} {v}' for k, v in by_type.most_common())})" if by_type else ""),
        population=population,
        failing=failing,
        metrics={"mode": mode, "by_type": dict(by_type)},
    )


@check("p.retention_enforced", version=1)
def retention_enforced(ctx: Context) -> Outcome:
    """No span in ClickHouse is older than the tenant's retention (plus two days for
    merges to apply the TTL)."""
    assert ctx.tenant is not None and ctx.tenant_id is not None
    ctx.note("tenants_tenant.retention_days", {"tenant": ctx.tenant.slug})
    days = ctx.tenant.retention_days
    rows = ctx.clickhouse(q.oldest_span(ctx.tenant_id, EPOCH, ctx.now))
    spans = int(rows[0]["spans"]) if rows else 0
    oldest = rows[0]["oldest"] if spans else None
    age = (ctx.now - oldest.replace(tzinfo=oldest.tzinfo or dt.UTC)) if oldest else None
    failing = []
    if age is not None and age > dt.timedelta(days=days) + RETENTION_GRACE:
        failing.append(
            Failing(
                f"tenant:{ctx.tenant_id}",
                ctx.tenant.name,
                f"oldest span is {age.days} days old; retention is {days} days",
            )
        )
    return Outcome(
        summary=f"retention {days} days; oldest span "
        + (f"{age.days} days old" if age is not None else "none"),
        population=[{"key": f"tenant:{ctx.tenant_id}", "spans": spans, "oldest": oldest}],
        population_count=spans,
        failing=failing,
        metrics={"retention_days": days, "oldest_age_days": age.days if age else None},
    )


def _switched_on(ctx: Context) -> dt.datetime | None:
    """When residency was last turned on for the tenant, from the audit trail."""
    assert ctx.tenant_id is not None
    turned_on = AuditEvent.unscoped.filter(
        tenant_id=ctx.tenant_id,
        action__in=("tenant.created", "tenant.updated"),
        target_type="tenants.tenant",
        target_id=str(ctx.tenant_id),
        after__body_residency=True,
    ).exclude(before__body_residency=True)
    found = ctx.values(turned_on.order_by("-seq").values_list("occurred_at", flat=True)[:1])
    return found[0] if found else None


def _letter_trace(raw: bytes) -> str | None:
    """The trace of a dead letter's record when the record holds a body, else None."""
    try:
        record = json.loads(bytes(raw))
    except ValueError:
        return None
    if isinstance(record, dict) and (record.get("request_body") or record.get("response_body")):
        return str(record.get("trace_id") or "") or "(no trace id)"
    return None


@check("p.residency", version=2)
def residency(ctx: Context) -> Outcome:
    """For a tenant whose bodies stay at its edge (``body_residency``): no request or
    response body of the period is stored centrally, in ClickHouse's spans or in the
    dead letters (PostgreSQL); only their SHA-256. Counted from when residency was last
    turned on, if that is within the period (bodies stored before stay until their
    retention ends, decision 0030). Not applicable to other tenants."""
    assert ctx.tenant is not None and ctx.tenant_id is not None
    ctx.note("tenants_tenant.body_residency", {"tenant": ctx.tenant.slug})
    if not ctx.tenant.body_residency:
        return Outcome(
            summary="bodies are stored centrally for this tenant: no residency mode",
            not_applicable=True,
        )
    since = max(filter(None, (ctx.period_start, _switched_on(ctx))))
    spans = ctx.clickhouse(q.trace_count(ctx.tenant_id, since, ctx.period_end))
    rows = ctx.clickhouse(q.central_bodies(ctx.tenant_id, since, ctx.period_end))
    letters = ctx.rows(
        DeadLetter.objects.filter(created_at__gte=since, created_at__lt=ctx.period_end)
    )
    in_letters = Counter(filter(None, (_letter_trace(letter.raw) for letter in letters)))
    population: list[dict[str, Any]] = [
        {
            "key": f"trace:{row['trace_id']}",
            "store": "clickhouse",
            "spans": int(row["spans"]),
            "request_bodies": int(row["request_bodies"]),
            "response_bodies": int(row["response_bodies"]),
        }
        for row in rows
    ]
    population += [
        {"key": f"trace:{trace}", "store": "postgresql", "dead_letters": count}
        for trace, count in sorted(in_letters.items())
    ]
    failing = [
        Failing(
            row["key"],
            row["key"].removeprefix("trace:"),
            "request or response bodies stored centrally: "
            + (
                f"{row['spans']} spans in ClickHouse"
                if row["store"] == "clickhouse"
                else f"{row['dead_letters']} dead letters in PostgreSQL"
            ),
        )
        for row in population
    ]
    examined = int(spans[0]["spans"]) if spans else 0
    return Outcome(
        summary=f"bodies stay at the edge: {len(failing)} traces with bodies stored centrally "
        f"of {examined} spans and {len(letters)} dead letters since {_iso_minute(since)}",
        population=population,
        population_count=examined + len(letters),
        failing=failing,
        metrics={
            "since": since,
            "spans": examined,
            "dead_letters": len(letters),
            "traces_with_bodies": len(failing),
        },
    )


def _iso_minute(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


@check("p.data_subject_requests", version=1)
def data_subject_requests(ctx: Context) -> Outcome:
    """Every data-subject request of the period was served (found, exported or erased)
    in time (``compliance.privacy.selectors.dsr_requests``)."""
    assert ctx.tenant_id is not None
    ctx.note(
        "compliance.privacy.selectors.dsr_requests",
        {"tenant": ctx.tenant_id, "since": ctx.period_start, "until": ctx.period_end},
    )
    requests = privacy_selectors.dsr_requests(ctx.tenant_id, ctx.period_start, ctx.period_end)
    due = ctx.period_end - DSR_DEADLINE
    population = [
        {
            "key": f"dsr:{r.pk}",
            "subject": r.subject_masked,
            "state": r.state,
            "received_at": r.created_at,
            "completed_at": r.completed_at,
        }
        for r in requests
    ]
    failing = [
        Failing(f"dsr:{r.pk}", f"request for {r.subject_masked}", f"not served ({r.state})")
        for r in requests
        if r.state == DataSubjectRequest.State.FAILED
        or (r.completed_at is None and r.created_at < due)
    ]
    return Outcome(
        summary=f"{len(requests)} data-subject requests, {len(requests) - len(failing)} served",
        population=population,
        failing=failing,
    )

"""The demo's month of behavioural security: two incidents planted in Acme's history, as
its agents' spans (through the same records, ledger and rollups as live traffic), found
by the real detectors replayed in event time, and triaged by the MSP's people at the
time they would have been: so the triage queue, an incident page, a quarantine and the
CC7 evidence have something true to show the moment the demo starts.

- Five days ago, 14:00 UTC: ``support-bot`` stuck in a retry loop after
  a deploy, 140 tasks in 40 minutes. An operator quarantines it, Acme fixes the deploy,
  the quarantine is released and the incident resolved.
- Yesterday, 13:10 UTC: ``finance-analyst`` reads 12,000 employee records
  (``hris.lookup``, HR data it never touched) and uploads files to ``transfer.example``.
  The admin quarantines it within the critical alert's 30 minutes; the incident stays
  open (acknowledged), waiting for Acme's answer; Acme's edge refuses the agent's
  model calls from the start of the demo.

No off-hours burst: the demo history's agents work at every hour of the week (their
tenants' time zones spread the seeding's day), so nothing they do is outside their
learned hours and the temporal detector rightly stays quiet.

Whatever else the replay raises on the random history is reviewed as a false positive
within its SLA (which teaches the baseline). Loaded once: nothing when Acme has an
incident already.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

import orjson
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from billing.pricing import PriceBook
from controlplane.accounts.models import User
from controlplane.agents.models import Agent, EdgeNode
from controlplane.audit.services import Actor
from controlplane.core.tenancy import all_tenants_context, tenant_context
from controlplane.security.alerts import incident_transition, note_add
from controlplane.security.models import SLA, DetectionCursor, Incident, Quarantine, State
from controlplane.security.quarantine import quarantine_release, quarantine_start
from controlplane.security.scenario_spans import SpanRow, burst
from controlplane.security.scenarios import AgentSpec
from controlplane.security.services import LATENESS, detection_run
from controlplane.telemetry.ledger import ledger_insert
from controlplane.telemetry.records import build_batch
from controlplane.telemetry.spans import spans_insert
from tenants.models import Tenant

TENANT = "acme"
OPERATOR = "operator@msp.example"
ADMIN = "admin@msp.example"
NAMESPACE = uuid.UUID("6d0f5a8e-3c21-4b7a-9e1d-52f0c8a4b913")
MINUTE = dt.timedelta(minutes=1)
STEP = dt.timedelta(hours=6)  # the replay's chunks (services.MAX_CHUNK)
_NANOS = 1_000_000_000


@dataclass(frozen=True)
class Planted:
    agent: str
    role: str  # the scenario kit's role, for the tools a task picks
    days_ago: int
    at: dt.time  # UTC
    minutes: int
    tasks: int
    tool: str = ""
    rows: int = -1
    new_scope: bool = False  # keep the kit's collection, classification and host

    def start(self, end: dt.datetime) -> dt.datetime:
        day = (end - dt.timedelta(days=self.days_ago)).date()
        return dt.datetime.combine(day, self.at, tzinfo=dt.UTC)


RETRY_LOOP = Planted("support-bot", "support", 5, dt.time(14, 0), 40, 140)
EXFILTRATION = (
    Planted("finance-analyst", "finance", 1, dt.time(13, 10), 25, 30, "hris.lookup", 400, True),
    Planted("finance-analyst", "finance", 1, dt.time(13, 20), 15, 12, "files.upload", -1, True),
)
PLANTED = (RETRY_LOOP, *EXFILTRATION)


def _record(agent: Agent, node: EdgeNode, row: SpanRow, *, new_scope: bool) -> bytes:
    def span_id(value: str) -> str:
        return uuid.uuid5(NAMESPACE, f"{row.trace}/{value}").hex[:16] if value else ""

    start = int(row.start.timestamp() * _NANOS)
    sid = span_id(row.span)
    attributes: dict[str, Any] = dict(row.attributes) if new_scope else {}
    return orjson.dumps(
        {
            "v": 1,
            "event_id": str(uuid.uuid5(NAMESPACE, f"{agent.tenant_id}/{row.trace}/{sid}")),
            "tenant_id": str(agent.tenant_id),
            "agent_id": str(agent.pk),
            "department_id": str(agent.department_id) if agent.department_id else None,
            "device_id": str(agent.device_id) if agent.device_id else None,
            "site_id": str(node.site_id),
            "edge_node_id": str(node.pk),
            "trace_id": row.trace,
            "span_id": sid,
            "parent_span_id": span_id(row.parent),
            "name": row.name,
            "kind": row.kind,
            "start_time_unix_nano": start,
            "end_time_unix_nano": start + row.duration_ms * 1_000_000,
            "status": row.status,
            "status_message": "upstream returned 503" if row.status == "error" else "",
            # the model every demo agent uses, so only what is planted stands out
            "provider": "openai" if row.kind == "model" else "",
            "model": "gpt-4o-mini" if row.kind == "model" else "",
            "tool": row.tool,
            "input_tokens": row.input_tokens,
            "output_tokens": row.output_tokens,
            "data_classes": [],
            "request_body": "[planted by the demo]",
            "response_body": "",
            "attributes": attributes,
            "received_at_unix_nano": start + 2 * _NANOS,
        }
    )


def _plant(tenant: Tenant, agents: dict[str, Agent], end: dt.datetime) -> int:
    with tenant_context(tenant):
        node = EdgeNode.objects.order_by("created_at").first()
    assert node is not None
    lines = [
        _record(agents[p.agent], node, row, new_scope=p.new_scope)
        for p in PLANTED
        for row in burst(
            AgentSpec(p.agent, p.role, "office", 0),
            tenant=tenant.slug,
            start=p.start(end),
            minutes=p.minutes,
            tasks=p.tasks,
            tool=p.tool,
            rows=p.rows,
        )
    ]
    batch = build_batch(lines, prices=PriceBook.load(), retention_days={tenant.pk: 395})
    spans_insert(batch.spans, dedup_token=f"demo-security:{batch.spans['event_id'][0]}")
    with all_tenants_context():
        ledger_insert(batch.ledger)
    return len(lines)


def _replay(
    tenant: Tenant, since: dt.datetime, until: dt.datetime, marks: list[dt.datetime]
) -> None:
    """The detectors over [since, until) as beat would have run them, in event time:
    chunks of STEP, cut a few minutes into and after each planted burst so that its
    alerts are raised when live traffic would have raised them."""
    cuts = {since + STEP * i for i in range(1, int((until - since) / STEP) + 1)}
    cuts |= {mark for mark in marks if since < mark < until}
    cuts.add(until)
    with tenant_context(tenant):
        DetectionCursor.objects.update_or_create(tenant=tenant, defaults={"judged_until": since})
    for cut in sorted(cuts):
        detection_run(tenant_id=tenant.pk, until=cut, now=cut + LATENESS)


def _incident_of(agent: Agent, start: dt.datetime) -> Incident | None:
    return (
        Incident.objects.filter(
            alerts__agent_ids__contains=[agent.pk],
            started_at__lte=start + dt.timedelta(hours=2),
            ended_at__gte=start,
        )
        .distinct()
        .order_by("opened_at")
        .first()
    )


def _last_raised(incident: Incident) -> dt.datetime:
    return max(incident.alerts.values_list("raised_at", flat=True))


def _triage(tenant: Tenant, agents: dict[str, Agent], end: dt.datetime, now: dt.datetime) -> None:
    """What the MSP's people did, each step at its time, within the alerts' SLAs."""
    operator = User.objects.get(email=OPERATOR)
    admin = User.objects.get(email=ADMIN)
    by_operator, by_admin = Actor.for_user(operator), Actor.for_user(admin)
    with tenant_context(tenant):
        retry = _incident_of(agents[RETRY_LOOP.agent], RETRY_LOOP.start(end))
        if retry is not None:
            at = _last_raised(retry)
            incident_transition(
                actor=by_operator,
                incident=retry,
                state=State.ACKNOWLEDGED,
                assignee=operator,
                note="support-bot is calling tickets.search in a loop since Acme's 13:55 "
                "deploy. Quarantined until they roll back.",
                now=at + 6 * MINUTE,
            )
            held = quarantine_start(
                actor=by_operator,
                tenant=tenant,
                scope=Quarantine.Scope.AGENT,
                target_id=agents["support-bot"].pk,
                reason="retry loop after a deploy: 140 tasks in 40 minutes",
                alert=retry.alerts.order_by("raised_at").first(),
                now=at + 7 * MINUTE,
            )
            note_add(
                actor=by_operator,
                incident=retry,
                text="Acme's engineering rolled the deploy back (their change 4711); "
                "the agent's retries are capped now.",
                at=at + 85 * MINUTE,
            )
            quarantine_release(actor=by_operator, quarantine=held, now=at + 90 * MINUTE)
            incident_transition(
                actor=by_operator,
                incident=retry,
                state=State.RESOLVED,
                note="Released; its rate is back to its usual level.",
                now=at + 95 * MINUTE,
            )
        theft = _incident_of(agents[EXFILTRATION[0].agent], EXFILTRATION[0].start(end))
        if theft is not None:
            at = _last_raised(theft)
            critical = theft.alerts.filter(severity="critical").first()
            quarantine_start(
                actor=by_admin,
                tenant=tenant,
                scope=Quarantine.Scope.AGENT,
                target_id=agents["finance-analyst"].pk,
                reason="read 12,000 employee records and uploaded files to transfer.example",
                alert=critical or theft.alerts.order_by("raised_at").first(),
                now=at + 3 * MINUTE,
            )
            incident_transition(
                actor=by_admin,
                incident=theft,
                state=State.ACKNOWLEDGED,
                assignee=admin,
                note="Quarantined. Asked Acme's finance lead whether anyone gave "
                "finance-analyst the HR export; it stays in quarantine until they answer.",
                now=at + 4 * MINUTE,
            )
        handled = {i.pk for i in (retry, theft) if i is not None}
        for incident in Incident.objects.exclude(pk__in=handled).exclude(
            state__in=[State.RESOLVED, State.FALSE_POSITIVE]
        ):
            at = _last_raised(incident)
            incident_transition(
                actor=by_operator,
                incident=incident,
                state=State.FALSE_POSITIVE,
                note="Reviewed: a busy hour of the agent's usual work.",
                now=min(at + SLA[incident.severity] / 4, now),
            )


def seed_demo_security(*, now: dt.datetime | None = None) -> int | None:
    """Everything above, once: the spans planted, or None when Acme has incidents
    already."""
    if settings.IS_PRODUCTION:
        raise ImproperlyConfigured("The demo data is never loaded in production.")
    now = now or timezone.now()
    with all_tenants_context():
        tenant = Tenant.objects.get(slug=TENANT)
    with tenant_context(tenant):
        if Incident.objects.exists():
            return None
    end = now.replace(second=0, microsecond=0)
    with tenant_context(tenant):
        agents = {a.name: a for a in Agent.objects.all()}
    spans = _plant(tenant, agents, end)
    marks = [p.start(end) + dt.timedelta(minutes=m) for p in PLANTED for m in (5, p.minutes + 5)]
    since = min(p.start(end) for p in PLANTED) - dt.timedelta(hours=2)
    _replay(tenant, since, end - LATENESS, marks)
    _triage(tenant, agents, end, now)
    return spans

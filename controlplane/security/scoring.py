"""Load a scenario (controlplane/security/scenarios.py) into both stores, run the real
detectors over it in event time, and score their alerts against the labels.

Scores (the goals are in docs/security.md and bench/README.md):

- recall per kind and grade: a labelled incident counts as found when an alert of the
  right kind names one of its agents and overlaps its time (escalation: within one
  business day after its decisive step);
- false alerts per agent-week: alerts that overlap no incident's agents and time, the
  benign look-alikes included, per judged agent-week;
- detection delay, from the arrival of the first anomalous data (the incident's start,
  for escalation its decisive step, plus one pull interval) to the alert: the
  event-time minute at which the detector's window was enough, plus, for what a fresh
  pass raises (services.raised_fresh), one pull interval, the wait for the tenant's
  next pass (at most FRESH_EVERY) and the pass's own time; for the rest (coordination, per-task
  intensity) LATENESS, a whole beat period and the pass (the closed-minute pass). The
  minute grain rounds up: live, a pass after a pull mid-minute can raise earlier.
"""

from __future__ import annotations

import datetime as dt
import statistics
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from controlplane.agents.models import Agent
from controlplane.agents.services import agent_create
from controlplane.audit.services import Actor
from controlplane.core.tenancy import all_tenants_context, tenant_context
from controlplane.security.edge_findings import FRESH_EVERY
from controlplane.security.models import AcceptedBehaviour, Alert, DetectionCursor, Incident
from controlplane.security.scenarios import Label, Plan, span_columns, spans
from controlplane.security.services import LATENESS, calendar_load, detection_run, raised_fresh
from controlplane.telemetry.spans import spans_insert
from tenants.models import Tenant
from tenants.services import tenant_create

ACTOR = Actor.system("security.scenarios")
PULL = dt.timedelta(seconds=5)  # EDGE_PULL_INTERVAL_SECONDS's default
BEAT = dt.timedelta(minutes=1)  # security.schedule_detection
CHUNK = 20_000
SLACK = dt.timedelta(minutes=30)
BUSINESS_DAY = dt.timedelta(days=1)


@dataclass
class Loaded:
    tenants: dict[str, Tenant]
    agents: dict[str, dict[str, uuid.UUID]]  # tenant slug → agent name → id
    spans: int = 0


def load(scenario: Plan) -> Loaded:
    """Tenants and agents through the services, the calendar, and every span into
    ClickHouse ``spans`` (the rollups of migration 0004 fill from it)."""
    loaded = Loaded(tenants={}, agents={})
    for tenant_plan in scenario.tenants:
        with all_tenants_context():
            tenant = Tenant.objects.filter(slug=tenant_plan.slug).first()
        if tenant is not None:
            raise ValueError(f"tenant {tenant_plan.slug} exists: load a scenario once")
        tenant = tenant_create(actor=ACTOR, slug=tenant_plan.slug, name=tenant_plan.slug.title())
        ids = {}
        for spec in tenant_plan.agents:
            tools = list(spec.tools + spec.extra_tools) if spec.extra_tools else []
            agent = agent_create(
                actor=ACTOR, tenant=tenant, name=spec.name, role=spec.role, tools=tools
            )
            ids[spec.name] = agent.pk
        if tenant_plan.calendar:
            import json

            calendar_load(actor=ACTOR, tenant=tenant, document=json.dumps(tenant_plan.calendar))
        loaded.tenants[tenant_plan.slug] = tenant
        loaded.agents[tenant_plan.slug] = ids
        site_id = uuid.uuid5(tenant.pk, "site")
        node_id = uuid.uuid5(tenant.pk, "edge")
        batch = []
        for row in spans(scenario, tenant_plan):
            batch.append(row)
            if len(batch) >= CHUNK:
                loaded.spans += _insert(batch, tenant.pk, ids, site_id, node_id)
                batch = []
        loaded.spans += _insert(batch, tenant.pk, ids, site_id, node_id)
    return loaded


def _insert(
    rows: list[Any],
    tenant_id: uuid.UUID,
    ids: dict[str, uuid.UUID],
    site_id: uuid.UUID,
    node_id: uuid.UUID,
) -> int:
    if not rows:
        return 0
    columns = span_columns(
        rows, tenant_id=tenant_id, agent_ids=ids, site_id=site_id, edge_node_id=node_id
    )
    spans_insert(columns, dedup_token=f"scenario:{tenant_id}:{columns['event_id'][0]}:{len(rows)}")
    return len(rows)


@dataclass
class Run:
    runs: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0


def replay(
    scenario: Plan,
    loaded: Loaded,
    *,
    judge_from: dt.datetime,
    until: dt.datetime | None = None,
    step: dt.timedelta = dt.timedelta(hours=1),
) -> Run:
    """Run the detectors chunk by chunk from ``judge_from`` to ``until`` (the end), as
    beat would have, minute windows judged in event time."""
    run = Run()
    started, cpu = time.perf_counter(), time.process_time()
    for tenant in loaded.tenants.values():
        with tenant_context(tenant):
            DetectionCursor.objects.update_or_create(
                tenant=tenant, defaults={"judged_until": judge_from}
            )
        end = until or scenario.until
        moment = judge_from
        while moment < end:
            moment = min(moment + step, end)
            detection_run(tenant_id=tenant.pk, until=moment, now=moment + LATENESS)
            run.runs += 1
    run.seconds = time.perf_counter() - started
    run.cpu_seconds = time.process_time() - cpu
    return run


@dataclass
class Score:
    found: dict[tuple[str, str], list[bool]] = field(default_factory=lambda: defaultdict(list))
    delays: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    false_alerts: list[dict[str, Any]] = field(default_factory=list)
    agent_weeks: float = 0.0
    alerts: int = 0
    missed: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)

    def recall(self, kind: str | None = None, grade: str | None = None) -> float:
        hits = [
            hit
            for (k, g), values in self.found.items()
            for hit in values
            if (kind is None or k == kind) and (grade is None or g == grade)
        ]
        return sum(hits) / len(hits) if hits else float("nan")

    def false_per_agent_week(self) -> float:
        return len(self.false_alerts) / self.agent_weeks if self.agent_weeks else 0.0

    def median_delay_minutes(self, kind: str | None = None) -> float:
        values = [v for k, vs in self.delays.items() for v in vs if kind is None or k == kind]
        return statistics.median(values) if values else float("nan")


def _window(label: Label) -> tuple[dt.datetime, dt.datetime]:
    if label.kind == "escalation":
        assert label.decisive_at is not None
        return label.start, label.decisive_at + BUSINESS_DAY * 3  # a weekend in between
    return label.start - dt.timedelta(minutes=10), label.end + SLACK


def _raised(alert: Alert, pass_time: dt.timedelta) -> dt.datetime:
    """When live traffic would have raised the alert (the module's docstring)."""
    detected = dt.datetime.fromisoformat(alert.evidence["detected_at"])
    if raised_fresh(alert.kind, alert.evidence):
        return detected + PULL + FRESH_EVERY + pass_time
    return detected + LATENESS + BEAT + pass_time


def score(
    scenario: Plan,
    loaded: Loaded,
    *,
    judge_from: dt.datetime,
    pass_time: dt.timedelta = dt.timedelta(seconds=1),
) -> Score:
    """``pass_time``: how long one detection pass takes (bench/README.md)."""
    result = Score()
    agent_names = {
        agent_id: name for ids in loaded.agents.values() for name, agent_id in ids.items()
    }
    weeks = (scenario.until - judge_from) / dt.timedelta(weeks=1)
    result.agent_weeks = weeks * sum(len(ids) for ids in loaded.agents.values())
    for slug, tenant in loaded.tenants.items():
        with tenant_context(tenant):
            alerts = list(Alert.objects.all())
        result.alerts += len(alerts)
        labels = [label for label in scenario.labels if label.tenant == slug]
        for label in labels:
            if label.kind == "benign":
                continue
            start, end = _window(label)
            ids = {loaded.agents[slug][name] for name in label.agents}
            matching = [
                a
                for a in alerts
                if a.kind == label.kind
                and ids & set(a.agent_ids)
                and a.started_at < end
                and a.ended_at > start
                and (
                    label.kind != "escalation"
                    or a.evidence.get("detected_at", "") >= (label.decisive_at or start).isoformat()
                )
            ]
            result.found[(label.kind, label.grade)].append(bool(matching))
            if not matching:
                result.missed.append(f"{slug} {label.kind}/{label.grade}: {label.note}")
                continue
            raised = min(_raised(a, pass_time) for a in matching)
            reference = label.decisive_at if label.kind == "escalation" else label.start
            assert reference is not None
            delay = max((raised - (reference + PULL)) / dt.timedelta(minutes=1), 0.0)
            result.delays[label.kind].append(delay)
            result.details.append(
                f"{slug} {label.kind}/{label.grade}: {delay:.1f} min ({label.note})"
            )
        malicious = [label for label in labels if label.kind != "benign"]
        for alert in alerts:
            explained = False
            for label in malicious:
                start, end = _window(label)
                ids = {loaded.agents[slug][name] for name in label.agents}
                if ids & set(alert.agent_ids) and alert.started_at < end and alert.ended_at > start:
                    explained = True
                    break
            if not explained:
                result.false_alerts.append(
                    {
                        "tenant": slug,
                        "kind": alert.kind,
                        "agents": [agent_names.get(a, str(a)) for a in alert.agent_ids],
                        "started_at": alert.started_at.isoformat(),
                        "title": alert.title,
                    }
                )
    return result


def finished(scenario: Plan) -> Loaded:
    """The tenants of a scenario loaded before whose detectors ran to its end."""
    loaded = Loaded(tenants={}, agents={})
    for tenant_plan in scenario.tenants:
        with all_tenants_context():
            tenant = Tenant.objects.get(slug=tenant_plan.slug)
        with tenant_context(tenant):
            cursor = DetectionCursor.objects.filter(tenant=tenant).first()
            if cursor is None or cursor.judged_until < scenario.until:
                continue
            loaded.agents[tenant_plan.slug] = dict(Agent.objects.values_list("name", "pk"))
        loaded.tenants[tenant_plan.slug] = tenant
    return loaded


def reset(scenario: Plan) -> Loaded:
    """A scenario loaded before, its alerts and incidents removed: to judge it again."""
    loaded = Loaded(tenants={}, agents={})
    for tenant_plan in scenario.tenants:
        with all_tenants_context():
            tenant = Tenant.objects.get(slug=tenant_plan.slug)
        with tenant_context(tenant):
            Alert.objects.all().delete()
            Incident.objects.all().delete()
            AcceptedBehaviour.objects.all().delete()
            loaded.agents[tenant_plan.slug] = dict(Agent.objects.values_list("name", "pk"))
        loaded.tenants[tenant_plan.slug] = tenant
    return loaded

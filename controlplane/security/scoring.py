"""Load a scenario (controlplane/security/scenarios.py) into both stores, run the real
detectors and the edge fast path (edge_replay.py) over it in event time, and score
their alerts against the labels.

Scores (the goals are in docs/security.md and bench/README.md):

- recall per kind and grade: a labelled incident counts as found when an alert of the
  right kind names one of its agents and overlaps its time (escalation: within one
  business day after its decisive step);
- false alerts per agent-week: alerts that overlap no incident's agents and time, the
  benign look-alikes included, per judged agent-week;
- detection delay, from the arrival of the first anomalous data (the first anomalous
  span: Label.first_data, else the incident's start; for escalation its decisive step;
  plus one pull interval) to the alert: for an alert the edge created, its pull (within
  a pull interval of its span's arrival) plus the time to record it; for the detectors', the
  event-time minute at which the detector's window was enough, plus, for what a fresh
  pass raises (services.raised_fresh), one pull interval, the wait for the tenant's
  next pass (at most FRESH_EVERY) and the pass's own time; for the rest (coordination, per-task
  intensity) LATENESS, a whole beat period and the pass (the closed-minute pass). The
  minute grain rounds up: live, a pass after a pull mid-minute can raise earlier.
"""

from __future__ import annotations

import datetime as dt
import heapq
import statistics
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from controlplane.agents.models import Agent
from controlplane.agents.services import agent_create
from controlplane.audit.services import Actor
from controlplane.core.tenancy import all_tenants_context, tenant_context
from controlplane.security.edge_findings import FRESH_EVERY
from controlplane.security.edge_replay import PULL, EdgeReplay, arrival
from controlplane.security.models import (
    AcceptedBehaviour,
    Alert,
    DetectionCursor,
    EdgeProfile,
    Incident,
)
from controlplane.security.scenario_spans import SpanRow, first_spans, span_columns, spans
from controlplane.security.scenarios import Label, Plan
from controlplane.security.services import LATENESS, calendar_load, detection_run, raised_fresh
from controlplane.telemetry.spans import spans_insert
from tenants.models import Tenant
from tenants.services import tenant_create

ACTOR = Actor.system("security.scenarios")
BEAT = dt.timedelta(minutes=1)  # security.schedule_detection
CHUNK = 20_000
SLACK = dt.timedelta(minutes=30)
BUSINESS_DAY = dt.timedelta(days=1)
# How often the replay learns the edges' profiles: production does every hour (beat).
REFRESH = dt.timedelta(hours=1)


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
    pulls: int = 0
    record_seconds: list[float] = field(default_factory=list)
    edge_alerts: int = 0


def _by_arrival(rows: Iterable[SpanRow], since: dt.datetime) -> Iterator[SpanRow]:
    """The rows from ``since`` in order of arrival: a row arrives at or after its start,
    and the kit's rows come in order of their tasks' starts."""
    waiting: list[tuple[dt.datetime, int, SpanRow]] = []
    for index, row in enumerate(rows):
        if row.start < since:
            continue
        while waiting and waiting[0][0] <= row.start:
            yield heapq.heappop(waiting)[2]
        heapq.heappush(waiting, (arrival(row), index, row))
    while waiting:
        yield heapq.heappop(waiting)[2]


def replay(
    scenario: Plan,
    loaded: Loaded,
    *,
    judge_from: dt.datetime,
    until: dt.datetime | None = None,
    step: dt.timedelta = dt.timedelta(hours=1),
    refresh: dt.timedelta = REFRESH,
    pass_time: dt.timedelta = dt.timedelta(seconds=1),
) -> Run:
    """Both layers from ``judge_from`` to ``until`` (the end), interleaved in event time:
    the detectors chunk by chunk as beat would have run them (minute windows judged in
    event time), and every span through the edge fast path (edge_replay.py) with its
    watch section learned every ``refresh``. Before each pull the detectors judge the
    minutes whose alerts live traffic would have raised by then, so whichever layer
    raises first creates the alert and the other extends it, as live."""
    run = Run()
    started, cpu = time.perf_counter(), time.process_time()
    end = until or scenario.until
    plans = {t.slug: t for t in scenario.tenants}
    for slug, tenant in loaded.tenants.items():
        # A one-tenant plan may have been loaded under another slug (tests/security).
        tenant_plan = plans.get(slug) or scenario.tenants[0]
        with tenant_context(tenant):
            DetectionCursor.objects.update_or_create(
                tenant=tenant, defaults={"judged_until": judge_from}
            )
        detectors = _Detectors(tenant.pk, judge_from, step, run)
        edge = EdgeReplay(tenant_id=tenant.pk, agents=loaded.agents[slug])
        learn_at = judge_from
        # A detector's finding of a minute is raised a pull, the wait for a pass and the
        # pass after the minute's end (_raised): those before a pull were raised before it.
        ahead = PULL + FRESH_EVERY + pass_time
        for row in _by_arrival(spans(scenario, tenant_plan), judge_from):
            moment = arrival(row)
            if moment >= end:
                break
            while learn_at <= moment or (edge.pull_at is not None and edge.pull_at <= moment):
                if edge.pull_at is not None and edge.pull_at <= learn_at:
                    detectors.run_to(_minute(edge.pull_at - ahead))
                    edge.pull()
                    run.pulls += 1
                else:
                    detectors.run_to(learn_at)
                    edge.learn(learn_at)
                    learn_at += refresh
            edge.feed(row)
        if edge.pull_at is not None:
            detectors.run_to(_minute(edge.pull_at - ahead))
            edge.pull()
            run.pulls += 1
        detectors.run_to(end)
        run.record_seconds += edge.record_seconds
        run.edge_alerts += len(edge.created)
    run.seconds = time.perf_counter() - started
    run.cpu_seconds = time.process_time() - cpu
    return run


@dataclass
class _Detectors:
    """A tenant's detectors run as beat would have, up to a moment of the replay."""

    tenant_id: uuid.UUID
    judged: dt.datetime
    step: dt.timedelta
    run: Run

    def run_to(self, moment: dt.datetime) -> None:
        while self.judged < moment:
            self.judged = min(self.judged + self.step, moment)
            detection_run(tenant_id=self.tenant_id, until=self.judged, now=self.judged + LATENESS)
            self.run.runs += 1


def _minute(moment: dt.datetime) -> dt.datetime:
    return moment.replace(second=0, microsecond=0)


@dataclass
class Score:
    found: dict[tuple[str, str], list[bool]] = field(default_factory=lambda: defaultdict(list))
    delays: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    delays_from_start: list[float] = field(default_factory=list)
    """Measured from each incident's start (escalation: its decisive step) rather than
    its first anomalous span, as the scorer did before decision 0046."""
    layers: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    """Per kind, the layer that raised each found incident first: edge or detectors."""
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


def _raised(
    alert: Alert, pass_time: dt.timedelta, record_time: dt.timedelta
) -> tuple[dt.datetime, str]:
    """When live traffic would have raised the alert, and which layer raised it (the
    module's docstring). The replay records the edge's findings at their pull, within
    a pull interval of their span's arrival; the detectors' alerts it records later."""
    detected = dt.datetime.fromisoformat(alert.evidence["detected_at"])
    if alert.evidence.get("source") == "edge" and alert.raised_at - detected <= PULL:
        return alert.raised_at + record_time, "edge"
    if raised_fresh(alert.kind, alert.evidence):
        return detected + PULL + FRESH_EVERY + pass_time, "detectors"
    return detected + LATENESS + BEAT + pass_time, "detectors"


def score(
    scenario: Plan,
    loaded: Loaded,
    *,
    judge_from: dt.datetime,
    pass_time: dt.timedelta = dt.timedelta(seconds=1),
    record_time: dt.timedelta = dt.timedelta(seconds=0.05),
) -> Score:
    """``pass_time``: how long one detection pass takes (bench/README.md);
    ``record_time``: how long recording a pull's edge findings takes."""
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
        plans = [t for t in scenario.tenants if t.slug == slug]
        first = first_spans(scenario, plans[0]) if plans else {}
        for index, label in enumerate(scenario.labels):
            if label.tenant != slug or label.kind == "benign":
                continue
            if index in first:
                label.first_data = first[index]
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
            raised, layer = min(_raised(a, pass_time, record_time) for a in matching)
            reference = label.decisive_at if label.kind == "escalation" else label.first_data
            reference = reference or label.start
            delay = max((raised - (reference + PULL)) / dt.timedelta(minutes=1), 0.0)
            result.delays[label.kind].append(delay)
            since = label.decisive_at if label.kind == "escalation" else label.start
            since_start = (raised - ((since or label.start) + PULL)) / dt.timedelta(minutes=1)
            result.delays_from_start.append(max(since_start, 0.0))
            result.layers[label.kind].append(layer)
            result.details.append(
                f"{slug} {label.kind}/{label.grade}: {delay:.1f} min by the {layer} ({label.note})"
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
            EdgeProfile.objects.all().delete()
            loaded.agents[tenant_plan.slug] = dict(Agent.objects.values_list("name", "pk"))
        loaded.tenants[tenant_plan.slug] = tenant
    return loaded

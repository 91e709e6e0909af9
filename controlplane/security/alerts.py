"""Findings into alerts and incidents, and the lifecycle people drive.

A finding whose subject has an alert that is still running (ended within MERGE_GAP of
the finding's start) extends that alert; otherwise it is a new alert keyed by
``subject@start``. So running a detector again over the same minutes raises nothing new.
A new alert joins an open incident that shares an agent (or the same minutes, for a
coordination alert) or opens one; a new incident, or one whose severity rises, is
notified.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from functools import partial
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from controlplane.accounts.models import User
from controlplane.audit.services import Actor, audit_record, snapshot
from controlplane.security.detectors import MERGE_GAP, Finding, merge_items
from controlplane.security.models import (
    CLOSED_STATES,
    SEVERITY_RANK,
    SLA,
    AcceptedBehaviour,
    Alert,
    Incident,
    Kind,
    Note,
    State,
)

DETECTOR = Actor.system("security.detectors")
INCIDENT_GAP = dt.timedelta(hours=2)
TRANSITIONS = {
    State.OPEN: {State.ACKNOWLEDGED, State.RESOLVED, State.FALSE_POSITIVE},
    State.ACKNOWLEDGED: {State.RESOLVED, State.FALSE_POSITIVE, State.OPEN},
    State.RESOLVED: {State.OPEN},
    State.FALSE_POSITIVE: {State.OPEN},
}


class TransitionError(ValueError):
    """A state change the lifecycle does not allow."""


def _max_severity(*severities: str) -> str:
    return max(severities, key=SEVERITY_RANK.__getitem__)


def alerts_record(
    *, tenant_id: uuid.UUID, findings: Iterable[Finding], now: dt.datetime | None = None
) -> list[Alert]:
    """Write ``findings`` as alerts of the tenant (caller holds its tenant_context).
    Returns the alerts created (not the ones extended)."""
    now = now or timezone.now()
    created = []
    for finding in findings:
        running = (
            Alert.objects.filter(
                dedup_key__startswith=f"{finding.subject}@",
                ended_at__gte=finding.started_at - MERGE_GAP,
                started_at__lte=finding.ended_at + MERGE_GAP,
            )
            .order_by("-started_at")
            .first()
        )
        if running is not None:
            _extend(running, finding)
            continue
        alert = _create(tenant_id, finding, now)
        if alert is not None:
            created.append(alert)
    return created


def alerted_scope(alert: Alert) -> set[tuple[str, str]]:
    """The scope items a scope or escalation alert names: while it is not a false
    positive they are normal neither for the agent nor for its peers."""
    if alert.kind == Kind.ESCALATION:
        return {("classification", step["classification"]) for step in alert.evidence["ledger"]}
    return {(entry["dimension"], entry["item"]) for entry in alert.evidence.get("items", [])}


def _extend(alert: Alert, finding: Finding) -> None:
    changed = False
    if finding.ended_at > alert.ended_at:
        alert.ended_at = finding.ended_at
        changed = True
    agents = sorted(set(alert.agent_ids) | set(finding.agent_ids))
    if agents != sorted(alert.agent_ids):
        alert.agent_ids = agents
        changed = True
    if finding.kind == Kind.SCOPE:
        before = len(alert.evidence.get("items", []))
        changed = merge_items(alert.evidence, finding.evidence) or changed
        if len(alert.evidence.get("items", [])) != before:
            alert.title = f"{len(alert.evidence['items'])} new items for this agent"
    elif alert.evidence.get("source") == "edge" and "source" not in finding.evidence:
        # What the detectors measured enriches what the edge saw first.
        extra = {k: v for k, v in finding.evidence.items() if k not in alert.evidence}
        if extra:
            alert.evidence = {**alert.evidence, **extra}
            changed = True
    if SEVERITY_RANK[finding.severity] > SEVERITY_RANK[alert.severity]:
        alert.severity = finding.severity
        if finding.kind != Kind.SCOPE:
            alert.evidence = {**alert.evidence, **finding.evidence}
        changed = True
    if changed:
        alert.save(update_fields=["ended_at", "agent_ids", "severity", "evidence", "title"])
        if alert.incident is not None:
            _incident_absorb(alert.incident, alert)


def _create(tenant_id: uuid.UUID, finding: Finding, now: dt.datetime) -> Alert | None:
    from controlplane.security import queries

    dedup_key = f"{finding.subject}@{finding.started_at.isoformat()}"
    if Alert.objects.filter(dedup_key=dedup_key).exists():
        return None
    evidence = dict(finding.evidence)
    evidence["detected_at"] = finding.detected_at.isoformat()
    evidence["sample_traces"] = queries.sample_traces(
        tenant_id,
        finding.agent_ids,
        finding.started_at - dt.timedelta(minutes=10),
        finding.ended_at + dt.timedelta(minutes=1),
    )
    alert = Alert.objects.create(
        tenant_id=tenant_id,
        dedup_key=dedup_key[:300],
        kind=finding.kind,
        severity=finding.severity,
        title=finding.title[:300],
        agent_ids=finding.agent_ids,
        site_id=finding.site_id,
        started_at=finding.started_at,
        ended_at=finding.ended_at,
        raised_at=now,
        evidence=evidence,
        sla_due_at=now + SLA[finding.severity],
    )
    incident = _incident_for(alert, now)
    alert.incident = incident
    alert.save(update_fields=["incident"])
    audit_record(
        actor=DETECTOR,
        action="security.alert_raised",
        target=alert,
        tenant_id=tenant_id,
        after=snapshot(alert),
    )
    return alert


def _incident_for(alert: Alert, now: dt.datetime) -> Incident:
    overlapping = Q(alerts__agent_ids__overlap=alert.agent_ids)
    if alert.kind == Kind.COORDINATION:
        overlapping |= Q(started_at__lte=alert.ended_at, ended_at__gte=alert.started_at)
    incident = (
        Incident.objects.filter(overlapping)
        .exclude(state__in=CLOSED_STATES)
        .filter(ended_at__gte=alert.started_at - INCIDENT_GAP)
        .order_by("-opened_at")
        .first()
    )
    if incident is None:
        incident = Incident.objects.create(
            tenant_id=alert.tenant_id,
            title=alert.title,
            severity=alert.severity,
            started_at=alert.started_at,
            ended_at=alert.ended_at,
            opened_at=now,
            sla_due_at=now + SLA[alert.severity],
        )
        _notify_later(incident)
        return incident
    _incident_absorb(incident, alert)
    return incident


def _incident_absorb(incident: Incident, alert: Alert) -> None:
    rises = SEVERITY_RANK[alert.severity] > SEVERITY_RANK[incident.severity]
    incident.severity = _max_severity(incident.severity, alert.severity)
    incident.started_at = min(incident.started_at, alert.started_at)
    incident.ended_at = max(incident.ended_at, alert.ended_at)
    if rises:
        incident.sla_due_at = min(incident.sla_due_at, timezone.now() + SLA[incident.severity])
    incident.save(update_fields=["severity", "started_at", "ended_at", "sla_due_at"])
    if rises:
        _notify_later(incident)


def _notify_later(incident: Incident) -> None:
    from controlplane.security import tasks

    transaction.on_commit(partial(tasks.notify_incident.delay, str(incident.pk), incident.severity))
    if incident.severity == "critical":
        transaction.on_commit(partial(tasks.auto_quarantine.delay, str(incident.pk)))


# --- lifecycle ------------------------------------------------------------------------------


def _note(
    *,
    actor: Actor,
    action: str,
    text: str,
    alert: Alert | None = None,
    incident: Incident | None = None,
    at: dt.datetime | None = None,
) -> Note:
    owner = alert if alert is not None else incident
    assert owner is not None
    return Note.objects.create(
        tenant_id=owner.tenant_id,
        alert=alert,
        incident=incident,
        at=at or timezone.now(),
        author=actor.label,
        action=action,
        text=text,
    )


def _apply_state(target: Alert | Incident, state: str, now: dt.datetime) -> None:
    if state not in TRANSITIONS[State(target.state)]:
        raise TransitionError(f"an alert in state {target.state} cannot become {state}")
    target.state = state
    if state == State.ACKNOWLEDGED and target.acknowledged_at is None:
        target.acknowledged_at = now
    target.closed_at = now if state in CLOSED_STATES else None


def alert_transition(
    *,
    actor: Actor,
    alert: Alert,
    state: str,
    note: str = "",
    assignee: User | None = None,
    now: dt.datetime | None = None,
) -> Alert:
    """Move an alert along its lifecycle (TRANSITIONS). A false positive teaches the
    baseline: what it flagged is normal for that agent from now on. ``now``: when it
    happened, if not now (the demo's history)."""
    with transaction.atomic():
        alert = Alert.objects.select_for_update().get(pk=alert.pk)
        before = snapshot(alert)
        now = now or timezone.now()
        if state != alert.state:
            _apply_state(alert, state, now)
        if assignee is not None:
            alert.assignee = assignee
        alert.save()
        _note(actor=actor, action=state, text=note, alert=alert, at=now)
        if state == State.FALSE_POSITIVE:
            _learn_from_false_positive(alert)
        elif state == State.OPEN:
            AcceptedBehaviour.objects.filter(alert=alert).delete()
        audit_record(
            actor=actor,
            action=f"security.alert_{state}",
            target=alert,
            tenant_id=alert.tenant_id,
            before=before,
            after=snapshot(alert),
        )
    return alert


def _learn_from_false_positive(alert: Alert) -> None:
    evidence: dict[str, Any] = alert.evidence
    for agent_id in alert.agent_ids:
        if alert.kind == Kind.SCOPE:
            for entry in evidence.get("items", []):
                AcceptedBehaviour.objects.create(
                    tenant_id=alert.tenant_id,
                    agent_id=agent_id,
                    kind=alert.kind,
                    dimension=entry.get("dimension", ""),
                    item=entry.get("item", ""),
                    alert=alert,
                )
        elif alert.kind == Kind.ESCALATION:
            for step in evidence.get("ledger", []):
                AcceptedBehaviour.objects.create(
                    tenant_id=alert.tenant_id,
                    agent_id=agent_id,
                    kind=alert.kind,
                    dimension="classification",
                    item=step["classification"],
                    alert=alert,
                )
        elif alert.kind == Kind.VOLUME and evidence.get("measure", "rate") == "rate":
            AcceptedBehaviour.objects.create(
                tenant_id=alert.tenant_id,
                agent_id=agent_id,
                kind=alert.kind,
                dimension=evidence.get("metric", ""),
                level=float(evidence.get("observed", 0)),
                alert=alert,
            )
        # Temporal and coordination: the alert's minutes rejoin the baseline (only
        # alerts not marked false positive are left out of it), which is the lesson.


def incident_transition(
    *,
    actor: Actor,
    incident: Incident,
    state: str,
    note: str = "",
    assignee: User | None = None,
    now: dt.datetime | None = None,
) -> Incident:
    """Move an incident; closing it closes its alerts that are still open the same way."""
    with transaction.atomic():
        incident = Incident.objects.select_for_update().get(pk=incident.pk)
        before = snapshot(incident)
        now = now or timezone.now()
        if state != incident.state:
            _apply_state(incident, state, now)
        if assignee is not None:
            incident.assignee = assignee
        incident.save()
        _note(actor=actor, action=state, text=note, incident=incident, at=now)
        if state in CLOSED_STATES or state == State.ACKNOWLEDGED:
            for alert in incident.alerts.exclude(state__in=CLOSED_STATES).exclude(state=state):
                alert_transition(actor=actor, alert=alert, state=state, note=note, now=now)
        audit_record(
            actor=actor,
            action=f"security.incident_{state}",
            target=incident,
            tenant_id=incident.tenant_id,
            before=before,
            after=snapshot(incident),
        )
    return incident


def note_add(
    *,
    actor: Actor,
    alert: Alert | None = None,
    incident: Incident | None = None,
    text: str,
    at: dt.datetime | None = None,
) -> Note:
    return _note(actor=actor, action="note", text=text, alert=alert, incident=incident, at=at)


def _assign(target: Alert | Incident, *, actor: Actor, assignee: User) -> Alert | Incident:
    model = type(target)
    with transaction.atomic():
        locked = model.objects.select_for_update().get(pk=target.pk)
        before = snapshot(locked)
        locked.assignee = assignee
        locked.save(update_fields=["assignee"])
        if isinstance(locked, Alert):
            _note(actor=actor, action="assigned", text=assignee.email, alert=locked)
        else:
            _note(actor=actor, action="assigned", text=assignee.email, incident=locked)
        audit_record(
            actor=actor,
            action=f"security.{model.__name__.lower()}_assigned",
            target=locked,
            tenant_id=locked.tenant_id,
            before=before,
            after=snapshot(locked),
        )
    return locked


def alert_assign(*, actor: Actor, alert: Alert, assignee: User) -> Alert:
    """Give an alert to someone (staff or a member of its tenant), state unchanged."""
    assigned = _assign(alert, actor=actor, assignee=assignee)
    assert isinstance(assigned, Alert)
    return assigned


def incident_assign(*, actor: Actor, incident: Incident, assignee: User) -> Incident:
    assigned = _assign(incident, actor=actor, assignee=assignee)
    assert isinstance(assigned, Incident)
    return assigned


def incident_from_alerts(*, actor: Actor, alerts: Sequence[Alert], title: str = "") -> Incident:
    """One new incident of ``alerts`` (all of one tenant), taken out of the incidents
    they were in; an incident left without alerts is resolved with a note naming the
    new one."""
    if not alerts:
        raise ValidationError("Choose at least one alert.")
    if len({alert.tenant_id for alert in alerts}) != 1:
        raise ValidationError("Choose alerts of one tenant: an incident belongs to one.")
    now = timezone.now()
    with transaction.atomic():
        chosen = list(
            Alert.objects.select_for_update()
            .filter(pk__in=[alert.pk for alert in alerts])
            .order_by("started_at")
        )
        severity = _max_severity(*(alert.severity for alert in chosen))
        incident = Incident.objects.create(
            tenant_id=chosen[0].tenant_id,
            title=(title or chosen[0].title)[:300],
            severity=severity,
            started_at=min(alert.started_at for alert in chosen),
            ended_at=max(alert.ended_at for alert in chosen),
            opened_at=now,
            sla_due_at=now + SLA[severity],
        )
        previous = {alert.incident_id for alert in chosen} - {None}
        Alert.objects.filter(pk__in=[alert.pk for alert in chosen]).update(incident=incident)
        count = len(chosen)
        _note(
            actor=actor,
            action="opened",
            text=f"Opened from {count} alert{'s' if count != 1 else ''}.",
            incident=incident,
        )
        audit_record(
            actor=actor,
            action="security.incident_opened",
            target=incident,
            tenant_id=incident.tenant_id,
            after=snapshot(incident),
        )
        for emptied in Incident.objects.filter(pk__in=previous, alerts__isnull=True).exclude(
            state__in=CLOSED_STATES
        ):
            incident_transition(
                actor=actor,
                incident=emptied,
                state=State.RESOLVED,
                note=f"Its alerts moved to the incident “{incident.title}”.",
            )
    return incident

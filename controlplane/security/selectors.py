"""Reads of behavioral security for the views and the API."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import uuid
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

from django.db.models import Case, IntegerField, Q, QuerySet, Value, When
from django.utils import timezone

from controlplane.agents.models import Agent
from controlplane.core.spreadsheet import safe_cell
from controlplane.security.models import (
    SEVERITY_RANK,
    Alert,
    Incident,
    Note,
    Notification,
    Quarantine,
    State,
)


def sla_breached(item: Alert | Incident) -> bool:
    """Not acknowledged (nor closed) by its SLA time."""
    if item.acknowledged_at is not None:
        return item.acknowledged_at > item.sla_due_at
    if item.closed_at is not None:
        return item.closed_at > item.sla_due_at
    return item.state == State.OPEN and timezone.now() > item.sla_due_at


def agent_names(alerts: Iterable[Alert]) -> dict[uuid.UUID, str]:
    """Names of the agents the alerts name (caller holds a tenant or all-tenants scope)."""
    ids = {a for alert in alerts for a in alert.agent_ids}
    return dict(Agent.objects.filter(pk__in=ids).values_list("pk", "name")) if ids else {}


EXPORT_FIELDS = (
    "tenant", "alert_id", "kind", "severity", "state", "title", "agent_ids", "agent_names",
    "started_at", "ended_at", "raised_at", "incident_id",
)  # fmt: skip


def export_rows(alerts: QuerySet[Alert]) -> list[dict[str, Any]]:
    items = list(alerts.select_related("tenant"))
    names = agent_names(items)
    return [
        {
            "tenant": alert.tenant.slug,
            "alert_id": str(alert.pk),
            "kind": alert.kind,
            "severity": alert.severity,
            "state": alert.state,
            "title": alert.title,
            "agent_ids": [str(a) for a in alert.agent_ids],
            "agent_names": [names.get(a, "") for a in alert.agent_ids],
            "started_at": alert.started_at.isoformat(),
            "ended_at": alert.ended_at.isoformat(),
            "raised_at": alert.raised_at.isoformat(),
            "incident_id": str(alert.incident_id) if alert.incident_id else "",
        }
        for alert in items
    ]


def export_csv(rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=EXPORT_FIELDS)
    writer.writeheader()
    for row in rows:
        flat = {
            **row,
            "agent_ids": " ".join(row["agent_ids"]),
            "agent_names": " ".join(row["agent_names"]),
        }
        writer.writerow({name: safe_cell(value) for name, value in flat.items()})
    return buffer.getvalue()


def export_json(rows: list[dict[str, Any]]) -> str:
    return json.dumps(rows, indent=2)


# --- the triage lists ----------------------------------------------------------------------

ACTIVE_STATES = (State.OPEN, State.ACKNOWLEDGED)


def severity_rank() -> Case:
    """0 (low) to 3 (critical), to sort by."""
    return Case(
        *(When(severity=name, then=Value(rank)) for name, rank in SEVERITY_RANK.items()),
        output_field=IntegerField(),
    )


@dataclass(frozen=True)
class AlertQuery:
    """What a list of alerts is narrowed to; empty means any."""

    severity: str = ""
    kind: str = ""
    states: Collection[str] = ()
    tenant_slug: str = ""
    agent_ids: Collection[uuid.UUID] | None = None  # alerts naming any of these
    since: dt.datetime | None = None  # alerts whose minutes overlap [since, until)
    until: dt.datetime | None = None


def alerts_matching(alerts: QuerySet[Alert], query: AlertQuery) -> QuerySet[Alert]:
    if query.severity:
        alerts = alerts.filter(severity=query.severity)
    if query.kind:
        alerts = alerts.filter(kind=query.kind)
    if query.states:
        alerts = alerts.filter(state__in=list(query.states))
    if query.tenant_slug:
        alerts = alerts.filter(tenant__slug=query.tenant_slug)
    if query.agent_ids is not None:
        alerts = alerts.filter(agent_ids__overlap=list(query.agent_ids))
    if query.since is not None:
        alerts = alerts.filter(ended_at__gte=query.since)
    if query.until is not None:
        alerts = alerts.filter(started_at__lt=query.until)
    return alerts


def incidents_matching(incidents: QuerySet[Incident], query: AlertQuery) -> QuerySet[Incident]:
    """Incidents by the same filters: an incident matches when one of its alerts does
    (severity and state are the incident's own)."""
    if query.severity:
        incidents = incidents.filter(severity=query.severity)
    if query.states:
        incidents = incidents.filter(state__in=list(query.states))
    narrowed = AlertQuery(
        kind=query.kind, agent_ids=query.agent_ids, since=query.since, until=query.until
    )
    if narrowed != AlertQuery():
        matching = alerts_matching(Alert.objects.all(), narrowed).values("incident_id")
        incidents = incidents.filter(pk__in=matching)
    return incidents


def severity_counts(
    alerts: QuerySet[Alert], since: dt.datetime, until: dt.datetime
) -> list[dict[str, Any]]:
    """Per severity, most severe first: the alerts whose minutes overlap [since, until)
    and how many of them are still open or acknowledged (the faults dashboard slot)."""
    found = {name: 0 for name in SEVERITIES}
    active = {name: 0 for name in SEVERITIES}
    in_window = alerts.filter(ended_at__gte=since, started_at__lt=until)
    for severity, state in in_window.values_list("severity", "state"):
        found[severity] += 1
        if state in ACTIVE_STATES:
            active[severity] += 1
    return [
        {"severity": name, "alerts": found[name], "active": active[name]} for name in SEVERITIES
    ]


SEVERITIES = sorted(SEVERITY_RANK, key=SEVERITY_RANK.__getitem__, reverse=True)


# --- an incident's timeline ---------------------------------------------------------------


TIMELINE_LABELS = {
    "raised": "Raised",
    "opened": "Opened",
    "acknowledged": "Acknowledged",
    "assigned": "Assigned",
    "note": "Note",
    "resolved": "Resolved",
    "false_positive": "Marked false positive",
    "open": "Reopened",
    "quarantined": "Quarantined",
    "released": "Released from quarantine",
    "notified": "Notified",
}


@dataclass(frozen=True)
class TimelineEntry:
    at: dt.datetime
    action: str  # a key of TIMELINE_LABELS
    who: str
    text: str = ""
    alert: Alert | None = None  # None: about the incident itself

    @property
    def label(self) -> str:
        return TIMELINE_LABELS.get(self.action, self.action)


def incident_timeline(
    incident: Incident, alerts: list[Alert], names: dict[uuid.UUID, str]
) -> list[TimelineEntry]:
    """What happened to the incident and its alerts, oldest first: each alert raised, the
    state changes, assignments and notes people made, quarantines of its agents started
    and released, notifications sent. ``names``: agent names by id. The caller holds the
    tenant's (or all tenants') context."""
    by_id = {alert.pk: alert for alert in alerts}
    entries = [
        TimelineEntry(alert.raised_at, "raised", "security.detectors", alert=alert)
        for alert in alerts
    ]
    notes = Note.objects.filter(tenant_id=incident.tenant_id).filter(
        Q(incident=incident) | Q(alert_id__in=list(by_id))
    )
    entries += [
        TimelineEntry(note.at, note.action, note.author, note.text, by_id.get(note.alert_id))
        for note in notes
    ]
    agents = {agent for alert in alerts for agent in alert.agent_ids}
    quarantines = Quarantine.objects.filter(tenant_id=incident.tenant_id).filter(
        Q(alert_id__in=list(by_id))
        | Q(scope=Quarantine.Scope.AGENT, target_id__in=agents, started_at__gte=incident.started_at)
    )
    for quarantine in quarantines:
        alert = by_id.get(quarantine.alert_id) if quarantine.alert_id else None
        target = names.get(quarantine.target_id) or f"{quarantine.scope} {quarantine.target_id}"
        entries.append(
            TimelineEntry(
                quarantine.started_at,
                "quarantined",
                quarantine.started_by,
                f"{target}: {quarantine.reason}",
                alert,
            )
        )
        if quarantine.released_at is not None:
            entries.append(
                TimelineEntry(
                    quarantine.released_at,
                    "released",
                    quarantine.released_by,
                    target,
                    alert,
                )
            )
    for sent in Notification.objects.filter(tenant_id=incident.tenant_id, incident=incident):
        entries.append(
            TimelineEntry(
                sent.created_at, "notified", sent.channel, f"{sent.status} {sent.detail}".strip()
            )
        )
    return sorted(entries, key=lambda entry: entry.at)

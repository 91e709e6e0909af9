"""Reads of behavioral security for the views and the API."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterable
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from controlplane.agents.models import Agent
from controlplane.security.models import Alert, Incident, State


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
        writer.writerow(
            {
                **row,
                "agent_ids": " ".join(row["agent_ids"]),
                "agent_names": " ".join(row["agent_names"]),
            }
        )
    return buffer.getvalue()


def export_json(rows: list[dict[str, Any]]) -> str:
    return json.dumps(rows, indent=2)


def open_counts(queryset: QuerySet[Alert]) -> dict[str, int]:
    """Open (not closed) alerts per severity: the faults dashboard slot."""
    counts = {"critical": 0, "high": 0, "medium": 0, "low": 0}
    for severity in queryset.filter(state__in=(State.OPEN, State.ACKNOWLEDGED)).values_list(
        "severity", flat=True
    ):
        counts[severity] += 1
    return counts

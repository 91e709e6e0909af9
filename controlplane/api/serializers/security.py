"""Alerts, incidents, the change calendar, quarantines and security settings
(behavioral security, docs/security.md)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from controlplane.api.serializers.common import (
    EXAMPLE_AGENT_ID,
    EXAMPLE_SITE_ID,
    EXAMPLE_TIME,
    request_example,
    response_example,
)
from controlplane.security.models import (
    Alert,
    Incident,
    Kind,
    MaintenanceWindow,
    Note,
    Quarantine,
    SecuritySettings,
    State,
)

EXAMPLE_ALERT_ID = "0193f0a2-6c1e-7b3a-9f10-2b7c1d5e8a30"
EXAMPLE_INCIDENT_ID = "0193f0a2-6c1e-7b3a-9f10-2b7c1d5e8a31"
EXAMPLE_WINDOW_ID = "0193f0a2-6c1e-7b3a-9f10-2b7c1d5e8a32"
EXAMPLE_QUARANTINE_ID = "0193f0a2-6c1e-7b3a-9f10-2b7c1d5e8a33"
EXAMPLE_NOTE = {
    "at": "2026-11-26T09:41:00Z",
    "author": "dana@msp.example",
    "action": "acknowledged",
    "text": "Looking at the export job.",
}
EXAMPLE_ALERT: dict[str, Any] = {
    "id": EXAMPLE_ALERT_ID,
    "kind": "volume",
    "severity": "high",
    "state": "acknowledged",
    "title": "returned rows 14.2x normal",
    "agent_ids": [EXAMPLE_AGENT_ID],
    "agents": [{"id": EXAMPLE_AGENT_ID, "name": "invoice-triage"}],
    "site_id": EXAMPLE_SITE_ID,
    "started_at": "2026-11-26T09:10:00Z",
    "ended_at": "2026-11-26T09:24:00Z",
    "raised_at": "2026-11-26T09:21:03Z",
    "incident": EXAMPLE_INCIDENT_ID,
    "assignee": "dana@msp.example",
    "sla_due_at": "2026-11-26T13:21:03Z",
    "sla_breached": False,
    "acknowledged_at": "2026-11-26T09:41:00Z",
    "closed_at": None,
    "evidence": {
        "metric": "returned_rows",
        "measure": "rate",
        "window_minutes": 10,
        "observed": 42600,
        "baseline_median": 3000,
        "baseline_mad": 410,
        "baseline_samples": 15,
        "ratio": 14.2,
        "robust_z": 53.4,
        "hour_of_week": "Thu 09:00",
        "sample_traces": [
            {
                "trace_id": "0af7651916cd43dd8448eb211c80319c",
                "started_at": "2026-11-26T09:11:02Z",
                "agent_id": EXAMPLE_AGENT_ID,
            }
        ],
    },
}
EXAMPLE_INCIDENT: dict[str, Any] = {
    "id": EXAMPLE_INCIDENT_ID,
    "title": "returned rows 14.2x normal",
    "severity": "high",
    "state": "acknowledged",
    "started_at": "2026-11-26T09:10:00Z",
    "ended_at": "2026-11-26T09:24:00Z",
    "opened_at": "2026-11-26T09:21:03Z",
    "assignee": "dana@msp.example",
    "sla_due_at": "2026-11-26T13:21:03Z",
    "acknowledged_at": "2026-11-26T09:41:00Z",
    "closed_at": None,
    "alert_count": 1,
}
EXAMPLE_WINDOW = {
    "title": "Wiki reindex",
    "reason": "maintenance",
    "starts_at": "2026-12-10T01:00:00Z",
    "ends_at": "2026-12-10T03:00:00Z",
    "agent_ids": [EXAMPLE_AGENT_ID],
    "kinds": ["volume", "temporal"],
}
EXAMPLE_QUARANTINE = {
    "scope": "agent",
    "target_id": EXAMPLE_AGENT_ID,
    "reason": "Bulk export of customer records outside office hours",
    "alert": EXAMPLE_ALERT_ID,
}
EXAMPLE_SETTINGS = {
    "sensitivity": "medium",
    "learning_days": 14,
    "auto_quarantine": False,
    "notify_emails": ["soc@acme.example"],
    "webhook_url": "https://hooks.acme.example/acp",
    "min_notify_severity": "high",
}


class NoteSerializer(serializers.ModelSerializer[Note]):
    class Meta:
        model = Note
        fields = ("at", "author", "action", "text")


class AgentRefSerializer(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    name = serializers.CharField()


@extend_schema_serializer(examples=[response_example(EXAMPLE_ALERT)])
class AlertSerializer(serializers.ModelSerializer[Alert]):
    assignee = serializers.SerializerMethodField()
    sla_breached = serializers.SerializerMethodField()
    agents = serializers.SerializerMethodField()

    class Meta:
        model = Alert
        fields: tuple[str, ...] = (
            "id", "kind", "severity", "state", "title", "agent_ids", "agents", "site_id",
            "started_at", "ended_at", "raised_at", "incident", "assignee", "sla_due_at",
            "sla_breached", "acknowledged_at", "closed_at", "evidence",
        )  # fmt: skip

    def get_assignee(self, alert: Alert) -> str | None:
        return alert.assignee.email if alert.assignee else None

    def get_sla_breached(self, alert: Alert) -> bool:
        from controlplane.security.selectors import sla_breached

        return sla_breached(alert)

    @extend_schema_field(AgentRefSerializer(many=True))
    def get_agents(self, alert: Alert) -> list[dict[str, str]]:
        names: dict[Any, str] = self.context.get("agent_names", {})
        return [{"id": str(a), "name": names.get(a, "")} for a in alert.agent_ids]


@extend_schema_serializer(examples=[response_example({**EXAMPLE_ALERT, "notes": [EXAMPLE_NOTE]})])
class AlertDetailSerializer(AlertSerializer):
    notes = NoteSerializer(many=True, read_only=True)

    class Meta(AlertSerializer.Meta):
        fields = (*AlertSerializer.Meta.fields, "notes")


@extend_schema_serializer(examples=[response_example(EXAMPLE_INCIDENT)])
class IncidentSerializer(serializers.ModelSerializer[Incident]):
    assignee = serializers.SerializerMethodField()
    alert_count = serializers.SerializerMethodField()

    class Meta:
        model = Incident
        fields: tuple[str, ...] = (
            "id", "title", "severity", "state", "started_at", "ended_at", "opened_at",
            "assignee", "sla_due_at", "acknowledged_at", "closed_at", "alert_count",
        )  # fmt: skip

    def get_assignee(self, incident: Incident) -> str | None:
        return incident.assignee.email if incident.assignee else None

    def get_alert_count(self, incident: Incident) -> int:
        return incident.alerts.count()


@extend_schema_serializer(
    examples=[
        response_example({**EXAMPLE_INCIDENT, "alerts": [EXAMPLE_ALERT], "notes": [EXAMPLE_NOTE]})
    ]
)
class IncidentDetailSerializer(IncidentSerializer):
    alerts = AlertSerializer(many=True, read_only=True)
    notes = NoteSerializer(many=True, read_only=True)

    class Meta(IncidentSerializer.Meta):
        fields = (*IncidentSerializer.Meta.fields, "alerts", "notes")


@extend_schema_serializer(
    examples=[
        request_example(
            {
                "state": "acknowledged",
                "note": "Looking at the export job.",
                "assignee": "dana@msp.example",
            }
        )
    ]
)
class StateChangeSerializer(serializers.Serializer[Any]):
    state = serializers.ChoiceField(choices=State.choices)
    note = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")
    assignee = serializers.EmailField(
        required=False, help_text="Email of the person who takes it (staff or a tenant member)."
    )


@extend_schema_serializer(
    examples=[
        request_example(
            {"ids": [EXAMPLE_ALERT_ID], "state": "resolved", "note": "Export job fixed."}
        )
    ]
)
class BulkStateChangeSerializer(StateChangeSerializer):
    ids = serializers.ListField(child=serializers.UUIDField(), min_length=1, max_length=500)


@extend_schema_serializer(
    examples=[
        request_example(EXAMPLE_WINDOW),
        response_example({"id": EXAMPLE_WINDOW_ID, **EXAMPLE_WINDOW, "created_at": EXAMPLE_TIME}),
    ]
)
class MaintenanceWindowSerializer(serializers.ModelSerializer[MaintenanceWindow]):
    kinds = serializers.ListField(
        child=serializers.ChoiceField(choices=Kind.choices), required=False, default=list
    )
    agent_ids = serializers.ListField(child=serializers.UUIDField(), required=False, default=list)

    class Meta:
        model = MaintenanceWindow
        fields = (
            "id",
            "title",
            "reason",
            "starts_at",
            "ends_at",
            "agent_ids",
            "kinds",
            "created_at",
        )
        read_only_fields = ("id", "created_at")


@extend_schema_serializer(
    examples=[request_example({"windows": [{**EXAMPLE_WINDOW, "agents": ["invoice-triage"]}]})]
)
class CalendarImportSerializer(serializers.Serializer[Any]):
    windows = serializers.JSONField(
        help_text='The change calendar: [{"title", "starts_at", "ends_at", "reason", '
        '"agents": [names or ids], "kinds": [...]}]'
    )


@extend_schema_serializer(
    examples=[
        request_example(EXAMPLE_QUARANTINE),
        response_example(
            {
                "id": EXAMPLE_QUARANTINE_ID,
                **EXAMPLE_QUARANTINE,
                "started_at": EXAMPLE_TIME,
                "started_by": "dana@msp.example",
                "released_at": None,
                "released_by": "",
            }
        ),
    ]
)
class QuarantineSerializer(serializers.ModelSerializer[Quarantine]):
    class Meta:
        model = Quarantine
        fields = (
            "id", "scope", "target_id", "reason", "alert", "started_at", "started_by",
            "released_at", "released_by",
        )  # fmt: skip
        read_only_fields = ("id", "started_at", "started_by", "released_at", "released_by")


@extend_schema_serializer(
    examples=[
        request_example({"sensitivity": "high", "webhook_secret": "whsec-2f9c1d"}),
        response_example({**EXAMPLE_SETTINGS, "webhook_secret_set": True}),
    ]
)
class SecuritySettingsSerializer(serializers.ModelSerializer[SecuritySettings]):
    webhook_secret = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        max_length=200,
        help_text="Write-only: signs webhooks (HMAC-SHA256). Never returned.",
    )
    webhook_secret_set = serializers.SerializerMethodField()

    class Meta:
        model = SecuritySettings
        fields = (
            "sensitivity", "learning_days", "auto_quarantine", "notify_emails", "webhook_url",
            "min_notify_severity", "webhook_secret", "webhook_secret_set",
        )  # fmt: skip

    def get_webhook_secret_set(self, settings: SecuritySettings) -> bool:
        return bool(settings.webhook_secret_enc)


class AlertExportSerializer(serializers.Serializer[Any]):
    """One exported alert (``export?as=json``; the CSV has the same columns, the lists
    space-separated)."""

    tenant = serializers.CharField(help_text="The tenant's slug.")
    alert_id = serializers.UUIDField()
    kind = serializers.ChoiceField(choices=Kind.choices)
    severity = serializers.CharField()
    state = serializers.ChoiceField(choices=State.choices)
    title = serializers.CharField()
    agent_ids = serializers.ListField(child=serializers.UUIDField())
    agent_names = serializers.ListField(child=serializers.CharField(allow_blank=True))
    started_at = serializers.DateTimeField()
    ended_at = serializers.DateTimeField()
    raised_at = serializers.DateTimeField()
    incident_id = serializers.CharField(allow_blank=True, help_text="Empty when none.")

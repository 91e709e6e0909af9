"""Alerts, incidents, the change calendar, quarantines and security settings
(behavioral security, docs/security.md)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

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


class NoteSerializer(serializers.ModelSerializer[Note]):
    class Meta:
        model = Note
        fields = ("at", "author", "action", "text")


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

    def get_agents(self, alert: Alert) -> list[dict[str, str]]:
        names: dict[Any, str] = self.context.get("agent_names", {})
        return [{"id": str(a), "name": names.get(a, "")} for a in alert.agent_ids]


class AlertDetailSerializer(AlertSerializer):
    notes = NoteSerializer(many=True, read_only=True)

    class Meta(AlertSerializer.Meta):
        fields = (*AlertSerializer.Meta.fields, "notes")


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


class IncidentDetailSerializer(IncidentSerializer):
    alerts = AlertSerializer(many=True, read_only=True)
    notes = NoteSerializer(many=True, read_only=True)

    class Meta(IncidentSerializer.Meta):
        fields = (*IncidentSerializer.Meta.fields, "alerts", "notes")


class StateChangeSerializer(serializers.Serializer[Any]):
    state = serializers.ChoiceField(choices=State.choices)
    note = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")
    assignee = serializers.EmailField(
        required=False, help_text="Email of the person who takes it (staff or a tenant member)."
    )


class BulkStateChangeSerializer(StateChangeSerializer):
    ids = serializers.ListField(child=serializers.UUIDField(), min_length=1, max_length=500)


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


class CalendarImportSerializer(serializers.Serializer[Any]):
    windows = serializers.JSONField(
        help_text='The change calendar: [{"title", "starts_at", "ends_at", "reason", '
        '"agents": [names or ids], "kinds": [...]}]'
    )


class QuarantineSerializer(serializers.ModelSerializer[Quarantine]):
    class Meta:
        model = Quarantine
        fields = (
            "id", "scope", "target_id", "reason", "alert", "started_at", "started_by",
            "released_at", "released_by",
        )  # fmt: skip
        read_only_fields = ("id", "started_at", "started_by", "released_at", "released_by")


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

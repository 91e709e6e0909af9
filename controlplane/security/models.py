"""Alerts, incidents, the change calendar, quarantines and each tenant's security settings.

Every table is tenant-owned with forced row-level security (migration 0002). Times of
what an alert is about (``started_at``, ``ended_at``) are event times, the spans' own;
``raised_at`` is when the detector wrote it.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models

from controlplane.core.ids import new_id
from controlplane.core.tenancy import TenantOwnedModel


class Kind(models.TextChoices):
    VOLUME = "volume"
    SCOPE = "scope"
    TEMPORAL = "temporal"
    ESCALATION = "escalation"
    COORDINATION = "coordination"


class Severity(models.TextChoices):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


SEVERITY_RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}
# Time to acknowledge, per severity: the SLA clock of an alert or incident.
SLA = {
    "low": dt.timedelta(days=3),
    "medium": dt.timedelta(hours=24),
    "high": dt.timedelta(hours=4),
    "critical": dt.timedelta(minutes=30),
}


class State(models.TextChoices):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    FALSE_POSITIVE = "false_positive"


CLOSED_STATES = (State.RESOLVED, State.FALSE_POSITIVE)


class SecuritySettings(TenantOwnedModel):
    """One row per tenant; absent means the defaults below."""

    class Sensitivity(models.TextChoices):
        LOW = "low"
        MEDIUM = "medium"
        HIGH = "high"

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    sensitivity = models.CharField(
        max_length=10, choices=Sensitivity.choices, default=Sensitivity.MEDIUM
    )
    learning_days = models.PositiveSmallIntegerField(
        default=14, help_text="Days of an agent's own history before it is judged on its own."
    )
    auto_quarantine = models.BooleanField(
        default=False, help_text="Quarantine the agents of a critical alert automatically."
    )
    notify_emails = ArrayField(models.EmailField(), default=list, blank=True)
    webhook_url = models.URLField(blank=True)
    webhook_secret_enc = models.TextField(blank=True)
    min_notify_severity = models.CharField(
        max_length=10, choices=Severity.choices, default=Severity.MEDIUM
    )

    AUDIT_FIELDS = (
        "sensitivity",
        "learning_days",
        "auto_quarantine",
        "notify_emails",
        "webhook_url",
        "min_notify_severity",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant"], name="security_settings_one_per_tenant")
        ]


class DetectionCursor(TenantOwnedModel):
    """Event time up to which a tenant's closed minutes have been judged."""

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    judged_until = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant"], name="detection_cursor_one_per_tenant")
        ]


class Incident(TenantOwnedModel):
    """Related alerts (same agents or same minutes) that a person handles as one."""

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    title = models.CharField(max_length=300)
    severity = models.CharField(max_length=10, choices=Severity.choices)
    state = models.CharField(max_length=20, choices=State.choices, default=State.OPEN)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField()
    opened_at = models.DateTimeField()
    sla_due_at = models.DateTimeField()
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    AUDIT_FIELDS = ("title", "severity", "state", "assignee", "acknowledged_at", "closed_at")

    class Meta:
        ordering = ["-opened_at"]
        indexes = [models.Index(fields=["tenant", "state", "-opened_at"])]

    def __str__(self) -> str:
        return self.title


class Alert(TenantOwnedModel):
    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    dedup_key = models.CharField(
        max_length=300, help_text="Same anomaly, same key: a re-run raises nothing new."
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    severity = models.CharField(max_length=10, choices=Severity.choices)
    title = models.CharField(max_length=300)
    agent_ids = ArrayField(models.UUIDField(), default=list)
    site_id = models.UUIDField(null=True, blank=True)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField()
    raised_at = models.DateTimeField()
    evidence = models.JSONField(default=dict)
    incident = models.ForeignKey(
        Incident, on_delete=models.SET_NULL, null=True, blank=True, related_name="alerts"
    )
    state = models.CharField(max_length=20, choices=State.choices, default=State.OPEN)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    sla_due_at = models.DateTimeField()
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    AUDIT_FIELDS = ("kind", "severity", "state", "assignee", "acknowledged_at", "closed_at")

    class Meta:
        ordering = ["-raised_at"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "dedup_key"], name="alert_unique_dedup_key")
        ]
        indexes = [
            models.Index(fields=["tenant", "state", "-raised_at"]),
            models.Index(fields=["tenant", "started_at"]),
        ]

    def __str__(self) -> str:
        return self.title


class Note(TenantOwnedModel):
    """The timeline of an alert or incident: state changes, assignments, notes."""

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    alert = models.ForeignKey(
        Alert, on_delete=models.CASCADE, null=True, blank=True, related_name="notes"
    )
    incident = models.ForeignKey(
        Incident, on_delete=models.CASCADE, null=True, blank=True, related_name="notes"
    )
    at = models.DateTimeField()
    author = models.CharField(max_length=200)
    action = models.CharField(max_length=40)
    text = models.TextField(blank=True)

    class Meta:
        ordering = ["at"]


class MaintenanceWindow(TenantOwnedModel):
    """The change calendar: announced maintenance, schema changes, planned campaigns.
    Anomalies inside a window (of the listed agents and kinds, empty meaning all) are
    not raised."""

    class Reason(models.TextChoices):
        MAINTENANCE = "maintenance"
        SCHEMA_CHANGE = "schema_change"
        CAMPAIGN = "campaign"
        OTHER = "other"

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    title = models.CharField(max_length=200)
    reason = models.CharField(max_length=20, choices=Reason.choices, default=Reason.MAINTENANCE)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    agent_ids = ArrayField(models.UUIDField(), default=list, blank=True)
    kinds = ArrayField(
        models.CharField(max_length=20, choices=Kind.choices), default=list, blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)

    AUDIT_FIELDS = ("title", "reason", "starts_at", "ends_at", "agent_ids", "kinds")

    class Meta:
        ordering = ["starts_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_at__gt=models.F("starts_at")),
                name="maintenance_window_ends_after_start",
            )
        ]


class AcceptedBehaviour(TenantOwnedModel):
    """What a false positive taught the baseline: an item of an agent's scope, or a
    volume level, that is normal from now on."""

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    agent_id = models.UUIDField()
    kind = models.CharField(max_length=20, choices=Kind.choices)
    dimension = models.CharField(max_length=20, blank=True)
    item = models.CharField(max_length=300, blank=True)
    level = models.FloatField(null=True, blank=True)
    alert = models.ForeignKey(Alert, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)


class EdgeProfile(TenantOwnedModel):
    """What an agent's edges check in-process (edge/watch.py), learned from its baselines
    (controlplane/security/profiles.py): the scope items it is known to use per
    dimension, ceilings of tokens and returned rows a minute, and its working hours."""

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    agent_id = models.UUIDField()
    allow = models.JSONField(default=dict, help_text="dimension → sorted known items")
    max_tokens_per_minute = models.PositiveIntegerField(null=True, blank=True)
    max_rows_per_minute = models.PositiveIntegerField(null=True, blank=True)
    hours = models.JSONField(
        null=True,
        blank=True,
        help_text="Hours of the week (UTC, Monday 00:00 = 0) the agent works in; null: its "
        "hours are too irregular to check.",
    )
    learned_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "agent_id"], name="edge_profile_one_per_agent"
            )
        ]


class Quarantine(TenantOwnedModel):
    """An agent, a device or the whole tenant whose requests every edge refuses."""

    class Scope(models.TextChoices):
        AGENT = "agent"
        DEVICE = "device"
        TENANT = "tenant"

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    scope = models.CharField(max_length=10, choices=Scope.choices)
    target_id = models.UUIDField(help_text="The agent, device or tenant id.")
    reason = models.TextField()
    alert = models.ForeignKey(
        Alert, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    started_at = models.DateTimeField()
    started_by = models.CharField(max_length=200)
    released_at = models.DateTimeField(null=True, blank=True)
    released_by = models.CharField(max_length=200, blank=True)

    AUDIT_FIELDS = ("scope", "target_id", "reason", "released_at")

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "scope", "target_id"],
                condition=models.Q(released_at__isnull=True),
                name="quarantine_one_active_per_target",
            )
        ]


class Notification(TenantOwnedModel):
    """One notification sent (or held back by the rate limit), for deduplication."""

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    dedup_key = models.CharField(max_length=300)
    channel = models.CharField(max_length=10)  # email | webhook
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, null=True, related_name="+")
    created_at = models.DateTimeField()
    status = models.CharField(max_length=20)  # sent | failed | rate_limited
    detail = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "channel", "dedup_key"], name="notification_unique_dedup_key"
            )
        ]
        indexes = [models.Index(fields=["tenant", "channel", "created_at"])]

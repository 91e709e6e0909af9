"""Retention policies (MSP defaults and per tenant, effective-dated), legal holds, the
record of each retention run, and data-subject requests (docs/privacy.md).

Every tenant-owned table here has forced row-level security (migration 0001).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models

from controlplane.core.ids import new_id
from controlplane.core.tenancy import TenantOwnedModel


class DataKind(models.TextChoices):
    BODIES = "bodies", "Prompts and responses"
    SPANS = "spans", "Spans and their rollups"
    LEDGER = "ledger", "Usage ledger"
    ALERTS = "alerts", "Security alerts"
    EVIDENCE = "evidence", "Compliance evidence"


class RetentionDefault(models.Model):
    """The MSP's default for one kind of data, from a date on: a tenant without a
    policy of its own for the kind keeps its data this long."""

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    kind = models.CharField(max_length=20, choices=DataKind.choices)
    days = models.PositiveIntegerField()
    effective_from = models.DateField()
    created_at = models.DateTimeField(auto_now_add=True)
    created_by_label = models.CharField(max_length=254)

    AUDIT_FIELDS = ("kind", "days", "effective_from")

    class Meta:
        ordering = ["kind", "-effective_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "effective_from"], name="retentiondefault_one_per_day"
            )
        ]

    def __str__(self) -> str:
        return f"MSP default {self.kind}: {self.days} days from {self.effective_from}"


class RetentionPolicy(TenantOwnedModel):
    """How long one tenant's data of one kind is kept, from a date on. A change is a
    new row: the history says which policy every past run applied."""

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    kind = models.CharField(max_length=20, choices=DataKind.choices)
    days = models.PositiveIntegerField()
    effective_from = models.DateField()
    created_at = models.DateTimeField(auto_now_add=True)
    created_by_label = models.CharField(max_length=254)

    AUDIT_FIELDS = ("kind", "days", "effective_from")

    class Meta:
        ordering = ["kind", "-effective_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "kind", "effective_from"], name="retentionpolicy_one_per_day"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind}: {self.days} days from {self.effective_from}"


class LegalHold(TenantOwnedModel):
    """While active, nothing it covers (the tenant's data, or one agent's) is removed by
    retention or erased by a data-subject request."""

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    agent = models.ForeignKey(
        "agents.Agent", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reason = models.TextField()
    reference = models.CharField(max_length=100, blank=True, help_text="Case or matter number.")
    placed_at = models.DateTimeField()
    placed_by_label = models.CharField(max_length=254)
    released_at = models.DateTimeField(null=True, blank=True)
    released_by_label = models.CharField(max_length=254, blank=True)

    AUDIT_FIELDS = ("agent", "reason", "reference", "placed_at", "released_at")

    class Meta:
        ordering = ["-placed_at"]
        indexes = [models.Index(fields=["tenant", "released_at"], name="legalhold_active")]

    def __str__(self) -> str:
        scope = f"agent {self.agent_id}" if self.agent_id else "whole tenant"
        return f"Legal hold ({scope}): {self.reference or self.reason[:40]}"

    @property
    def active(self) -> bool:
        return self.released_at is None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": str(self.pk),
            "agent_id": str(self.agent_id) if self.agent_id else None,
            "reference": self.reference,
            "placed_at": self.placed_at.isoformat(),
        }


class RetentionRun(TenantOwnedModel):
    """One application of a tenant's retention policy: the evidence of what it removed.

    ``removed`` lists ``{"store", "target", "kind", "how", "rows"}``: per store
    (postgres, clickhouse, edge, evidence), table or edge node, data kind, and whether
    whole partitions, rows or bodies went. ``kept`` says what a legal hold kept.
    """

    class State(models.TextChoices):
        RUNNING = "running"
        COMPLETED = "completed"
        PARTIAL = "partial", "partial (a store failed; the next run retries)"
        HELD = "held", "held (a legal hold on the whole tenant)"

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule"
        MANUAL = "manual"

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    sweep_id = models.UUIDField(help_text="The runs started together, for all tenants at once.")
    trigger = models.CharField(max_length=20, choices=Trigger.choices)
    requested_by_label = models.CharField(max_length=254)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    state = models.CharField(max_length=20, choices=State.choices, default=State.RUNNING)
    policy = models.JSONField(help_text="Per kind: days, source, effective_from.")
    cutoffs = models.JSONField(help_text="Per kind: data from before this time goes.")
    holds = models.JSONField(default=list, help_text="The legal holds in force.")
    steps = models.JSONField(default=dict, help_text="Step name: done, or its error.")
    removed = models.JSONField(default=list)
    kept = models.JSONField(default=list)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["tenant", "-started_at"], name="retentionrun_tenant")]

    def __str__(self) -> str:
        return f"Retention run {self.started_at:%Y-%m-%d %H:%M} ({self.state})"

    @property
    def total_removed(self) -> int:
        return sum(int(item["rows"]) for item in self.removed)


class DataSubjectRequest(TenantOwnedModel):
    """Find, export and erase one person's data across every store (docs/privacy.md).

    The identifiers are kept encrypted only while they are needed: once the request is
    erased they and the export are deleted, so that nothing here finds the person
    either; ``subject_masked`` stays for people to recognise the request.
    """

    class State(models.TextChoices):
        SEARCHING = "searching"
        FOUND = "found", "found (export ready)"
        ERASING = "erasing"
        ERASED = "erased"
        FAILED = "failed"

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    requested_by_label = models.CharField(max_length=254)
    reason = models.TextField(blank=True, help_text="How the request came in.")
    subject_masked = models.CharField(max_length=300)
    identifiers_enc = models.TextField(blank=True)
    state = models.CharField(max_length=20, choices=State.choices, default=State.SEARCHING)
    verified_at = models.DateTimeField(null=True, blank=True)
    verified_by_label = models.CharField(max_length=254, blank=True)
    verification_note = models.TextField(blank=True)
    steps = models.JSONField(default=dict, help_text="Step name: done, or its error.")
    found = models.JSONField(default=dict)
    erased = models.JSONField(default=dict)
    remaining = models.JSONField(default=dict, help_text="What a search after erasing found.")
    export_enc = models.TextField(blank=True)
    export_sha256 = models.CharField(max_length=64, blank=True)
    export_bytes = models.PositiveIntegerField(default=0)
    erase_requested_at = models.DateTimeField(null=True, blank=True)
    erase_requested_by_label = models.CharField(max_length=254, blank=True)
    erase_attempts = models.PositiveSmallIntegerField(default=0)
    completed_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    AUDIT_FIELDS = (
        "subject_masked",
        "state",
        "verified_at",
        "erase_requested_at",
        "completed_at",
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["tenant", "-created_at"], name="dsr_tenant_created")]

    def __str__(self) -> str:
        return f"Data-subject request {self.subject_masked}"

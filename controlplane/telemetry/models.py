"""The usage ledger and the record of reconciliation runs."""

from __future__ import annotations

from typing import Any

from django.db import models

from controlplane.core.ids import new_id
from controlplane.core.tenancy import TenantOwnedModel, TenantScopedManager


class UsageEvent(models.Model):
    """One model call, tool call or step, as the durable ledger keeps it.

    Narrow on purpose: no bodies (they live in ClickHouse; ``content_hash`` ties the two).
    The table is partitioned by month in PostgreSQL (migration 0001, ``partitions.py``),
    which Django cannot express, so the model is unmanaged. The database key is
    ``(event_id, occurred_at)``; ``event_id`` alone is unique by construction.
    """

    event_id = models.UUIDField(primary_key=True)
    occurred_at = models.DateTimeField()
    tenant_id = models.UUIDField()
    department_id = models.UUIDField(null=True)
    agent_id = models.UUIDField()
    device_id = models.UUIDField(null=True)
    site_id = models.UUIDField(null=True)
    edge_node_id = models.UUIDField()
    trace_id = models.CharField(max_length=32)
    span_id = models.CharField(max_length=16)
    parent_span_id = models.CharField(max_length=16)
    kind = models.CharField(max_length=10)
    name = models.CharField(max_length=200)
    provider = models.CharField(max_length=100)
    model = models.CharField(max_length=200)
    tool = models.CharField(max_length=200)
    input_tokens = models.IntegerField()
    output_tokens = models.IntegerField()
    # Parts of input_tokens (cache read, cache write) and output_tokens (reasoning).
    cached_input_tokens = models.IntegerField(default=0)
    cache_write_tokens = models.IntegerField(default=0)
    reasoning_tokens = models.IntegerField(default=0)
    cost = models.DecimalField(max_digits=18, decimal_places=9)
    status = models.CharField(max_length=10)
    latency_ms = models.FloatField()
    content_hash = models.CharField(max_length=64)
    ingested_at = models.DateTimeField()

    objects: TenantScopedManager[Any] = TenantScopedManager()
    unscoped: models.Manager[Any] = models.Manager()

    class Meta:
        managed = False
        db_table = "telemetry_usageevent"
        base_manager_name = "unscoped"

    def __str__(self) -> str:
        return f"{self.kind} {self.event_id}"


class ReconciliationRun(TenantOwnedModel):
    """One comparison of Postgres and ClickHouse for a tenant and hour.

    Processing-integrity evidence: what was compared, what differed, what was repaired.
    """

    class Outcome(models.TextChoices):
        MATCHED = "matched"
        REPAIRED = "repaired"
        MISMATCH = "mismatch"

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    hour = models.DateTimeField()
    ran_at = models.DateTimeField(auto_now_add=True)
    ledger_events = models.BigIntegerField()
    ledger_input_tokens = models.BigIntegerField()
    ledger_output_tokens = models.BigIntegerField()
    analytics_events = models.BigIntegerField()
    analytics_input_tokens = models.BigIntegerField()
    analytics_output_tokens = models.BigIntegerField()
    repaired_events = models.BigIntegerField(default=0)
    outcome = models.CharField(max_length=20, choices=Outcome.choices)

    class Meta:
        ordering = ["-ran_at"]
        indexes = [models.Index(fields=["tenant", "-hour"], name="recon_tenant_hour")]

    def __str__(self) -> str:
        return f"{self.tenant_id} {self.hour:%Y-%m-%d %H:00} {self.outcome}"


class DeadLetter(TenantOwnedModel):
    """A spool record the pull worker could not store, kept with its raw bytes so that
    it can be replayed once the cause is fixed (docs/decisions/0014-poison-records.md).

    A dead letter is in neither store: the rest of its batch went on without it.
    """

    class Store(models.TextChoices):
        RECORD = "record", "unreadable record"
        LEDGER = "ledger", "PostgreSQL ledger"
        ANALYTICS = "analytics", "ClickHouse"

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    edge_node = models.ForeignKey(
        "agents.EdgeNode", on_delete=models.CASCADE, related_name="dead_letters"
    )
    event_id = models.UUIDField(null=True, blank=True)
    raw = models.BinaryField(help_text="The spool record exactly as the edge served it.")
    raw_sha256 = models.CharField(max_length=64)
    store = models.CharField(max_length=20, choices=Store.choices)
    reason = models.TextField()
    batch_after = models.BigIntegerField(help_text="The batch's cursor range at the edge.")
    batch_upto = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    attempts = models.PositiveIntegerField(default=1)
    last_attempt_at = models.DateTimeField()
    replayed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "edge_node", "raw_sha256", "store"],
                name="deadletter_unique_record",
            )
        ]
        indexes = [models.Index(fields=["tenant", "replayed_at"], name="deadletter_open")]

    def __str__(self) -> str:
        return f"{self.store} {self.event_id or self.raw_sha256[:12]}: {self.reason[:60]}"

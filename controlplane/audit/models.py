"""The append-only, hash-chained audit trail: SOC 2 evidence of every change."""

from __future__ import annotations

from typing import Any

from django.db import models

from controlplane.core.ids import new_id
from controlplane.core.tenancy import TenantScopedManager


class AuditEvent(models.Model):
    """One change: who did what to which object, when, from where, before and after.

    ``seq`` numbers the entries without gaps and ``hash`` covers the entry and the
    previous entry's hash, so an edit, a deletion or a reordering is detectable
    (``manage.py verify_audit_log``). A trigger refuses UPDATE, DELETE and TRUNCATE.
    ``tenant`` is empty for MSP-level changes (staff accounts, platform settings).

    Entries with ``payload_sha256`` hash their personal fields (``PERSONAL_FIELDS``)
    through that digest, so erasing a person's data can blank them (``erasure`` says
    by which recorded erasure) and the chain still verifies (decision 0036). Entries
    written before it (no digest) hash the fields themselves and cannot be erased.
    """

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    seq = models.BigIntegerField(unique=True)
    tenant = models.ForeignKey(
        "tenants.Tenant", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    occurred_at = models.DateTimeField()
    actor_kind = models.CharField(max_length=20)
    actor_id = models.UUIDField(null=True, blank=True)
    actor_label = models.CharField(max_length=254)
    ip = models.GenericIPAddressField(null=True, blank=True)
    action = models.CharField(max_length=100)
    target_type = models.CharField(max_length=100)
    target_id = models.CharField(max_length=100)
    target_label = models.CharField(max_length=254, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)
    payload_sha256 = models.CharField(max_length=64, blank=True, default="")
    erasure = models.JSONField(null=True, blank=True)

    objects: TenantScopedManager[Any] = TenantScopedManager()
    unscoped: models.Manager[Any] = models.Manager()

    class Meta:
        base_manager_name = "unscoped"
        ordering = ["-seq"]
        indexes = [
            models.Index(fields=["tenant", "-seq"], name="audit_tenant_seq"),
            models.Index(fields=["target_type", "target_id"], name="audit_target"),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} {self.target_type}:{self.target_id}"

    @property
    def changed_fields(self) -> list[tuple[str, Any, Any]]:
        before = self.before or {}
        after = self.after or {}
        keys = sorted(set(before) | set(after))
        return [(k, before.get(k), after.get(k)) for k in keys if before.get(k) != after.get(k)]


class AuditChainHead(models.Model):
    """The single row holding the last sequence number and hash.

    Writers lock it (SELECT ... FOR UPDATE) so entries chain in commit order; it also
    lets the verifier notice a deleted last entry.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    seq = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64, default="0" * 64)

    def __str__(self) -> str:
        return f"audit head #{self.seq}"

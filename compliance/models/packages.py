"""Evidence packages: a tenant's evidence of one period as a signed ZIP
(compliance.packages). A package is built once by a Celery task and never changed."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from controlplane.core.ids import new_id
from controlplane.core.tenancy import TenantOwnedModel


class EvidencePackage(TenantOwnedModel):
    """One package: requested (``pending``), then ``ready`` with its ZIP, or ``failed``.

    Fields:
    - ``period_start`` / ``period_end``: the evidence period, whole UTC days, inclusive.
    - ``requested_by`` / ``requested_by_label`` / ``requested_at``: who asked, when.
    - ``generated_at``: when the ZIP was made (every member is dated so).
    - ``content``: the ZIP; ``size_bytes`` and ``sha256`` of it.
    - ``manifest_sha256`` / ``key_id``: the signed manifest and the key that signed it.
    - ``file_count`` / ``evidence_count``: members listed in the manifest; evidence
      records included.
    - ``audit_chain_seq`` / ``audit_chain_hash``: the audit trail's head when it was made,
      also inside the package (a copy of the head kept outside the database).
    - ``error``: why a build failed.
    """

    class Status(models.TextChoices):
        PENDING = "pending"
        READY = "ready"
        FAILED = "failed"

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    period_start = models.DateField()
    period_end = models.DateField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    requested_by_label = models.CharField(max_length=254)
    requested_at = models.DateTimeField()
    generated_at = models.DateTimeField(null=True, blank=True)
    content = models.BinaryField(null=True, blank=True)
    size_bytes = models.BigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    manifest_sha256 = models.CharField(max_length=64, blank=True)
    key_id = models.CharField(max_length=64, blank=True)
    file_count = models.PositiveIntegerField(default=0)
    evidence_count = models.PositiveIntegerField(default=0)
    audit_chain_seq = models.BigIntegerField(null=True, blank=True)
    audit_chain_hash = models.CharField(max_length=64, blank=True)
    error = models.TextField(blank=True)

    AUDIT_FIELDS = ("period_start", "period_end", "status", "sha256", "key_id")

    class Meta(TenantOwnedModel.Meta):
        ordering = ["-requested_at", "-id"]
        indexes = [models.Index(fields=["tenant", "-requested_at"], name="evidencepackage_time")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(period_start__lte=models.F("period_end")),
                name="evidencepackage_period_ordered",
            )
        ]

    def __str__(self) -> str:
        return f"Evidence package {self.period_start} to {self.period_end}"

    @property
    def file_name(self) -> str:
        from compliance.periods import Period

        period = Period(self.period_start, self.period_end)
        return f"evidence-{self.tenant.slug}-{period.label}-{str(self.pk)[:8]}.zip"

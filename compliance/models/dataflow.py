"""Versioned evidence: dated, hashed snapshots of a tenant's data-flow diagram."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from controlplane.core.ids import new_id
from controlplane.core.tenancy import TenantOwnedModel


class DataFlowSnapshot(TenantOwnedModel):
    """The diagram of one time range as it was drawn when saved.

    ``svg`` is the exact file a reviewer downloads; ``content_hash`` is the SHA-256 of
    its UTF-8 bytes (compliance.dataflow.content_hash). ``graph`` is the canonical JSON
    it was drawn from. The same diagram is stored once per tenant.
    """

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    since = models.DateTimeField()
    until = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_by_label = models.CharField(max_length=254)
    content_hash = models.CharField(max_length=64)
    graph = models.JSONField()
    svg = models.TextField()

    AUDIT_FIELDS = ("since", "until", "content_hash")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "content_hash"], name="dataflowsnapshot_unique_hash"
            ),
            models.CheckConstraint(
                condition=models.Q(since__lt=models.F("until")),
                name="dataflowsnapshot_since_before_until",
            ),
        ]

    def __str__(self) -> str:
        return f"Data-flow snapshot {self.content_hash[:12]}"

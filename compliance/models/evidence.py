"""Evidence records: immutable, hash-chained per tenant, each with a validity period.

A trigger (migration 0004) refuses UPDATE and TRUNCATE of ``compliance_evidencerecord``
and refuses DELETE unless the transaction set ``controlplane.evidence_disposal`` to
``on`` (the retention job's disposal, which moves the chain's floor in the same
transaction). ``manage.py verify_evidence`` walks each chain and names the first row
that was altered, removed or reordered.
"""

from __future__ import annotations

from typing import Any

from django.db import models

from compliance.models.controls import Control, ControlException, ControlTest, TestRun
from controlplane.core.ids import new_id
from controlplane.core.tenancy import TenantScopedManager

GENESIS_HASH = "0" * 64


class EvidenceRecord(models.Model):
    """What one test found about one tenant (or the MSP) over one period.

    Fields:
    - ``tenant``: whose chain it belongs to; empty for the MSP's own chain.
    - ``seq``: position in that chain, 1, 2, 3, ... without gaps.
    - ``control`` / ``control_test`` / ``test_run``: what produced it.
    - ``control_code`` / ``test_key`` / ``test_version`` / ``catalog_version``: the same,
      as text, so the record stands on its own when the catalog changes.
    - ``recorded_at``: when the test ran.
    - ``period_start`` / ``period_end``: the period of data it covers.
    - ``valid_until``: after this the control shows as stale and its owner is notified.
    - ``result``: ``pass``, ``fail``, ``exception`` (failed, but every failing entity is
      covered by an approved, unexpired ``ControlException``) or ``not_applicable``.
    - ``summary``: one sentence a person reads (``"3 of 12 agent keys are older than 90
      days"``).
    - ``query_text`` / ``query_params``: the exact query (SQL as sent) and its bound
      parameters, so an auditor can re-run it.
    - ``population_count``: how many entities the test examined.
    - ``population``: the examined entities as canonical JSON rows (no secret, no PII
      value: masked samples only), for sampling.
    - ``failing_count`` / ``failing_entities``: the entities that failed, each
      ``{"key", "label", "reason"}``; ``key`` is ``"<type>:<id>"``.
    - ``metrics``: figures the test measured (lag seconds, counts per type, ...).
    - ``data_sha256``: SHA-256 of the canonical JSON of ``population``.
    - ``exception``: the exception that turned a failure into ``exception``.
    - ``format_version``: 1 for records written before personal parts were hashed apart
      (the hash covers ``summary``, ``failing_entities`` and ``metrics`` themselves; they
      cannot be erased), 2 since (decision 0045).
    - ``personal_sha256`` (format 2): SHA-256 of the SHA-256 of each part that may name a
      person (``summary``, ``metrics``, each failing entity, each population row), as
      written (``compliance.evidence.personal_digest``); the hash covers it instead of
      those fields.
    - ``erasure``: empty until a data subject's erasure rewrote parts: ``{"by": audit
      seq, "request": DSR id, "parts": {name: [SHA-256 as written, SHA-256 now]}}``.
    - ``prev_hash`` / ``hash``: the chain; ``hash`` is the SHA-256 of the canonical JSON
      of every field above plus ``prev_hash`` (``compliance.evidence.record_hash``).
    """

    class Result(models.TextChoices):
        PASS = "pass"
        FAIL = "fail"
        EXCEPTION = "exception"
        NOT_APPLICABLE = "not_applicable"

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    tenant = models.ForeignKey(
        "tenants.Tenant", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    seq = models.BigIntegerField()
    control = models.ForeignKey(Control, on_delete=models.PROTECT, related_name="evidence")
    control_test = models.ForeignKey(ControlTest, on_delete=models.PROTECT, related_name="+")
    test_run = models.ForeignKey(
        TestRun, on_delete=models.PROTECT, null=True, blank=True, related_name="evidence"
    )
    control_code = models.CharField(max_length=40)
    test_key = models.CharField(max_length=80)
    test_version = models.PositiveIntegerField()
    catalog_version = models.CharField(max_length=20)
    recorded_at = models.DateTimeField()
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    valid_until = models.DateTimeField()
    result = models.CharField(max_length=20, choices=Result.choices)
    summary = models.TextField()
    query_text = models.TextField()
    query_params = models.JSONField(default=dict)
    population_count = models.PositiveIntegerField()
    population = models.JSONField(default=list)
    failing_count = models.PositiveIntegerField()
    failing_entities = models.JSONField(default=list)
    metrics = models.JSONField(default=dict)
    data_sha256 = models.CharField(max_length=64)
    exception = models.ForeignKey(
        ControlException, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    format_version = models.PositiveSmallIntegerField(default=2)
    personal_sha256 = models.CharField(max_length=64, blank=True, default="")
    erasure = models.JSONField(null=True, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    objects: TenantScopedManager[Any] = TenantScopedManager()
    unscoped: models.Manager[Any] = models.Manager()

    class Meta:
        base_manager_name = "unscoped"
        ordering = ["-recorded_at", "-seq"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "seq"],
                name="evidencerecord_unique_seq",
                nulls_distinct=False,
            ),
            models.CheckConstraint(
                condition=models.Q(period_start__lte=models.F("period_end")),
                name="evidencerecord_period_ordered",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "control", "-recorded_at"], name="evidence_control"),
            models.Index(fields=["tenant", "-recorded_at"], name="evidence_tenant_time"),
            # The latest record of each test: the status of every page (compliance.status).
            models.Index(fields=["tenant", "control_test", "-seq"], name="evidence_latest"),
        ]

    def __str__(self) -> str:
        return f"Evidence #{self.seq} {self.control_code} {self.result}"


class EvidenceChainHead(models.Model):
    """One row per chain (per tenant, and one with no tenant for the MSP): the last
    sequence number and hash, locked by writers so records chain in commit order.

    ``floor_seq`` / ``floor_hash``: the chain starts after this record. Both stay 0 and
    the genesis hash until a retention disposal removes the oldest records; it moves
    the floor to the last removed record in the same transaction.
    """

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    tenant = models.ForeignKey(
        "tenants.Tenant", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    seq = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64, default=GENESIS_HASH)
    floor_seq = models.BigIntegerField(default=0)
    floor_hash = models.CharField(max_length=64, default=GENESIS_HASH)

    objects: TenantScopedManager[Any] = TenantScopedManager()
    unscoped: models.Manager[Any] = models.Manager()

    class Meta:
        base_manager_name = "unscoped"
        constraints = [
            models.UniqueConstraint(
                fields=["tenant"], name="evidencechainhead_one_per_tenant", nulls_distinct=False
            )
        ]

    def __str__(self) -> str:
        return f"evidence head #{self.seq}"


class EvidenceStaleNotice(models.Model):
    """That a control's owner was emailed about its stale evidence: one per evidence
    record that lapsed without a newer one (the deduplication key).

    Fields: ``tenant`` (empty for the MSP chain), ``evidence`` (the lapsed record),
    ``control``, ``recipient``, ``notified_at``.
    """

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    tenant = models.ForeignKey(
        "tenants.Tenant", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    evidence = models.OneToOneField(EvidenceRecord, on_delete=models.CASCADE, related_name="+")
    control = models.ForeignKey(Control, on_delete=models.PROTECT, related_name="+")
    recipient = models.EmailField()
    notified_at = models.DateTimeField()

    objects: TenantScopedManager[Any] = TenantScopedManager()
    unscoped: models.Manager[Any] = models.Manager()

    class Meta:
        base_manager_name = "unscoped"
        ordering = ["-notified_at"]

    def __str__(self) -> str:
        return f"Stale notice for evidence {self.evidence_id}"

"""The control catalog, its automated tests, the runs of those tests, exceptions and
access reviews.

``Control`` and ``ControlTest`` are the MSP's catalog (loaded from
``compliance/catalog/tsc2017.yaml`` by ``compliance.catalog.catalog_sync``), shared by
every tenant. Runs, exceptions and access reviews belong to one tenant, or to the MSP
itself when ``tenant`` is empty (MSP-wide rows are visible to staff only: row-level
security lets a tenant see only rows carrying its own id).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models

from controlplane.core.ids import new_id
from controlplane.core.tenancy import TenantScopedManager


class Category(models.TextChoices):
    """The five trust service categories: one criterion page each."""

    SECURITY = "security", "Security"
    AVAILABILITY = "availability", "Availability"
    PROCESSING_INTEGRITY = "processing_integrity", "Processing integrity"
    CONFIDENTIALITY = "confidentiality", "Confidentiality"
    PRIVACY = "privacy", "Privacy"


class Scope(models.TextChoices):
    """Whose data a test reads: one tenant's (run once per tenant) or the MSP's own."""

    TENANT = "tenant"
    MSP = "msp"


class Control(models.Model):
    """One control of the catalog, mapped to a 2017 Trust Services Criterion.

    Fields:
    - ``code``: stable identifier from the catalog, e.g. ``CC6.1-MFA``.
    - ``criterion``: the TSC 2017 criterion it supports, e.g. ``CC6.1``.
    - ``family``: the criterion's family (CC6, CC7, CC8, A1, PI1, C1, P).
    - ``category``: which of the five criterion pages shows it.
    - ``title`` / ``description``: what the control asserts, in plain words.
    - ``owner_email``: who is emailed when its evidence goes stale.
    - ``validity_days``: how long a piece of its evidence stays current.
    - ``catalog_version``: version of the catalog file that last defined it.
    - ``links``: the pages that support it (``traces``, ``alerts``, ``audit``,
      ``dataflow``, ...), names the views turn into URLs.
    - ``active``: false once the catalog no longer lists it (rows are never deleted:
      evidence points at them).
    """

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    code = models.CharField(max_length=40, unique=True)
    criterion = models.CharField(max_length=20)
    family = models.CharField(max_length=10)
    category = models.CharField(max_length=30, choices=Category.choices)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    owner_email = models.EmailField()
    validity_days = models.PositiveSmallIntegerField(default=7)
    catalog_version = models.CharField(max_length=20)
    links = models.JSONField(default=list, blank=True)
    active = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.title}"


class ControlTest(models.Model):
    """One automated test of a control: a function of the registry in
    ``compliance/checks/`` run over our own data.

    Fields:
    - ``control``: the control it tests (a control has one or more tests).
    - ``key``: the registry name of the test function, e.g. ``cc6.staff_mfa``.
    - ``title``: what it checks.
    - ``version``: the function's version; bumped whenever its logic or query changes,
      and copied onto every evidence record.
    - ``scope``: ``tenant`` (run per tenant, evidence in the tenant's chain) or ``msp``
      (run once, evidence in the MSP's chain).
    - ``period_days``: how far back each run looks (the period its evidence covers).
    - ``active``: false once the catalog no longer lists it.
    """

    __test__ = False  # not a pytest class

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    control = models.ForeignKey(Control, on_delete=models.PROTECT, related_name="tests")
    key = models.CharField(max_length=80)
    title = models.CharField(max_length=200)
    version = models.PositiveIntegerField(default=1)
    scope = models.CharField(max_length=10, choices=Scope.choices, default=Scope.TENANT)
    period_days = models.PositiveSmallIntegerField(default=7)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["control__code", "key"]
        constraints = [
            models.UniqueConstraint(fields=["control", "key"], name="controltest_unique_key")
        ]

    def __str__(self) -> str:
        return f"{self.key} v{self.version}"


class TestRun(models.Model):
    """One run of the catalog's tests, on a schedule or on demand.

    Fields:
    - ``tenant``: the tenant whose tests ran; empty for an MSP-wide run (every tenant's
      tests and the MSP's own).
    - ``control``: when set, only this control's tests ran.
    - ``trigger``: ``schedule``, ``console``, ``api`` or ``demo``.
    - ``requested_by`` / ``requested_by_label``: who asked (empty for the schedule).
    - ``status``: ``queued`` → ``running`` → ``done`` (or ``failed`` with ``error``).
    - ``requested_at`` / ``started_at`` / ``finished_at``: when.
    - ``evidence_count`` / ``failed_count``: evidence records written, and how many of
      them are ``fail``.
    """

    __test__ = False  # not a pytest class

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule"
        CONSOLE = "console"
        API = "api"
        DEMO = "demo"

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    tenant = models.ForeignKey(
        "tenants.Tenant", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    control = models.ForeignKey(
        Control, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    trigger = models.CharField(max_length=10, choices=Trigger.choices)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    requested_by_label = models.CharField(max_length=254, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    requested_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    evidence_count = models.PositiveIntegerField(default=0)
    failed_count = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    objects: TenantScopedManager[Any] = TenantScopedManager()
    unscoped: models.Manager[Any] = models.Manager()

    class Meta:
        base_manager_name = "unscoped"
        ordering = ["-requested_at", "-id"]
        indexes = [models.Index(fields=["tenant", "-requested_at"], name="testrun_tenant_time")]

    def __str__(self) -> str:
        return f"Test run {self.requested_at:%Y-%m-%d %H:%M} {self.status}"


class ControlException(models.Model):
    """An accepted deviation: a control (or one failing entity of it) that may fail
    until ``expires_at``, with a justification and an approver other than the requester
    (a database constraint). While approved and unexpired, a failing result it covers is
    recorded as ``exception`` instead of ``fail``.

    Fields:
    - ``tenant``: the tenant it applies to; empty for an MSP-wide control.
    - ``control``: the control excepted.
    - ``entity``: the failing entity's key as the evidence names it (``failing_entities``
      ``key``), or empty for the whole control.
    - ``justification``: why the deviation is acceptable, and the compensating control.
    - ``status``: ``pending`` → ``approved`` or ``rejected``.
    - ``requested_by`` / ``requested_by_label`` / ``requested_at``: who asked, when.
    - ``decided_by`` / ``decided_by_label`` / ``decided_at``: who approved or rejected.
    - ``decision_note``: the approver's remark.
    - ``expires_at``: the end of the exception.
    """

    class Status(models.TextChoices):
        PENDING = "pending"
        APPROVED = "approved"
        REJECTED = "rejected"

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    tenant = models.ForeignKey(
        "tenants.Tenant", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    control = models.ForeignKey(Control, on_delete=models.PROTECT, related_name="exceptions")
    entity = models.CharField(max_length=200, blank=True)
    justification = models.TextField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    requested_by_label = models.CharField(max_length=254)
    requested_at = models.DateTimeField()
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    decided_by_label = models.CharField(max_length=254, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True)
    expires_at = models.DateTimeField()

    AUDIT_FIELDS = ("control", "entity", "justification", "status", "expires_at", "decided_by")

    objects: TenantScopedManager[Any] = TenantScopedManager()
    unscoped: models.Manager[Any] = models.Manager()

    class Meta:
        base_manager_name = "unscoped"
        ordering = ["-requested_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(decided_by=models.F("requested_by")),
                name="controlexception_approver_not_requester",
            ),
            models.CheckConstraint(
                condition=models.Q(expires_at__gt=models.F("requested_at")),
                name="controlexception_expires_after_request",
            ),
        ]

    def __str__(self) -> str:
        return f"Exception to {self.control_id} ({self.status})"


class AccessReview(models.Model):
    """A periodic review of who has access and in which role (CC6.2, CC6.3).

    Fields:
    - ``tenant``: the tenant whose memberships were reviewed; empty for a review of the
      MSP's staff accounts.
    - ``reviewer`` / ``reviewer_label``: who reviewed.
    - ``reviewed_at``: when.
    - ``entries``: one ``{"user_id", "email", "role", "decision"}`` per person reviewed;
      ``decision`` is ``keep``, ``change`` or ``remove``.
    - ``note``: the reviewer's remarks.
    """

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    tenant = models.ForeignKey(
        "tenants.Tenant", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    reviewer_label = models.CharField(max_length=254)
    reviewed_at = models.DateTimeField()
    entries = models.JSONField(default=list)
    note = models.TextField(blank=True)

    AUDIT_FIELDS = ("reviewed_at", "note")

    objects: TenantScopedManager[Any] = TenantScopedManager()
    unscoped: models.Manager[Any] = models.Manager()

    class Meta:
        base_manager_name = "unscoped"
        ordering = ["-reviewed_at", "-id"]

    def __str__(self) -> str:
        return f"Access review {self.reviewed_at:%Y-%m-%d}"

"""Tenants (the MSP's customers), their departments, and who belongs to them."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models

from controlplane.core.ids import new_id
from controlplane.core.tenancy import TenantOwnedModel

slug_validator = RegexValidator(
    r"^[a-z0-9](?:[a-z0-9-]{0,48}[a-z0-9])?$",
    "Use 1-50 lowercase letters, digits and hyphens, not starting or ending with a hyphen.",
)


class Tenant(models.Model):
    """A customer of the MSP. The root of tenancy, so not itself tenant-scoped."""

    class Status(models.TextChoices):
        ACTIVE = "active"
        SUSPENDED = "suspended"

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    slug = models.CharField(max_length=50, unique=True, validators=[slug_validator])
    name = models.CharField(max_length=200)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    mfa_required = models.BooleanField(
        default=False, help_text="Require every person of this tenant to use two-factor sign-in."
    )
    retention_days = models.PositiveIntegerField(
        default=395, help_text="How long telemetry of this tenant is kept."
    )
    body_residency = models.BooleanField(
        default=False,
        help_text="Prompts and responses stay at the tenant's edge nodes: the control plane "
        "keeps their SHA-256 only and reads them from the edge when a person opens a trace.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    AUDIT_FIELDS = ("slug", "name", "status", "mfa_required", "retention_days", "body_residency")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Department(TenantOwnedModel):
    """A cost centre inside a tenant: usage and invoices are attributed to it."""

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    name = models.CharField(max_length=200)
    code = models.CharField(max_length=50, blank=True, help_text="Cost-centre code for invoices.")
    created_at = models.DateTimeField(auto_now_add=True)

    AUDIT_FIELDS = ("name", "code")

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="department_unique_name"),
        ]

    def __str__(self) -> str:
        return self.name


class TenantRole(models.TextChoices):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"
    BILLING = "billing"
    VIEWER = "viewer"


class Membership(TenantOwnedModel):
    """A customer user's place in their tenant. A customer user has exactly one."""

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="membership"
    )
    role = models.CharField(max_length=20, choices=TenantRole.choices)
    departments = models.ManyToManyField(
        Department, blank=True, help_text="Empty means every department of the tenant."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    AUDIT_FIELDS = ("role",)

    class Meta:
        ordering = ["user__email"]

    def __str__(self) -> str:
        return f"{self.user_id} ({self.role})"


class Invitation(TenantOwnedModel):
    """An emailed link that lets a new person join a tenant with a role."""

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    email = models.EmailField()
    role = models.CharField(max_length=20, choices=TenantRole.choices)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    AUDIT_FIELDS = ("email", "role", "expires_at", "accepted_at", "revoked_at")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.email} ({self.role})"

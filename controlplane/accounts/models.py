"""People who sign in: MSP staff and customer users, and their second factors."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.db import models
from django.utils import timezone

from controlplane.core.ids import new_id
from controlplane.core.tenancy import TenantOwnedModel


class StaffRole(models.TextChoices):
    ADMIN = "admin"
    OPERATOR = "operator"
    AUDITOR = "auditor"


class UserManager(BaseUserManager["User"]):
    def get_by_natural_key(self, username: str | None) -> User:
        return self.get(email__iexact=username)

    def create_user(self, email: str, password: str | None = None, **fields: Any) -> User:
        user = self.model(email=self.normalize_email(email).lower(), **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user


class User(AbstractBaseUser):
    """A person. Identity is global (one email, one account); a customer user's tenant
    and role live in ``tenants.Membership``, which is tenant-scoped."""

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    email = models.EmailField(unique=True)
    full_name = models.CharField(max_length=200, blank=True)
    staff_role = models.CharField(
        max_length=20, choices=StaffRole.choices, blank=True, help_text="Empty for customer users."
    )
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(auto_now_add=True)

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []
    AUDIT_FIELDS = ("email", "full_name", "staff_role", "is_active")

    objects = UserManager()

    class Meta:
        ordering = ["email"]

    def __str__(self) -> str:
        return self.email

    @property
    def is_msp_staff(self) -> bool:
        return bool(self.staff_role)

    @property
    def display_name(self) -> str:
        return self.full_name or self.email

    @property
    def is_external_auditor(self) -> bool:
        """An outside auditor's account (``AuditorAccount``): neither staff nor member."""
        try:
            self.auditor_account  # noqa: B018 (the lookup is the question)
        except AuditorAccount.DoesNotExist:
            return False
        return True


class TOTPDevice(models.Model):
    """A user's authenticator app. The secret is stored encrypted with the key ring."""

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="totp_device")
    encrypted_secret = models.TextField()
    confirmed_at = models.DateTimeField(null=True, blank=True)
    last_used_step = models.BigIntegerField(
        default=0, help_text="The last accepted 30-second step; a code is never accepted twice."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"TOTP for {self.user_id}"


class RecoveryCode(models.Model):
    """Single-use codes for when the authenticator is lost. Stored hashed."""

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="recovery_codes")
    code_hash = models.CharField(max_length=64)
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"recovery code of {self.user_id}"


class AuditorAccount(models.Model):
    """An outside auditor's time-boxed, read-only access to some tenants' evidence of one
    period (docs/decisions/0037-auditor-access-and-evidence-packages.md).

    Not the ``auditor`` staff role: that is the MSP's own read-only staff, across every
    tenant, with no end. This account sees only the tenants its ``grants`` name, only data of
    ``period_start`` to ``period_end`` (whole UTC days, inclusive), and only until
    ``expires_at`` (or ``revoked_at``): after that its owner cannot sign in and their
    sessions end at the next request.
    """

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="auditor_account")
    organization = models.CharField(max_length=200, blank=True)
    period_start = models.DateField()
    period_end = models.DateField()
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_by_label = models.CharField(max_length=254)

    AUDIT_FIELDS = ("organization", "period_start", "period_end", "expires_at", "revoked_at")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(period_start__lte=models.F("period_end")),
                name="auditoraccount_period_ordered",
            )
        ]

    def __str__(self) -> str:
        return f"Auditor {self.user_id}"

    def is_current(self, now: dt.datetime | None = None) -> bool:
        """Whether its owner may still sign in and read."""
        return self.revoked_at is None and (now or timezone.now()) < self.expires_at


class AuditorTenant(TenantOwnedModel):
    """One tenant an auditor account may see (row-level security like any tenant row)."""

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    account = models.ForeignKey(AuditorAccount, on_delete=models.CASCADE, related_name="grants")

    class Meta(TenantOwnedModel.Meta):
        constraints = [
            models.UniqueConstraint(fields=["account", "tenant"], name="auditortenant_unique")
        ]

    def __str__(self) -> str:
        return f"{self.account_id} sees {self.tenant_id}"

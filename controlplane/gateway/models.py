"""What the routing gateway at the edges runs with (docs/gateway.md).

- ``Provider`` and ``Route`` are MSP-wide (tenant empty) or a tenant's own
  (``SharedOrTenantModel``, gateway/tenancy.py). ``ProviderCredential`` follows its
  provider's tenant but is *not* readable from other tenants' scopes: an MSP-wide
  credential is read only under ``all_tenants_context``.
- ``Policy`` (one per tenant) and ``RoleDefault`` (per tenant and agent role) are merged
  with each agent's own fields into the profile the edge enforces.
- ``Budget`` is a hard or soft limit per agent, department or tenant and per day or
  month (UTC). ``BudgetAllowance`` is the part of a budget's period one edge node may
  spend: the allocation rule keeps ``Σ allowances ≤ limit`` (services.allowance_top_up).
- ``ConfigChange`` is one published bundle version of a site, with its diff.

Prices are the billing catalog (billing.ModelPrice), keyed by provider *name*.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils import timezone

from controlplane.core.ids import new_id
from controlplane.core.tenancy import TenantOwnedModel, TenantScopedManager
from controlplane.gateway.tenancy import SharedOrTenantModel
from controlplane.gateway.validators import (
    NAME_RE,
    validate_names,
    validate_operating_window,
    validate_tool_data_classes,
)

MONEY_DIGITS, MONEY_PLACES = 18, 6
MONEY_QUANTUM = Decimal("0.000001")


class Tier(models.TextChoices):
    SIMPLE = "simple"
    STANDARD = "standard"
    COMPLEX = "complex"


ANY = "*"
ROUTE_TIERS = [*Tier.choices, (ANY, "any tier")]
AUTO = "auto"
# What an agent or a role asks for: a route's tier, or ``auto``, which the edge turns into
# one of them request by request from the request's own features (docs/decisions/0023).
DEFAULT_TIERS = [*Tier.choices, (AUTO, "Auto (scored per request)")]


class ScopeEnforcement(models.TextChoices):
    FLAG = "flag"
    REFUSE = "refuse"


class Provider(SharedOrTenantModel):
    """A model endpoint: OpenAI-compatible (OpenAI, Azure OpenAI v1, vLLM, Ollama, …) or
    Anthropic. ``name`` is also the provider in the price catalog and in the ledger."""

    class Kind(models.TextChoices):
        OPENAI = "openai", "OpenAI-compatible"
        ANTHROPIC = "anthropic", "Anthropic"

    class Health(models.TextChoices):
        UNKNOWN = "unknown"
        HEALTHY = "healthy"
        DEGRADED = "degraded"
        DOWN = "down"

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    name = models.CharField(
        max_length=100,
        unique=True,
        validators=[RegexValidator(NAME_RE, "Use lowercase letters, digits, '.', '_', '-'.")],
        help_text="Catalog name: prices and usage records name the provider by it.",
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    base_url = models.URLField(max_length=500)
    model_names = ArrayField(
        models.CharField(max_length=200),
        default=list,
        blank=True,
        validators=[validate_names],
        help_text="Models this endpoint serves; empty: any name a route gives it.",
    )
    enabled = models.BooleanField(default=True)
    on_premises = models.BooleanField(
        default=False,
        help_text="Set by MSP staff only: the tenant's endpoint runs in a private network, "
        "so its base URL may be a private or loopback address (edge/outbound.py).",
    )
    # Health as last reported (optional; the edges also keep their own circuit breakers).
    health = models.CharField(max_length=20, choices=Health.choices, default=Health.UNKNOWN)
    health_checked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    AUDIT_FIELDS = ("tenant", "name", "kind", "base_url", "model_names", "enabled", "on_premises")
    UPDATABLE = ("kind", "base_url", "model_names", "enabled", "on_premises")

    @property
    def allow_private(self) -> bool:
        """The MSP's own providers and those staff marked on-premises may use private
        and loopback addresses; no provider may use link-local or metadata ones."""
        return self.tenant_id is None or self.on_premises

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ProviderCredential(models.Model):
    """A provider's API key, encrypted with the field key ring (``<key id>$<token>``).

    The plaintext is accepted once (services.credential_set / credential_rotate) and
    never returned; only ``last4`` is for display. ``tenant`` mirrors the provider's.
    """

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    tenant = models.ForeignKey(
        "tenants.Tenant", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    provider = models.OneToOneField(Provider, on_delete=models.CASCADE, related_name="credential")
    encrypted_secret = models.TextField()
    key_id = models.CharField(max_length=50, help_text="Field key that encrypts the secret.")
    last4 = models.CharField(max_length=4)
    version = models.PositiveIntegerField(default=1, help_text="Raised at every rotation.")
    created_at = models.DateTimeField(auto_now_add=True)
    rotated_at = models.DateTimeField(null=True, blank=True)

    # Tenant rows in tenant scope; MSP-wide (NULL) rows only under all_tenants_context.
    objects: TenantScopedManager[Any] = TenantScopedManager()
    unscoped: models.Manager[Any] = models.Manager()

    AUDIT_FIELDS = ("provider", "key_id", "last4", "version", "rotated_at")

    class Meta:
        base_manager_name = "unscoped"

    def __str__(self) -> str:
        return f"{self.provider_id} …{self.last4}"

    @property
    def secret_set_at(self) -> dt.datetime:
        return self.rotated_at or self.created_at

    def age(self, now: dt.datetime | None = None) -> dt.timedelta:
        """How long the current secret has been in use (rotation status)."""
        return (now or timezone.now()) - self.secret_set_at


class Policy(TenantOwnedModel):
    """A tenant's content rules, enforced by every edge that serves its agents."""

    class Injection(models.TextChoices):
        BLOCK = "block"
        FLAG = "flag"
        OFF = "off"

    class Pii(models.TextChoices):
        OFF = "off"
        FLAG = "flag"
        REDACT = "redact"
        BLOCK = "block"

    class InjectionStage(models.TextChoices):
        RULES = "rules"
        RULES_AND_CLASSIFIER = "rules_and_classifier"

    PII_TYPES = (
        "email",
        "phone",
        "card",
        "iban",
        "national_id",
        "ip_address",
        "mac_address",
        "secret",
    )

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    injection = models.CharField(max_length=10, choices=Injection.choices, default="block")
    injection_stage = models.CharField(
        max_length=30,
        choices=InjectionStage.choices,
        default="rules",
        help_text="Rules only, or rules and the learned classifier for what they leave open.",
    )
    pii = models.CharField(max_length=10, choices=Pii.choices, default="flag")
    pii_types = ArrayField(
        models.CharField(max_length=30, choices=[(t, t) for t in PII_TYPES]),
        default=list,
        blank=True,
        help_text="Empty: every type the edge detects.",
    )
    tool_data_classes = models.JSONField(
        default=dict,
        blank=True,
        validators=[validate_tool_data_classes],
        help_text='Which data classes each tool touches, e.g. {"ledger.query": ["finance"]}.',
    )
    cache_ttl_seconds = models.PositiveIntegerField(
        default=0,
        validators=[MaxValueValidator(7 * 86400)],
        help_text="Edges answer an identical request again from their cache for this long "
        "(seconds); 0: no cache.",
    )
    auto_simple_max = models.FloatField(
        default=0.3,
        validators=[MinValueValidator(0), MaxValueValidator(1)],
        help_text="Auto tier: a complexity score below this goes to the simple tier.",
    )
    auto_complex_min = models.FloatField(
        default=0.5,
        validators=[MinValueValidator(0), MaxValueValidator(1)],
        help_text="Auto tier: a complexity score from this on goes to the complex tier.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    max_requests_per_minute = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Request-rate ceiling of every agent whose role and own settings set none "
        "(edge/gateway/ratelimit.py); empty: none.",
    )
    scope_enforcement = models.CharField(
        max_length=10,
        choices=ScopeEnforcement.choices,
        default=ScopeEnforcement.FLAG,
        help_text="What an edge does with a model call outside an agent's learned scope or "
        "over its learned ceilings (edge/watch.py): flag it (served, alerted) or refuse it.",
    )

    AUDIT_FIELDS = (
        "injection",
        "injection_stage",
        "pii",
        "pii_types",
        "tool_data_classes",
        "cache_ttl_seconds",
        "auto_simple_max",
        "auto_complex_min",
        "max_requests_per_minute",
        "scope_enforcement",
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant"], name="policy_one_per_tenant")]

    def __str__(self) -> str:
        return f"policy of {self.tenant_id}"

    def clean(self) -> None:
        if self.auto_simple_max > self.auto_complex_min:
            raise ValidationError(
                {"auto_simple_max": "The simple threshold must not exceed the complex one."}
            )


class RoleDefault(TenantOwnedModel):
    """What agents of one role may do unless the agent itself says otherwise."""

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    role = models.CharField(max_length=50)
    allowed_models = ArrayField(
        models.CharField(max_length=200), default=list, blank=True, validators=[validate_names]
    )
    allowed_tools = ArrayField(
        models.CharField(max_length=100), default=list, blank=True, validators=[validate_names]
    )
    data_classes = ArrayField(
        models.CharField(max_length=50), default=list, blank=True, validators=[validate_names]
    )
    tier = models.CharField(max_length=20, choices=DEFAULT_TIERS, default=Tier.STANDARD)
    operating_window = models.JSONField(
        default=dict, blank=True, validators=[validate_operating_window]
    )
    max_requests_per_minute = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Request-rate ceiling of agents with this role that set none; empty: the "
        "tenant's policy.",
    )
    scope_enforcement = models.CharField(
        max_length=10,
        choices=ScopeEnforcement.choices,
        blank=True,
        help_text="Flag or refuse what is outside the learned scope, for agents of this role; "
        "empty: the tenant's policy.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    AUDIT_FIELDS = (
        "role",
        "allowed_models",
        "allowed_tools",
        "data_classes",
        "tier",
        "operating_window",
        "max_requests_per_minute",
        "scope_enforcement",
    )
    UPDATABLE = AUDIT_FIELDS[1:]

    class Meta:
        ordering = ["role"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "role"], name="roledefault_unique_role")
        ]

    def __str__(self) -> str:
        return f"{self.role} defaults"


class Route(SharedOrTenantModel):
    """Which providers and models serve a tier (and a model name, or any).

    ``candidates``: ``[{"provider_id": uuid, "model": name or "*", "weight": n}]``; a
    tenant's route may use MSP-wide providers and its own, an MSP route only MSP-wide
    ones.
    """

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    name = models.CharField(max_length=200)
    tier = models.CharField(max_length=20, choices=ROUTE_TIERS, default=ANY)
    model = models.CharField(max_length=200, default=ANY, help_text="A model name or '*'.")
    candidates = models.JSONField(default=list)
    max_attempts = models.PositiveSmallIntegerField(
        default=2, validators=[MinValueValidator(1), MaxValueValidator(10)]
    )
    timeout_seconds = models.PositiveIntegerField(
        default=30, validators=[MinValueValidator(1), MaxValueValidator(600)]
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    AUDIT_FIELDS = (
        "tenant",
        "name",
        "tier",
        "model",
        "candidates",
        "max_attempts",
        "timeout_seconds",
    )
    UPDATABLE = AUDIT_FIELDS[1:]

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "tier", "model"],
                name="route_unique_match",
                nulls_distinct=False,
            )
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        super().clean()
        if not isinstance(self.candidates, list) or not self.candidates:
            raise ValidationError({"candidates": "List at least one candidate."})
        ids = []
        for index, candidate in enumerate(self.candidates):
            where = f"candidate {index + 1}"
            if not isinstance(candidate, dict) or set(candidate) - {
                "provider_id",
                "model",
                "weight",
            }:
                raise ValidationError({"candidates": f"{where}: provider_id, model, weight."})
            weight = candidate.get("weight", 1)
            if isinstance(weight, bool) or not isinstance(weight, int | float) or weight < 0:
                raise ValidationError({"candidates": f"{where}: weight must be >= 0."})
            model = candidate.get("model", ANY)
            if not isinstance(model, str) or not model:
                raise ValidationError({"candidates": f"{where}: model must be a name or '*'."})
            ids.append(str(candidate.get("provider_id", "")))
        providers = {str(p.pk): p for p in Provider.objects.filter(pk__in=_uuids(ids))}
        for index, (candidate, provider_id) in enumerate(zip(self.candidates, ids, strict=True)):
            where = f"candidate {index + 1}"
            provider = providers.get(provider_id)
            if provider is None:
                raise ValidationError({"candidates": f"{where}: no such provider."})
            if provider.tenant_id is not None and provider.tenant_id != self.tenant_id:
                raise ValidationError(
                    {"candidates": f"{where}: {provider.name} belongs to another tenant."}
                )
            model = candidate.get("model", ANY)
            if model != ANY and provider.model_names and model not in provider.model_names:
                raise ValidationError(
                    {"candidates": f"{where}: {provider.name} does not serve {model}."}
                )
        if all(c.get("weight", 1) == 0 for c in self.candidates):
            raise ValidationError({"candidates": "At least one candidate needs a weight > 0."})


def _uuids(values: list[str]) -> list[str]:
    result = []
    for value in values:
        try:
            result.append(str(uuid.UUID(value)))
        except ValueError:
            continue
    return result


class Budget(TenantOwnedModel):
    """A spending limit per day or month (UTC) of an agent, a department or the tenant.

    Hard: the edges refuse requests past it (through allowances, never exceeding it).
    Soft: crossing it raises an alert and nothing is refused.
    """

    class Scope(models.TextChoices):
        AGENT = "agent"
        DEPARTMENT = "department"
        TENANT = "tenant"

    class Period(models.TextChoices):
        DAY = "day"
        MONTH = "month"

    class Kind(models.TextChoices):
        HARD = "hard"
        SOFT = "soft"

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    name = models.CharField(max_length=200, blank=True)
    scope = models.CharField(max_length=20, choices=Scope.choices)
    scope_id = models.UUIDField(help_text="The agent, department or tenant the limit is of.")
    period = models.CharField(max_length=10, choices=Period.choices)
    limit = models.DecimalField(
        max_digits=MONEY_DIGITS,
        decimal_places=MONEY_PLACES,
        validators=[MinValueValidator(Decimal(0))],
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    AUDIT_FIELDS = ("name", "scope", "scope_id", "period", "limit", "kind")
    UPDATABLE = ("name", "limit")

    class Meta:
        ordering = ["scope", "period", "kind"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "scope", "scope_id", "period", "kind"], name="budget_unique"
            ),
            models.CheckConstraint(condition=models.Q(limit__gte=0), name="budget_not_negative"),
        ]

    def __str__(self) -> str:
        label = self.name or f"{self.scope} {self.scope_id}"
        return f"{label}: {self.kind} {self.limit}/{self.period}"


class BudgetAllowance(TenantOwnedModel):
    """How much of one budget period one edge node may have spent in total.

    Only grows within a period, and only out of ``limit - Σ allowances`` under a lock on
    the budget row. For a soft budget the row only marks the period for the edge (the
    edge gets the limit itself) and ``allowance`` stays 0.
    """

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    budget = models.ForeignKey(Budget, on_delete=models.CASCADE, related_name="allowances")
    # RESTRICT: an edge's allowance (and so what it may have spent) must not vanish while
    # its budget lives; deleting the whole tenant still cascades.
    edge_node = models.ForeignKey("agents.EdgeNode", on_delete=models.RESTRICT, related_name="+")
    period_start = models.DateTimeField()
    allowance = models.DecimalField(
        max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES, default=Decimal(0)
    )
    updated_at = models.DateTimeField(auto_now=True)

    AUDIT_FIELDS = ("budget", "edge_node", "period_start", "allowance")

    class Meta:
        ordering = ["period_start"]
        constraints = [
            models.UniqueConstraint(
                fields=["budget", "edge_node", "period_start"], name="allowance_unique"
            ),
            models.CheckConstraint(
                condition=models.Q(allowance__gte=0), name="allowance_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.allowance} of {self.budget_id} for {self.edge_node_id}"


class ConfigChange(TenantOwnedModel):
    """One bundle version of a site as published to its edge nodes.

    ``content`` is the node-independent payload (no secrets: provider keys appear as
    credential id and version only); ``diff`` compares it with the previous published
    version; ``payload_sha256`` is the SHA-256 of its canonical JSON.
    """

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    site = models.ForeignKey("agents.Site", on_delete=models.CASCADE, related_name="+")
    version = models.BigIntegerField()
    previous_version = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    actor_kind = models.CharField(max_length=20)
    actor_label = models.CharField(max_length=254)
    summary = models.TextField()
    diff = models.JSONField(default=dict)
    content = models.JSONField(default=dict)
    payload_sha256 = models.CharField(max_length=64)

    AUDIT_FIELDS = ("site", "version", "previous_version", "summary", "payload_sha256")

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["site", "version"], name="configchange_unique")
        ]

    def __str__(self) -> str:
        return f"site {self.site_id} v{self.version}"

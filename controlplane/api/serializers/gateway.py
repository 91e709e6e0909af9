"""Providers and their credentials, routes, the policy, role defaults, budgets and the
published config versions (the gateway's control plane, docs/gateway.md)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from controlplane.api.serializers.common import (
    EXAMPLE_SITE_ID,
    EXAMPLE_TIME,
    request_example,
    response_example,
)
from controlplane.gateway.models import (
    ANY,
    DEFAULT_TIERS,
    MONEY_DIGITS,
    MONEY_PLACES,
    ROUTE_TIERS,
    Budget,
    ConfigChange,
    Policy,
    Provider,
    RoleDefault,
    Route,
    ScopeEnforcement,
)
from controlplane.gateway.selectors import CredentialInfo

EXAMPLE_PROVIDER_ID = "0193f0a2-6c1e-7b3a-9f10-2b7c1d5e8a10"
EXAMPLE_ROUTE_ID = "0193f0a2-6c1e-7b3a-9f10-2b7c1d5e8a11"
EXAMPLE_BUDGET_ID = "0193f0a2-6c1e-7b3a-9f10-2b7c1d5e8a12"
EXAMPLE_CHANGE_ID = "0193f0a2-6c1e-7b3a-9f10-2b7c1d5e8a13"
EXAMPLE_ROLE_DEFAULT_ID = "0193f0a2-6c1e-7b3a-9f10-2b7c1d5e8a14"


def _names(max_length: int, **kwargs: Any) -> serializers.ListField:
    return serializers.ListField(
        child=serializers.CharField(max_length=max_length), max_length=200, **kwargs
    )


# --- providers and credentials ---------------------------------------------------------------

CREDENTIAL_EXAMPLE = {
    "provider": EXAMPLE_PROVIDER_ID,
    "key_id": "k2026",
    "last4": "x9Qa",
    "version": 2,
    "created_at": EXAMPLE_TIME,
    "rotated_at": EXAMPLE_TIME,
    "age_seconds": 86400,
}


@extend_schema_serializer(examples=[response_example(CREDENTIAL_EXAMPLE)])
class CredentialSerializer(serializers.Serializer):
    """What may be shown of a provider's API key: never the key itself."""

    provider = serializers.UUIDField(source="provider_id", read_only=True)
    key_id = serializers.CharField(read_only=True, help_text="The field key encrypting it.")
    last4 = serializers.CharField(read_only=True, help_text="The key's last four characters.")
    version = serializers.IntegerField(read_only=True, help_text="Raised at every rotation.")
    created_at = serializers.DateTimeField(read_only=True)
    rotated_at = serializers.DateTimeField(read_only=True, allow_null=True)
    age_seconds = serializers.SerializerMethodField(
        help_text="Seconds since the current key was set (created or rotated)."
    )

    def get_age_seconds(self, info: CredentialInfo) -> int:
        return max(0, int(info.age.total_seconds()))


@extend_schema_serializer(examples=[request_example({"secret": "sk-live-…"})])
class CredentialWriteSerializer(serializers.Serializer):
    secret = serializers.CharField(
        write_only=True,
        max_length=4096,
        style={"input_type": "password"},
        help_text="The provider's API key. Stored encrypted; never returned or shown again.",
    )


PROVIDER_EXAMPLE = {
    "id": EXAMPLE_PROVIDER_ID,
    "name": "acme-azure",
    "kind": "openai",
    "base_url": "https://acme.openai.azure.com/openai/v1",
    "model_names": ["gpt-4o", "gpt-4o-mini"],
    "enabled": True,
    "on_premises": False,
    "msp_wide": False,
    "health": "healthy",
    "health_checked_at": EXAMPLE_TIME,
    "credential": CREDENTIAL_EXAMPLE,
    "created_at": EXAMPLE_TIME,
    "updated_at": EXAMPLE_TIME,
}


ON_PREMISES = (
    "MSP staff only (403 for others): the endpoint runs in a private network, so the base "
    "URL may be a private or loopback address. Link-local and metadata addresses are "
    "refused whatever it says."
)


@extend_schema_serializer(examples=[response_example(PROVIDER_EXAMPLE)])
class ProviderSerializer(serializers.ModelSerializer):
    """A model endpoint. ``msp_wide`` ones are the MSP's, offered to every tenant: a tenant
    sees and routes to them but cannot change them."""

    msp_wide = serializers.SerializerMethodField()
    credential = serializers.SerializerMethodField()

    class Meta:
        model = Provider
        fields = [
            "id",
            "name",
            "kind",
            "base_url",
            "model_names",
            "enabled",
            "on_premises",
            "msp_wide",
            "health",
            "health_checked_at",
            "credential",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_msp_wide(self, provider: Provider) -> bool:
        return provider.tenant_id is None

    @extend_schema_field(CredentialSerializer(allow_null=True))
    def get_credential(self, provider: Provider) -> dict[str, Any] | None:
        info = self.context.get("credentials", {}).get(provider.pk)
        return dict(CredentialSerializer(info).data) if info else None


@extend_schema_serializer(
    examples=[
        request_example(
            {
                "name": "acme-azure",
                "kind": "openai",
                "base_url": "https://acme.openai.azure.com/openai/v1",
                "model_names": ["gpt-4o", "gpt-4o-mini"],
            }
        )
    ]
)
class ProviderCreateSerializer(serializers.Serializer):
    name = serializers.CharField(
        max_length=100,
        help_text="Catalog name (lowercase letters, digits, '.', '_', '-'), unique across "
        "the MSP: prices and usage name the provider by it. It cannot change.",
    )
    kind = serializers.ChoiceField(choices=Provider.Kind.choices)
    base_url = serializers.URLField(max_length=500)
    model_names = _names(200, required=False, help_text="Empty: any model a route names.")
    enabled = serializers.BooleanField(required=False, default=True)
    on_premises = serializers.BooleanField(required=False, default=False, help_text=ON_PREMISES)


@extend_schema_serializer(examples=[request_example({"enabled": False})])
class ProviderUpdateSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=Provider.Kind.choices, required=False)
    base_url = serializers.URLField(max_length=500, required=False)
    model_names = _names(200, required=False)
    enabled = serializers.BooleanField(required=False)
    on_premises = serializers.BooleanField(required=False, help_text=ON_PREMISES)


# --- routes ----------------------------------------------------------------------------------


class WeightField(serializers.FloatField):
    """A number >= 0; whole numbers stay integers."""

    def to_internal_value(self, data: Any) -> int | float:
        value = super().to_internal_value(data)
        return int(value) if float(value).is_integer() else value

    def to_representation(self, value: Any) -> int | float:  # type: ignore[override]
        return value if isinstance(value, int | float) else float(value)


class CandidateSerializer(serializers.Serializer):
    provider_id = serializers.UUIDField(help_text="A provider of the tenant or an MSP-wide one.")
    model = serializers.CharField(max_length=200, required=False, default=ANY)
    weight = WeightField(min_value=0, max_value=1_000_000, required=False, default=1)


ROUTE_EXAMPLE = {
    "id": EXAMPLE_ROUTE_ID,
    "name": "complex via own Azure",
    "tier": "complex",
    "model": "*",
    "candidates": [{"provider_id": EXAMPLE_PROVIDER_ID, "model": "gpt-4o", "weight": 1}],
    "max_attempts": 2,
    "timeout_seconds": 30,
    "msp_wide": False,
    "created_at": EXAMPLE_TIME,
    "updated_at": EXAMPLE_TIME,
}


@extend_schema_serializer(
    examples=[
        request_example(
            {
                key: ROUTE_EXAMPLE[key]
                for key in ("name", "tier", "model", "candidates", "max_attempts")
            }
        ),
        response_example(ROUTE_EXAMPLE),
    ]
)
class RouteSerializer(serializers.ModelSerializer):
    """Which providers and models serve a tier (and a model name, or any: "*")."""

    name = serializers.CharField(max_length=200)
    tier = serializers.ChoiceField(choices=ROUTE_TIERS, required=False, default=ANY)
    model = serializers.CharField(max_length=200, required=False, default=ANY)
    candidates = serializers.ListField(child=CandidateSerializer(), min_length=1, max_length=50)
    max_attempts = serializers.IntegerField(min_value=1, max_value=10, required=False, default=2)
    timeout_seconds = serializers.IntegerField(
        min_value=1, max_value=600, required=False, default=30
    )
    msp_wide = serializers.SerializerMethodField()

    class Meta:
        model = Route
        fields = [
            "id",
            "name",
            "tier",
            "model",
            "candidates",
            "max_attempts",
            "timeout_seconds",
            "msp_wide",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "msp_wide", "created_at", "updated_at"]
        validators: list[object] = []  # uniqueness is the service's job

    def get_msp_wide(self, route: Route) -> bool:
        return route.tenant_id is None


# --- policy and role defaults ----------------------------------------------------------------

POLICY_EXAMPLE = {
    "injection": "block",
    "injection_stage": "rules",
    "pii": "redact",
    "pii_types": ["email", "iban"],
    "tool_data_classes": {"ledger.query": ["finance"]},
    "max_requests_per_minute": 600,
    "scope_enforcement": "flag",
    "updated_at": EXAMPLE_TIME,
}


@extend_schema_serializer(
    examples=[
        request_example({"pii": "redact", "pii_types": ["email", "iban"]}),
        response_example(POLICY_EXAMPLE, status_codes=["200"]),
    ]
)
class PolicySerializer(serializers.ModelSerializer):
    """The tenant's content rules, enforced at every edge serving its agents."""

    injection = serializers.ChoiceField(choices=Policy.Injection.choices, required=False)
    injection_stage = serializers.ChoiceField(
        choices=Policy.InjectionStage.choices,
        required=False,
        help_text="rules, or rules_and_classifier (the learned stage for what rules leave open).",
    )
    pii = serializers.ChoiceField(choices=Policy.Pii.choices, required=False)
    pii_types = serializers.ListField(
        child=serializers.ChoiceField(choices=[(t, t) for t in Policy.PII_TYPES]),
        required=False,
        max_length=len(Policy.PII_TYPES),
        help_text="Empty: every type the edge detects.",
    )
    tool_data_classes = serializers.DictField(
        child=_names(50),
        required=False,
        help_text='Data classes each tool touches, e.g. {"ledger.query": ["finance"]}.',
    )
    max_requests_per_minute = serializers.IntegerField(
        min_value=1,
        required=False,
        allow_null=True,
        help_text="Request-rate ceiling of each agent whose own and role settings set none: "
        "the gateway answers 429 beyond it. Null: none.",
    )
    scope_enforcement = serializers.ChoiceField(
        choices=ScopeEnforcement.choices,
        required=False,
        help_text="What an edge does with a model call outside an agent's learned scope or over "
        "its learned ceilings: flag (served, alerted) or refuse (403/429, alerted).",
    )
    updated_at = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text="Null: never set (the defaults apply)."
    )

    class Meta:
        model = Policy
        fields = [*Policy.AUDIT_FIELDS, "updated_at"]


class WindowSerializer(serializers.Serializer):
    """``{}``: always. An end before the start spans midnight."""

    days = serializers.ListField(
        child=serializers.IntegerField(min_value=0, max_value=6),
        required=False,
        max_length=7,
        help_text="Weekdays, Monday = 0; default every day.",
    )
    start = serializers.RegexField(r"^([01]\d|2[0-3]):[0-5]\d$", required=False)
    end = serializers.RegexField(r"^(([01]\d|2[0-3]):[0-5]\d|24:00)$", required=False)
    tz = serializers.CharField(max_length=64, required=False, help_text="Default UTC.")


ROLE_DEFAULT_EXAMPLE = {
    "id": EXAMPLE_ROLE_DEFAULT_ID,
    "role": "finance",
    "allowed_models": ["gpt-4o"],
    "allowed_tools": ["ledger.query"],
    "data_classes": ["public", "finance"],
    "tier": "auto",
    "operating_window": {"days": [0, 1, 2, 3, 4], "start": "07:00", "end": "19:00"},
    "max_requests_per_minute": 120,
    "scope_enforcement": "refuse",
    "updated_at": EXAMPLE_TIME,
}


@extend_schema_serializer(
    examples=[
        request_example(
            {k: v for k, v in ROLE_DEFAULT_EXAMPLE.items() if k not in ("id", "updated_at")}
        ),
        response_example(ROLE_DEFAULT_EXAMPLE),
    ]
)
class RoleDefaultSerializer(serializers.ModelSerializer):
    """What agents of a role may do unless the agent itself says otherwise."""

    role = serializers.CharField(max_length=50)
    allowed_models = _names(200, required=False, help_text="Empty: any model.")
    allowed_tools = _names(100, required=False)
    data_classes = _names(50, required=False)
    tier = serializers.ChoiceField(
        choices=DEFAULT_TIERS,
        required=False,
        help_text="simple, standard, complex, or auto: the edge scores each request into one "
        "of them (the tenant policy's thresholds).",
    )
    operating_window = WindowSerializer(required=False)
    max_requests_per_minute = serializers.IntegerField(
        min_value=1,
        required=False,
        allow_null=True,
        help_text="Request-rate ceiling of the role's agents that set none; null: the "
        "tenant policy's.",
    )
    scope_enforcement = serializers.ChoiceField(
        choices=[("", "the tenant policy's"), *ScopeEnforcement.choices],
        required=False,
        help_text="flag or refuse what is outside the learned scope; empty: the tenant policy's.",
    )

    class Meta:
        model = RoleDefault
        fields = [
            "id",
            "role",
            "allowed_models",
            "allowed_tools",
            "data_classes",
            "tier",
            "operating_window",
            "max_requests_per_minute",
            "scope_enforcement",
            "updated_at",
        ]
        read_only_fields = ["id", "updated_at"]
        validators: list[object] = []

    def validate_operating_window(self, value: dict[str, Any]) -> dict[str, Any]:
        return dict(value)


class RoleDefaultUpdateSerializer(RoleDefaultSerializer):
    role = serializers.CharField(read_only=True, help_text="It does not change.")


# --- budgets ---------------------------------------------------------------------------------

BUDGET_EXAMPLE = {
    "id": EXAMPLE_BUDGET_ID,
    "name": "Finance monthly",
    "scope": "department",
    "scope_id": "0193f0a2-6c1e-7b3a-9f10-2b7c1d5e8a02",
    "period": "month",
    "limit": "250.000000",
    "kind": "hard",
    "period_start": "2026-11-01T00:00:00Z",
    "spend": "41.250000",
    "created_at": EXAMPLE_TIME,
    "updated_at": EXAMPLE_TIME,
}


def _money(**kwargs: Any) -> serializers.DecimalField:
    return serializers.DecimalField(
        max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES, min_value=0, **kwargs
    )


@extend_schema_serializer(examples=[response_example(BUDGET_EXAMPLE)])
class BudgetSerializer(serializers.ModelSerializer):
    """A spending limit per day or month (UTC) of an agent, a department or the tenant,
    with what the ledger holds against it in the current period."""

    limit = _money(read_only=True)
    period_start = serializers.SerializerMethodField(help_text="The current period's start.")
    spend = serializers.SerializerMethodField(
        help_text="Ledger cost in the current period, on every edge."
    )

    class Meta:
        model = Budget
        fields = [
            "id",
            "name",
            "scope",
            "scope_id",
            "period",
            "limit",
            "kind",
            "period_start",
            "spend",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def _status(self, budget: Budget) -> Any:
        return self.context["status"][budget.pk]

    def get_period_start(self, budget: Budget) -> dt.datetime:
        start: dt.datetime = self._status(budget).period_start
        return timezone.localtime(start, dt.UTC)

    @extend_schema_field({"type": "string", "format": "decimal", "pattern": r"^-?\d*\.?\d*$"})
    def get_spend(self, budget: Budget) -> str:
        return f"{self._status(budget).spend:.{MONEY_PLACES}f}"


@extend_schema_serializer(
    examples=[
        request_example(
            {
                "name": "Finance monthly",
                "scope": "department",
                "scope_id": "0193f0a2-6c1e-7b3a-9f10-2b7c1d5e8a02",
                "period": "month",
                "limit": "250.00",
                "kind": "hard",
            }
        )
    ]
)
class BudgetCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    scope = serializers.ChoiceField(choices=Budget.Scope.choices)
    scope_id = serializers.UUIDField(
        required=False,
        allow_null=True,
        help_text="The agent's or department's id; leave out for the tenant.",
    )
    period = serializers.ChoiceField(choices=Budget.Period.choices)
    limit = _money()
    kind = serializers.ChoiceField(
        choices=Budget.Kind.choices,
        help_text="hard: the edges refuse requests past it; soft: an alert, nothing refused.",
    )


@extend_schema_serializer(examples=[request_example({"limit": "300.00"})])
class BudgetUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    limit = _money(required=False)


# --- published config ------------------------------------------------------------------------

CONFIG_CHANGE_EXAMPLE = {
    "id": EXAMPLE_CHANGE_ID,
    "site": EXAMPLE_SITE_ID,
    "version": 7,
    "previous_version": 6,
    "created_at": EXAMPLE_TIME,
    "actor_kind": "system",
    "actor_label": "edge-pull",
    "summary": "since v6: budgets: 1 changed",
    "diff": {"from_version": 6, "to_version": 7, "sections": {}},
    "payload_sha256": "9f2c…",
}


@extend_schema_serializer(examples=[response_example(CONFIG_CHANGE_EXAMPLE)])
class ConfigChangeSerializer(serializers.ModelSerializer):
    """One config version of a site as published to its edge nodes, with what changed
    since the previous one (no secrets: credentials appear as id and version)."""

    site = serializers.UUIDField(source="site_id", read_only=True)
    diff = serializers.JSONField(read_only=True, help_text="Per section: added, removed, changed.")

    class Meta:
        model = ConfigChange
        fields = [
            "id",
            "site",
            "version",
            "previous_version",
            "created_at",
            "actor_kind",
            "actor_label",
            "summary",
            "diff",
            "payload_sha256",
        ]
        read_only_fields = fields

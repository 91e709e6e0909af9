"""Forms of the gateway: policy, budgets, providers, credentials, routes, model prices
and role defaults. They check input; the services make the change and enforce the rules."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from controlplane.gateway.models import (
    ANY,
    DEFAULT_TIERS,
    ROUTE_TIERS,
    Budget,
    Policy,
    Provider,
    RoleDefault,
    ScopeEnforcement,
    Tier,
)
from controlplane.web.forms import CommaListField
from controlplane.web.registry_forms import OperatingWindowForm
from tenants.models import Department


class PolicyForm(forms.Form):
    """The tenant's content policy. The tool data classes are typed as JSON."""

    injection = forms.ChoiceField(
        choices=Policy.Injection.choices,
        label="Prompt injection",
        help_text="Block refuses the request; flag lets it through and marks it.",
    )
    INJECTION_STAGES = (
        (Policy.InjectionStage.RULES, "Rules only"),
        (Policy.InjectionStage.RULES_AND_CLASSIFIER, "Rules + learned stage"),
    )
    injection_stage = forms.ChoiceField(
        choices=INJECTION_STAGES,
        required=False,
        label="Injection detection",
        help_text="The learned stage also reads what the rules leave undecided, for about "
        "0.3 ms more CPU per request on the edge (docs/content-filter.md).",
    )
    pii = forms.ChoiceField(
        choices=Policy.Pii.choices,
        label="PII handling",
        help_text="Personal data in requests: flag marks it, redact masks it, block refuses.",
    )
    pii_types = forms.MultipleChoiceField(
        choices=[(t, t) for t in Policy.PII_TYPES],
        required=False,
        label="PII types",
        widget=forms.CheckboxSelectMultiple,
        help_text="None checked: every type the edge detects.",
    )
    tool_data_classes = forms.CharField(
        required=False,
        max_length=20000,
        label="Tool data classes",
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}),
        help_text='JSON: which data classes each tool touches, e.g. {"ledger.query": ["finance"]}.',
    )
    cache_ttl_seconds = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=7 * 86400,
        initial=0,
        label="Response cache (seconds)",
        help_text="Edges answer an identical request again from their cache for this long; "
        "0: no cache.",
    )
    auto_simple_max = forms.FloatField(
        required=False, min_value=0, max_value=1, initial=0.3, label="Auto tier: simple below"
    )
    auto_complex_min = forms.FloatField(
        required=False, min_value=0, max_value=1, initial=0.5, label="Auto tier: complex from"
    )
    max_requests_per_minute = forms.IntegerField(
        required=False,
        min_value=1,
        label="Requests a minute per agent",
        help_text="The gateway refuses an agent's requests beyond this rate (429), unless "
        "the agent or its role sets its own. Empty: no ceiling.",
    )
    scope_enforcement = forms.ChoiceField(
        choices=[
            (ScopeEnforcement.FLAG, "Flag: serve it and raise an alert"),
            (ScopeEnforcement.REFUSE, "Refuse it"),
        ],
        required=False,
        label="Outside the learned scope",
        help_text="What an edge does with a model call outside an agent's learned tools, "
        "data classes and models, or over its learned ceilings, unless the agent's role "
        "says otherwise (docs/security.md).",
    )
    OPTIONAL = (
        "injection_stage",
        "cache_ttl_seconds",
        "auto_simple_max",
        "auto_complex_min",
        "scope_enforcement",
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        # Left empty: the policy keeps what it has.
        for name in self.OPTIONAL:
            if cleaned.get(name) in (None, ""):
                cleaned.pop(name, None)
        return cleaned

    @classmethod
    def for_policy(cls, policy: Policy, data: Any = None) -> PolicyForm:
        classes = policy.tool_data_classes
        initial = {
            "injection": policy.injection,
            "injection_stage": policy.injection_stage,
            "pii": policy.pii,
            "pii_types": list(policy.pii_types),
            "tool_data_classes": json.dumps(classes, indent=2) if classes else "",
            "cache_ttl_seconds": policy.cache_ttl_seconds,
            "auto_simple_max": policy.auto_simple_max,
            "auto_complex_min": policy.auto_complex_min,
            "max_requests_per_minute": policy.max_requests_per_minute,
            "scope_enforcement": policy.scope_enforcement,
        }
        return cls(data=data, initial=initial)

    def clean_tool_data_classes(self) -> Any:
        text = (self.cleaned_data.get("tool_data_classes") or "").strip()
        if not text:
            return {}
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise ValidationError(
                f"Tool data classes: this is not valid JSON ({error.msg}, line {error.lineno}, "
                f"column {error.colno})."
            ) from None


BUDGET_TENANT_TARGET = "tenant"


class BudgetForm(forms.Form):
    """A new budget. ``target`` is ``tenant``, ``department:<id>`` or ``agent:<id>``; the
    choices hold only the departments and agents given (the tenant's)."""

    name = forms.CharField(max_length=200, required=False, help_text="Optional, e.g. Q3 pilot.")
    target = forms.ChoiceField(
        choices=(),
        label="Applies to",
        error_messages={
            "invalid_choice": "Choose the whole tenant, one of its departments or its agents."
        },
    )
    period = forms.ChoiceField(choices=Budget.Period.choices, help_text="Days and months in UTC.")
    kind = forms.ChoiceField(
        choices=Budget.Kind.choices,
        help_text="Hard: the edges refuse requests past it. Soft: an alert only.",
    )
    limit = forms.DecimalField(
        min_value=Decimal(0),
        max_digits=18,
        decimal_places=6,
        label="Limit ($)",
        widget=forms.NumberInput(attrs={"step": "any"}),
    )

    def __init__(
        self,
        *args: Any,
        departments: Iterable[Department],
        agents: Iterable[Any],
        tenant_wide: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        choices: list[Any] = []
        if tenant_wide:
            choices.append((BUDGET_TENANT_TARGET, "The whole tenant"))
        department_choices = [(f"department:{d.pk}", d.name) for d in departments]
        agent_choices = [(f"agent:{a.pk}", a.name) for a in agents]
        if department_choices:
            choices.append(("Departments", department_choices))
        if agent_choices:
            choices.append(("Agents", agent_choices))
        target = self.fields["target"]
        assert isinstance(target, forms.ChoiceField)
        target.choices = choices

    def service_fields(self) -> dict[str, Any]:
        """The cleaned values, named as ``budget_create`` takes them."""
        data = self.cleaned_data
        scope, _, raw_id = data["target"].partition(":")
        return {
            "name": data["name"],
            "scope": scope,
            "scope_id": uuid.UUID(raw_id) if raw_id else None,
            "period": data["period"],
            "kind": data["kind"],
            "limit": data["limit"],
        }


class BudgetLimitForm(forms.Form):
    """One budget's new limit, in its row of the budget table."""

    limit = forms.DecimalField(
        min_value=Decimal(0),
        max_digits=18,
        decimal_places=6,
        label="Limit ($)",
        widget=forms.NumberInput(attrs={"step": "any"}),
    )

    @classmethod
    def for_budget(cls, budget: Budget, data: Any = None) -> BudgetLimitForm:
        return cls(
            data=data,
            initial={"limit": f"{budget.limit.normalize():f}"},
            prefix=f"b{budget.pk.hex}",
        )


class LineListField(CommaListField):
    """A list typed one a line or as ``a, b, c``."""

    separators = ",\n"
    widget = forms.Textarea(attrs={"rows": 3, "spellcheck": "false"})

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return "\n".join(str(item) for item in value)
        return value


class ProviderForm(forms.Form):
    """A new provider of the tenant (or an MSP-wide one in the console's catalog)."""

    name = forms.CharField(
        max_length=100,
        help_text="Lowercase letters, digits, '.', '_', '-'. Prices and usage name the "
        "provider by it; it cannot be changed.",
    )
    kind = forms.ChoiceField(choices=Provider.Kind.choices)
    base_url = forms.URLField(
        max_length=500, label="Base URL", assume_scheme="https", help_text="e.g. https://…/v1"
    )
    model_names = LineListField(
        item_max_length=200,
        label="Model names",
        help_text="One a line or separated by commas. Empty: any model a route names.",
    )
    enabled = forms.BooleanField(required=False, initial=True, label="Enabled")
    on_premises = forms.BooleanField(
        required=False,
        label="On-premises",
        help_text="Staff only: the endpoint runs in the customer's private network, so its "
        "base URL may be a private or loopback address.",
    )

    def __init__(self, *args: Any, on_premises: bool = False, **kwargs: Any) -> None:
        """``on_premises``: offer the staff-only flag (a tenant's provider, in the console)."""
        kwargs.setdefault("auto_id", "id_provider_%s")
        super().__init__(*args, **kwargs)
        if not on_premises:
            del self.fields["on_premises"]


class ProviderEnabledForm(forms.Form):
    enabled = forms.TypedChoiceField(
        choices=[("true", "enabled"), ("false", "disabled")], coerce=lambda v: v == "true"
    )


class CredentialForm(forms.Form):
    """A provider's API key. Write-only: never rendered back, not even after an error."""

    secret = forms.CharField(
        max_length=4000,
        label="API key",
        widget=forms.PasswordInput(
            render_value=False, attrs={"autocomplete": "new-password", "spellcheck": "false"}
        ),
    )

    @classmethod
    def for_provider(cls, provider: Provider, data: Any = None) -> CredentialForm:
        return cls(data=data, prefix=f"k{provider.pk.hex}")


ROUTE_CANDIDATES = 3


class RouteForm(forms.Form):
    """A new route with up to ``ROUTE_CANDIDATES`` candidates (a provider and a model;
    rows without a provider are ignored). ``providers`` are the ones the route may use."""

    name = forms.CharField(max_length=200)
    tier = forms.ChoiceField(choices=ROUTE_TIERS, initial=ANY)
    model = forms.CharField(
        max_length=200,
        required=False,
        initial=ANY,
        help_text="The model name requests ask for, or * for any.",
    )
    max_attempts = forms.IntegerField(min_value=1, max_value=10, initial=2, label="Max attempts")
    timeout_seconds = forms.IntegerField(
        min_value=1, max_value=600, initial=30, label="Timeout (seconds)"
    )

    def __init__(self, *args: Any, providers: Iterable[Provider], **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "id_route_%s")
        super().__init__(*args, **kwargs)
        choices = [("", "—")] + [
            (str(p.pk), p.name if p.tenant_id else f"{p.name} (MSP-wide)") for p in providers
        ]
        for index in range(1, ROUTE_CANDIDATES + 1):
            self.fields[f"candidate_{index}_provider"] = forms.ChoiceField(
                choices=choices,
                required=False,
                label=f"Candidate {index}: provider",
                error_messages={"invalid_choice": "Choose one of the providers offered."},
            )
            self.fields[f"candidate_{index}_model"] = forms.CharField(
                max_length=200, required=False, initial=ANY, label=f"Candidate {index}: model"
            )

    def main_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in ("name", "tier", "model", "max_attempts", "timeout_seconds")]

    def candidate_rows(self) -> list[tuple[int, forms.BoundField, forms.BoundField]]:
        return [
            (i, self[f"candidate_{i}_provider"], self[f"candidate_{i}_model"])
            for i in range(1, ROUTE_CANDIDATES + 1)
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        candidates = []
        for index in range(1, ROUTE_CANDIDATES + 1):
            provider_id = data.get(f"candidate_{index}_provider")
            model = (data.get(f"candidate_{index}_model") or "").strip() or ANY
            if provider_id:
                candidates.append({"provider_id": provider_id, "model": model, "weight": 1})
            elif model != ANY:
                self.add_error(f"candidate_{index}_provider", "Choose a provider for this model.")
        refused = any(
            self.has_error(f"candidate_{i}_provider") for i in range(1, ROUTE_CANDIDATES + 1)
        )
        if not candidates and not refused:
            self.add_error(None, "Choose at least one candidate provider.")
        data["candidates"] = candidates
        return data

    def service_fields(self) -> dict[str, Any]:
        """The cleaned values, named as ``route_create`` takes them."""
        data = self.cleaned_data
        return {
            "name": data["name"],
            "tier": data["tier"],
            "model": (data["model"] or "").strip() or ANY,
            "max_attempts": data["max_attempts"],
            "timeout_seconds": data["timeout_seconds"],
            "candidates": data["candidates"],
        }


class ModelPriceForm(forms.Form):
    """A price of the MSP's catalog from a moment on (prices are never edited: a
    correction is a new price from a later moment)."""

    provider = forms.CharField(
        max_length=100, help_text="The provider's catalog name, as in the provider table."
    )
    model = forms.CharField(max_length=200)
    input_per_million = forms.DecimalField(
        min_value=Decimal(0),
        max_digits=12,
        decimal_places=6,
        label="Input ($ per million tokens)",
        widget=forms.NumberInput(attrs={"step": "any"}),
    )
    output_per_million = forms.DecimalField(
        min_value=Decimal(0),
        max_digits=12,
        decimal_places=6,
        label="Output ($ per million tokens)",
        widget=forms.NumberInput(attrs={"step": "any"}),
    )
    effective_from = forms.DateTimeField(
        label="Effective from (UTC)",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="Calls from this moment on are priced with it.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "id_price_%s")
        super().__init__(*args, **kwargs)


class RoleDefaultForm(OperatingWindowForm):
    """The defaults of one role (created, or replaced when the role has them already)."""

    window_who = "the agents"

    role = forms.CharField(
        max_length=50,
        help_text="As the agents name it, e.g. marketing. A role with defaults already "
        "gets these instead.",
    )
    allowed_models = CommaListField(
        item_max_length=200,
        label="Allowed models",
        help_text="Comma-separated, e.g. gpt-4o-mini, claude-haiku. Empty: any model.",
    )
    allowed_tools = CommaListField(
        item_max_length=100,
        label="Allowed tools",
        help_text="Comma-separated tool names. Empty: any tool.",
    )
    data_classes = CommaListField(
        item_max_length=50,
        label="Data classes",
        help_text="Comma-separated, e.g. pii, finance. Empty: no classified data.",
    )
    tier = forms.ChoiceField(
        choices=DEFAULT_TIERS,
        initial=Tier.STANDARD,
        help_text="Auto: the edge scores each request and sends it to the simple, standard "
        "or complex tier (thresholds in the policy).",
    )
    max_requests_per_minute = forms.IntegerField(
        required=False,
        min_value=1,
        label="Requests a minute per agent",
        help_text="For agents of the role that set none themselves. Empty: the tenant's policy.",
    )
    scope_enforcement = forms.ChoiceField(
        choices=[
            ("", "As the tenant's policy says"),
            (ScopeEnforcement.FLAG, "Flag: serve it and raise an alert"),
            (ScopeEnforcement.REFUSE, "Refuse it"),
        ],
        required=False,
        label="Outside the learned scope",
        help_text="What an edge does with a model call of these agents outside their "
        "learned scope or over their learned ceilings (docs/security.md).",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "id_role_default_%s")
        super().__init__(*args, **kwargs)

    @classmethod
    def for_role_default(cls, default: RoleDefault) -> RoleDefaultForm:
        return cls(
            initial={
                "role": default.role,
                "allowed_models": default.allowed_models,
                "allowed_tools": default.allowed_tools,
                "data_classes": default.data_classes,
                "tier": default.tier,
                "max_requests_per_minute": default.max_requests_per_minute,
                "scope_enforcement": default.scope_enforcement,
                **cls.window_initial(default.operating_window or {}),
            }
        )

    def service_fields(self) -> dict[str, Any]:
        """The cleaned values, named as ``role_default_set`` takes them."""
        data = self.cleaned_data
        return {
            "role": data["role"],
            "allowed_models": data["allowed_models"],
            "allowed_tools": data["allowed_tools"],
            "data_classes": data["data_classes"],
            "tier": data["tier"],
            "max_requests_per_minute": data["max_requests_per_minute"],
            "scope_enforcement": data["scope_enforcement"] or "",
            "operating_window": self.operating_window(),
        }

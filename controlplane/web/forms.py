"""Forms of the console and the portal. They check input; the services in
tenants/services.py make the change and enforce the rules."""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
import zoneinfo
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.validators import RegexValidator

from controlplane.accounts.models import StaffRole
from controlplane.agents.models import Agent
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
from controlplane.telemetry.spans import TraceSearch
from tenants.models import Department, Tenant, TenantRole, slug_validator


def add_service_error(form: forms.Form, error: ValidationError) -> None:
    """Show a service's ValidationError on ``form``: on the field it names when the form
    has that field, above the form otherwise."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for field, errors in error.error_dict.items():
        target = field if field in form.fields and field != NON_FIELD_ERRORS else None
        form.add_error(target, errors)


class TenantCreateForm(forms.Form):
    name = forms.CharField(max_length=200)
    slug = forms.CharField(
        max_length=50,
        validators=[slug_validator],
        help_text="Used in the portal address: /t/<slug>/. Lowercase letters, digits, hyphens.",
    )
    mfa_required = forms.BooleanField(
        required=False, label="Require two-factor sign-in for everyone"
    )


class TenantSettingsForm(forms.Form):
    name = forms.CharField(max_length=200)
    status = forms.ChoiceField(
        choices=Tenant.Status.choices,
        help_text="A suspended tenant's people cannot open the portal.",
    )
    mfa_required = forms.BooleanField(
        required=False, label="Require two-factor sign-in for everyone"
    )
    retention_days = forms.IntegerField(
        min_value=1, max_value=3650, label="Telemetry retention (days)"
    )
    body_residency = forms.BooleanField(
        required=False,
        label="Keep prompts and responses at the customer's edge nodes (residency)",
        help_text="The control plane then stores their SHA-256 only and reads them from the "
        "edge when someone allowed to opens a trace. Applies to what the edges receive after "
        "their next pull; bodies already stored centrally stay.",
    )

    @classmethod
    def for_tenant(cls, tenant: Tenant, data: Any = None) -> TenantSettingsForm:
        initial = {field: getattr(tenant, field) for field in cls.base_fields}
        return cls(data=data, initial=initial)


class TenantMfaForm(forms.Form):
    mfa_required = forms.BooleanField(
        required=False, label="Require two-factor sign-in for everyone"
    )


class DepartmentForm(forms.Form):
    name = forms.CharField(max_length=200)
    code = forms.CharField(
        max_length=50, required=False, label="Cost-centre code", help_text="Shown on invoices."
    )

    @classmethod
    def for_department(cls, department: Department, data: Any = None) -> DepartmentForm:
        form = cls(
            data=data,
            initial={"name": department.name, "code": department.code},
            prefix=f"d{department.pk.hex}",
        )
        # The inputs sit in their own table cells, outside the row's <form>.
        for field in form.fields.values():
            field.widget.attrs["form"] = f"{form.prefix}-form"
        return form


def _role_choices(roles: Iterable[str]) -> list[tuple[str, str]]:
    allowed = set(roles)
    return [(value, label) for value, label in TenantRole.choices if value in allowed]


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=())

    def __init__(self, *args: Any, roles: Iterable[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        role_field = self.fields["role"]
        assert isinstance(role_field, forms.ChoiceField)
        role_field.choices = _role_choices(roles)


class MemberAccessForm(RoleForm):
    """A person's role and, when the tenant has departments, the departments their
    dashboards, traces and data flows are limited to (none chosen: every department)."""

    departments = forms.MultipleChoiceField(required=False, choices=())

    def __init__(self, *args: Any, departments: Iterable[Department], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = [(str(d.pk), d.name) for d in departments]
        if choices:
            field = self.fields["departments"]
            assert isinstance(field, forms.MultipleChoiceField)
            field.choices = choices
            field.widget.attrs["size"] = str(min(len(choices), 4))
        else:
            del self.fields["departments"]


class InvitationForm(RoleForm):
    email = forms.EmailField(max_length=254)

    field_order = ["email", "role"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {"role": TenantRole.MEMBER})
        super().__init__(*args, **kwargs)


class StaffInviteForm(forms.Form):
    email = forms.EmailField(max_length=254)
    full_name = forms.CharField(max_length=200, required=False, label="Full name")
    role = forms.ChoiceField(choices=StaffRole.choices, initial=StaffRole.OPERATOR)


class StaffRoleForm(forms.Form):
    role = forms.ChoiceField(choices=StaffRole.choices)


class AuditFilterForm(forms.Form):
    """The filters of an audit log page, read from the query string."""

    tenant = forms.SlugField(required=False, max_length=50)
    action = forms.CharField(
        required=False, max_length=100, help_text="Beginning of the action, e.g. membership."
    )
    actor = forms.CharField(required=False, max_length=254, help_text="Part of an email.")
    since = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        required=False, label="To", widget=forms.DateInput(attrs={"type": "date"})
    )
    before = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    def __init__(self, *args: Any, tenants: Iterable[Tenant] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if tenants is None:
            del self.fields["tenant"]
        else:
            self.fields["tenant"] = forms.ChoiceField(
                required=False,
                choices=[("", "All tenants"), ("-", "MSP-level only")]
                + [(t.slug, t.name) for t in tenants],
            )


# --- registry: sites, edge nodes, devices, agents ---------------------------------------


class SiteForm(forms.Form):
    name = forms.CharField(max_length=200)
    location = forms.CharField(max_length=200, required=False, help_text="Address or room.")


class CollectorKeyForm(forms.Form):
    name = forms.CharField(
        max_length=200, help_text="Which collector uses it, e.g. otel-collector-hq."
    )


class SiteCollectorsForm(forms.Form):
    collector_auto_register = forms.BooleanField(
        required=False,
        label="Register agents the site does not know yet",
        help_text="Off: spans of agents not registered at this site are refused (the "
        "collector is told how many). On: such agents are registered by their agent.id or "
        "service.name and appear under Agents at the next pull.",
    )


class EdgeNodeForm(forms.Form):
    name = forms.CharField(max_length=200, help_text="Unique in the tenant, e.g. hq-edge-1.")
    pull_url = forms.URLField(
        assume_scheme="https",
        label="Pull URL",
        help_text="Where the control plane reaches the node, e.g. https://edge.example.com:4318.",
    )
    agent_url = forms.URLField(
        assume_scheme="https",
        label="Agent URL",
        help_text="Where agents at the site reach the node.",
    )
    expected_version = forms.CharField(
        max_length=40, required=False, help_text="The edge release that should run, e.g. 0.1.0."
    )


class DeviceForm(forms.Form):
    name = forms.CharField(max_length=200, help_text="Unique in the tenant.")
    fingerprint = forms.CharField(
        max_length=200, required=False, help_text="Hardware description or serial number."
    )


class CommaListField(forms.CharField):
    """A list of short words typed as ``a, b, c``: trimmed, without blanks or repeats."""

    separators = ","

    def __init__(self, *, item_max_length: int, **kwargs: Any) -> None:
        self.item_max_length = item_max_length
        kwargs.setdefault("required", False)
        kwargs.setdefault("max_length", 2000)
        super().__init__(**kwargs)

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return ", ".join(str(item) for item in value)
        return value

    def clean(self, value: Any) -> list[str]:
        text = super().clean(value)
        items: list[str] = []
        for part in re.split(f"[{re.escape(self.separators)}]", str(text or "")):
            item = part.strip()
            if item and item not in items:
                items.append(item)
        too_long = [item for item in items if len(item) > self.item_max_length]
        if too_long:
            raise ValidationError(
                f"Each entry may have at most {self.item_max_length} characters: "
                f"{', '.join(too_long)}"
            )
        return items


WEEKDAYS = [
    (0, "Mon"),
    (1, "Tue"),
    (2, "Wed"),
    (3, "Thu"),
    (4, "Fri"),
    (5, "Sat"),
    (6, "Sun"),
]


class _MemberChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        name = obj.display_name
        return f"{name} ({obj.email})" if name != obj.email else obj.email


class _DeviceChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        revoked = " — revoked" if obj.revoked_at else ""
        return f"{obj.name} ({obj.site.name}){revoked}"


class OperatingWindowForm(forms.Form):
    """The operating window fields of an agent or a role: days and times in a time zone,
    or nothing for always. An end before the start runs past midnight; an end of 00:00
    is the end of the day (stored as 24:00)."""

    window_who = "the agent"  # in "Pick the days the agent may work."

    window_days = forms.TypedMultipleChoiceField(
        choices=WEEKDAYS,
        coerce=int,
        required=False,
        label="Operating days",
        widget=forms.CheckboxSelectMultiple,
    )
    window_start = forms.TimeField(
        required=False,
        label="From",
        input_formats=["%H:%M", "%H:%M:%S"],
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
    )
    window_end = forms.TimeField(
        required=False,
        label="Until",
        input_formats=["%H:%M", "%H:%M:%S"],
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        help_text="00:00: until midnight.",
    )
    window_tz = forms.CharField(
        required=False,
        max_length=64,
        label="Time zone",
        initial="UTC",
        help_text="The edge reads the times in it, e.g. UTC or Europe/Berlin.",
    )

    @staticmethod
    def window_initial(window: dict[str, Any]) -> dict[str, Any]:
        """The window fields' initial values for a stored window (``{}``: always)."""
        end = window.get("end", "")
        return {
            "window_days": window.get("days", list(range(7)) if window else []),
            "window_start": window.get("start", "00:00" if window else ""),
            "window_end": "00:00" if end == "24:00" or (window and not end) else end,
            "window_tz": window.get("tz", "UTC"),
        }

    def clean_window_tz(self) -> str:
        value = (self.cleaned_data.get("window_tz") or "").strip() or "UTC"
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValidationError(
                f"{value!r} is not a known time zone, e.g. Europe/Berlin."
            ) from None
        return value

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        days, start, end = data.get("window_days"), data.get("window_start"), data.get("window_end")
        given = days or start or end
        refused = any(self.has_error(f"window_{part}") for part in ("start", "end"))
        if given and not refused:
            if start is None:
                self.add_error("window_start", "Give the start of the operating window.")
            if end is None:
                self.add_error("window_end", "Give the end of the operating window.")
            if not days:
                self.add_error("window_days", f"Pick the days {self.window_who} may work.")
            if start is not None and start == end and start != dt.time(0):
                self.add_error(
                    "window_end",
                    "The window would never be open: give an end other than the start.",
                )
        return data

    def operating_window(self) -> dict[str, Any]:
        """``{}`` (always) or the window as the edge reads it; 00:00 as the end is 24:00."""
        data = self.cleaned_data
        start, end = data.get("window_start"), data.get("window_end")
        if start is None or end is None:
            return {}
        return {
            "days": sorted(data["window_days"]),
            "start": start.strftime("%H:%M"),
            "end": "24:00" if end == dt.time(0) else end.strftime("%H:%M"),
            "tz": data["window_tz"],
        }


class AgentForm(OperatingWindowForm):
    """An agent's registration. The choices come from the agent's tenant only."""

    name = forms.CharField(max_length=200)
    department: forms.ModelChoiceField[Any] = forms.ModelChoiceField(
        queryset=None,
        required=False,
        empty_label="— none —",
    )
    owner = _MemberChoiceField(
        queryset=None,
        required=False,
        empty_label="— none —",
        help_text="The person answerable for this agent.",
    )
    purpose = forms.CharField(
        required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 3})
    )
    role = forms.CharField(
        max_length=50, required=False, help_text="Policy role, e.g. marketing, finance, hr."
    )
    data_classes = CommaListField(
        item_max_length=50, help_text="Comma-separated, e.g. pii, finance."
    )
    tools = CommaListField(
        item_max_length=100, help_text="Comma-separated tool names the agent may call."
    )
    device = _DeviceChoiceField(
        queryset=None,
        required=False,
        empty_label="— none —",
        help_text="The hardware the agent runs on. Its keys work only from this device.",
    )
    tier = forms.ChoiceField(
        choices=[("", "— as its role default —"), *Agent.Tier.choices],
        required=False,
        label="Routing tier",
        help_text="Which models serve it. Auto: the edge scores each request and sends it "
        "to the simple, standard or complex tier.",
    )
    SERVICE_FIELDS = (
        "name",
        "department",
        "owner",
        "purpose",
        "role",
        "data_classes",
        "tools",
        "device",
        "tier",
    )

    def __init__(
        self,
        *args: Any,
        departments: Any,
        owners: Any,
        devices: Any,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        for name, queryset in (
            ("department", departments),
            ("owner", owners),
            ("device", devices),
        ):
            field = self.fields[name]
            assert isinstance(field, forms.ModelChoiceField)
            field.queryset = queryset

    @staticmethod
    def initial_for(agent: Any) -> dict[str, Any]:
        window = agent.operating_window or {}
        return {
            "name": agent.name,
            "department": agent.department_id,
            "owner": agent.owner_id,
            "purpose": agent.purpose,
            "role": agent.role,
            "data_classes": agent.data_classes,
            "tools": agent.tools,
            "device": agent.device_id,
            "tier": agent.tier,
            **OperatingWindowForm.window_initial(window),
        }

    def service_fields(self) -> dict[str, Any]:
        """The cleaned values, named as the agent services take them."""
        fields = {name: self.cleaned_data[name] for name in self.SERVICE_FIELDS}
        fields["operating_window"] = self.operating_window()
        return fields


class AgentStatusForm(forms.Form):
    status = forms.ChoiceField(choices=[("active", "active"), ("disabled", "disabled")])


# --- traces ------------------------------------------------------------------------------

TRACE_RANGES = {"1h": 1, "24h": 24, "7d": 24 * 7}
NO_CONTROL_CHARACTERS = RegexValidator(
    r"^[^\x00-\x1f\x7f]*$", "Line breaks and other control characters are not allowed."
)


class TraceFilterForm(forms.Form):
    """The filters of a trace list, read from the query string. ``before`` and
    ``before_trace`` (the last trace of the previous page) page to older traces."""

    range = forms.ChoiceField(
        required=False,
        label="Time range",
        choices=[("1h", "Last hour"), ("24h", "Last 24 hours"), ("7d", "Last 7 days")],
    )
    q = forms.CharField(
        required=False,
        max_length=200,
        label="Text",
        validators=[NO_CONTROL_CHARACTERS],
        help_text="In span names, status messages, tools, models and bodies; any case.",
    )
    agent = forms.ChoiceField(required=False, choices=())
    department = forms.ChoiceField(required=False, choices=())
    status = forms.ChoiceField(
        required=False,
        choices=[
            ("", "Any status"),
            ("ok", "OK"),
            ("error", "Error"),
            ("timeout", "Timeout"),
            ("refused", "Refused"),
        ],
    )
    provider = forms.CharField(required=False, max_length=200, validators=[NO_CONTROL_CHARACTERS])
    model = forms.CharField(required=False, max_length=200, validators=[NO_CONTROL_CHARACTERS])
    tool = forms.CharField(required=False, max_length=200, validators=[NO_CONTROL_CHARACTERS])
    before = forms.DateTimeField(required=False, widget=forms.HiddenInput)
    before_trace = forms.RegexField(
        required=False, regex=r"^[0-9a-f]{32}$", widget=forms.HiddenInput
    )

    PAGING_FIELDS = ("before", "before_trace")

    def __init__(
        self,
        *args: Any,
        agents: Iterable[Any],
        departments: Iterable[Department] = (),
        text_search: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        if not text_search:  # without the right to read bodies (telemetry.body_access)
            del self.fields["q"]
        agent_field, department_field = self.fields["agent"], self.fields["department"]
        assert isinstance(agent_field, forms.ChoiceField)
        assert isinstance(department_field, forms.ChoiceField)
        agent_field.choices = [("", "All agents")] + [(str(a.pk), a.name) for a in agents]
        department_field.choices = [("", "All departments")] + [
            (str(d.pk), d.name) for d in departments
        ]
        for name in ("provider", "model", "tool"):
            self.fields[name].widget.attrs["placeholder"] = "Any"
        if text_search:
            search = self.fields["q"].widget
            assert isinstance(search, forms.TextInput)
            search.input_type = "search"
            search.attrs["placeholder"] = "Search"

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if bool(data.get("before")) != bool(data.get("before_trace")):
            raise ValidationError("This link to older traces is incomplete.")
        return data

    @property
    def hours(self) -> int:
        value = self.cleaned_data.get("range") if self.is_valid() else None
        return TRACE_RANGES.get(value or "24h", 24)

    @property
    def filter_fields(self) -> list[forms.BoundField]:
        """The fields a person sets; paging is carried by the older-traces link."""
        return [self[name] for name in self.fields if name not in self.PAGING_FIELDS]

    def search(self) -> TraceSearch:
        data = self.cleaned_data
        return TraceSearch(
            agent_id=uuid.UUID(data["agent"]) if data["agent"] else None,
            department_id=uuid.UUID(data["department"]) if data["department"] else None,
            provider=data["provider"] or None,
            model=data["model"] or None,
            tool=data["tool"] or None,
            text=data.get("q") or None,
        )

    def older_than(self) -> tuple[dt.datetime, str] | None:
        before = self.cleaned_data.get("before")
        if not before:
            return None
        moment = before if before.tzinfo else before.replace(tzinfo=dt.UTC)
        return moment.astimezone(dt.UTC), self.cleaned_data["before_trace"]

    @property
    def narrowed(self) -> bool:
        """True when anything but the time range is set."""
        return any(self.cleaned_data.get(name) for name in self.fields if name != "range")


# --- gateway: policy and budgets ---------------------------------------------------------


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
            "operating_window": self.operating_window(),
        }

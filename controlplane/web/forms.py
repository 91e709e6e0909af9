"""Forms of the console and the portal. They check input; the services in
tenants/services.py make the change and enforce the rules."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterable
from typing import Any

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.validators import RegexValidator

from controlplane.accounts.models import StaffRole
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

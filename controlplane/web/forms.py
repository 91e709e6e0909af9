"""Forms of the console and the portal. They check input; the services in
tenants/services.py make the change and enforce the rules."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError

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


class InvitationForm(RoleForm):
    email = forms.EmailField(max_length=254)

    field_order = ["email", "role"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {"role": TenantRole.MEMBER})
        super().__init__(*args, **kwargs)


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

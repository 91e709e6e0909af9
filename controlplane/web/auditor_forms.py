"""Forms of the auditor accounts page and of evidence package requests."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.utils import timezone

from compliance.periods import Period
from tenants.models import Tenant


def start_of(day: dt.date) -> dt.datetime:
    """The first instant of ``day``, UTC."""
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


def quarter_choices(today: dt.date, count: int = 8) -> list[tuple[str, str]]:
    """The last ``count`` full quarters, newest first, as ``2026-Q3`` keys."""
    choices = []
    period = Period.last_full_quarter(today)
    for _ in range(count):
        choices.append((period.label, f"{period.label} ({period})"))
        period = Period.last_full_quarter(period.start)
    return choices


class PeriodForm(forms.Form):
    """A period: a recent quarter, or two dates (which win when both are given)."""

    quarter = forms.ChoiceField(required=False, label="Quarter")
    period_start = forms.DateField(
        required=False, label="Or from (UTC)", widget=forms.DateInput(attrs={"type": "date"})
    )
    period_end = forms.DateField(
        required=False, label="To (UTC, included)", widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["quarter"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [("", "—"), *quarter_choices(timezone.now().date())]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end, quarter = data.get("period_start"), data.get("period_end"), data.get("quarter")
        if (start is None) != (end is None):
            raise forms.ValidationError("Give both dates, or choose a quarter.")
        if start is not None and end is not None:
            if start > end:
                raise forms.ValidationError("The first date must not be after the last.")
            data["period"] = Period(start, end)
        elif quarter:
            year, number = quarter.split("-Q")
            data["period"] = Period.quarter(int(year), int(number))
        else:
            raise forms.ValidationError("Choose a quarter or give two dates.")
        return data


class AuditorCreateForm(PeriodForm):
    email = forms.EmailField(max_length=254)
    full_name = forms.CharField(max_length=200, required=False, label="Full name")
    organization = forms.CharField(max_length=200, required=False, label="Audit firm")
    tenants = forms.ModelMultipleChoiceField(
        queryset=Tenant.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        help_text="The tenants whose evidence they may read.",
    )
    expires_at = forms.DateField(
        label="Access ends (UTC, at the start of the day)",
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    field_order = ["email", "full_name", "organization", "tenants", "quarter"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["tenants"]
        assert isinstance(field, forms.ModelMultipleChoiceField)
        field.queryset = Tenant.objects.filter(status=Tenant.Status.ACTIVE).order_by("name")
        if not self.is_bound:
            self.fields["expires_at"].initial = timezone.now().date() + dt.timedelta(days=30)

    def clean_expires_at(self) -> dt.datetime:
        return start_of(self.cleaned_data["expires_at"])


class AuditorExtendForm(forms.Form):
    expires_at = forms.DateField(
        label="Access ends (UTC)", widget=forms.DateInput(attrs={"type": "date"})
    )

    def clean_expires_at(self) -> dt.datetime:
        return start_of(self.cleaned_data["expires_at"])

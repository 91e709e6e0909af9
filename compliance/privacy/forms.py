"""The privacy pages' forms: retention policy (and the MSP's defaults), legal holds, and
data-subject requests."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from django import forms
from django.utils import timezone

from compliance.privacy.models import DataKind
from edge.identifiers import CUSTOMER_ID, EMAIL, PHONE, IdentifierError, parse_identifier

WHOLE_TENANT = ""


class RetentionPolicyForm(forms.Form):
    kind = forms.ChoiceField(choices=DataKind.choices, label="Data")
    days = forms.IntegerField(min_value=1, max_value=36500, label="Keep for (days)")
    effective_from = forms.DateField(
        label="From",
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Today or later. Each run applies the policy in force that day.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {"effective_from": timezone.now().date()})
        kwargs.setdefault("auto_id", "policy_%s")  # the page has three forms
        super().__init__(*args, **kwargs)


class LegalHoldForm(forms.Form):
    agent = forms.ChoiceField(label="Covers", required=False)
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=2000)
    reference = forms.CharField(
        max_length=100, required=False, label="Case or matter number", help_text="Optional."
    )

    def __init__(
        self, *args: Any, agents: Iterable[tuple[uuid.UUID, str]] = (), **kwargs: Any
    ) -> None:
        kwargs.setdefault("auto_id", "hold_%s")
        super().__init__(*args, **kwargs)
        agent_field = self.fields["agent"]
        assert isinstance(agent_field, forms.ChoiceField)
        agent_field.choices = [(WHOLE_TENANT, "The whole tenant")] + [
            (str(pk), f"Agent {name}") for pk, name in agents
        ]


class DataSubjectRequestForm(forms.Form):
    email = forms.CharField(max_length=254, required=False)
    phone = forms.CharField(
        max_length=40, required=False, help_text="In international form: +44 20 7946 0958."
    )
    customer_id = forms.CharField(max_length=100, required=False, label="Customer id")
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=2000,
        required=False,
        help_text="How the request came in (kept until the data is erased).",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "request_%s")
        super().__init__(*args, **kwargs)

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        identifiers = []
        for kind in (EMAIL, PHONE, CUSTOMER_ID):
            value = (cleaned.get(kind) or "").strip()
            if not value:
                continue
            try:
                identifiers.append(parse_identifier(kind, value).as_dict())
            except IdentifierError as error:
                self.add_error(kind, str(error))
        if not identifiers and not self.errors:
            raise forms.ValidationError("Give the person's email, phone or customer id.")
        cleaned["identifiers"] = identifiers
        return cleaned


class VerifyForm(forms.Form):
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=2000,
        label="How was the person's identity checked?",
    )


class EraseForm(forms.Form):
    confirm = forms.CharField(max_length=20, label="Type ERASE to confirm")

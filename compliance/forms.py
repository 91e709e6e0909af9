"""Input of the data-flow pages: the time range, from the query string or the save form."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from django import forms

from compliance.services import MAX_RANGE

# range: (label, length)
RANGES: dict[str, tuple[str, dt.timedelta]] = {
    "24h": ("Last 24 hours", dt.timedelta(hours=24)),
    "7d": ("Last 7 days", dt.timedelta(days=7)),
    "30d": ("Last 30 days", dt.timedelta(days=30)),
    "90d": ("Last 90 days", dt.timedelta(days=90)),
}
DEFAULT_RANGE = "7d"


def relative_window(range_key: str, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The range up to the end of the current hour: within one hour the same range is
    the same window, so saving it twice gives the same diagram (and hash) unless new
    traffic arrived."""
    hour = now.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
    until = hour + dt.timedelta(hours=1)
    return until - RANGES[range_key][1], until


class DataFlowRangeForm(forms.Form):
    """``?range=7d``, or ``?since=2026-01-01&until=2026-06-30`` (whole UTC days, both
    included), which wins when both dates are given."""

    range = forms.ChoiceField(
        required=False,
        label="Time range",
        choices=[(key, label) for key, (label, _) in RANGES.items()],
    )
    since = forms.DateField(
        required=False, label="From (UTC)", widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        required=False, label="To (UTC, included)", widget=forms.DateInput(attrs={"type": "date"})
    )

    agent = forms.ChoiceField(required=False, label="Agent", choices=())
    agents = forms.ChoiceField(
        required=False,
        label="Agents drawn",
        choices=[
            ("", "One each; by department on a big site"),
            ("each", "One node each"),
            ("grouped", "One node per department"),
        ],
    )

    def __init__(self, *args: Any, agent_choices: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["agent"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [("", "Every agent"), *agent_choices]

    @property
    def agent_id(self) -> uuid.UUID | None:
        value = self.cleaned_data.get("agent") if self.is_valid() else None
        return uuid.UUID(value) if value else None

    @property
    def group_agents(self) -> bool | None:
        """False for one node per agent, True per department, None: as the site's size
        asks (``selectors.GROUP_AGENTS_OVER``)."""
        value = self.cleaned_data.get("agents") if self.is_valid() else None
        return {"each": False, "grouped": True}.get(value or "")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        since, until = data.get("since"), data.get("until")
        if (since is None) != (until is None):
            raise forms.ValidationError("Give both dates, or neither to use the time range.")
        if since is not None and until is not None:
            if since > until:
                raise forms.ValidationError("The first date must not be after the last.")
            if (until - since) + dt.timedelta(days=1) > MAX_RANGE:
                raise forms.ValidationError(f"The range may span at most {MAX_RANGE.days} days.")
        return data

    def window(self, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
        """The chosen window; the default range when the form is not valid."""
        if not self.is_valid():
            return relative_window(DEFAULT_RANGE, now)
        since, until = self.cleaned_data.get("since"), self.cleaned_data.get("until")
        if since is not None and until is not None:
            start = dt.datetime.combine(since, dt.time(), tzinfo=dt.UTC)
            end = dt.datetime.combine(until, dt.time(), tzinfo=dt.UTC) + dt.timedelta(days=1)
            return start, end
        return relative_window(self.cleaned_data.get("range") or DEFAULT_RANGE, now)


class SnapshotForm(forms.Form):
    """The exact window of the diagram on the page, posted back to save it."""

    since = forms.DateTimeField()
    until = forms.DateTimeField()

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        since, until = data.get("since"), data.get("until")
        if since is not None and until is not None:
            data["since"], data["until"] = since.astimezone(dt.UTC), until.astimezone(dt.UTC)
        return data


# --- the control pages ---------------------------------------------------------------------


class ExceptionRequestForm(forms.Form):
    """A request for an exception to a control, until a day at most a year ahead."""

    control = forms.ChoiceField(label="Control")
    entity = forms.CharField(
        required=False,
        max_length=200,
        label="Failing entity (optional)",
        help_text="The key the evidence names, e.g. user:…; empty: the whole control.",
    )
    justification = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        min_length=20,
        max_length=2000,
        help_text="Why the deviation is acceptable, and the compensating control.",
    )
    expires_on = forms.DateField(
        label="Until (UTC, included)", widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args: Any, controls: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["control"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = controls

    def expires_at(self) -> dt.datetime:
        day: dt.date = self.cleaned_data["expires_on"]
        return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)


class ExceptionDecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=[("approve", "Approve"), ("reject", "Reject")])
    note = forms.CharField(required=False, max_length=2000)

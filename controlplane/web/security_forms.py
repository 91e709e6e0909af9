"""The forms of the security pages: the filters of an alert list (the staff queue and a
tenant's page), the bulk actions on chosen alerts, and an incident's state and notes."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Collection
from typing import Any

from django import forms

from controlplane.security.models import Kind, Severity, State
from controlplane.security.selectors import ACTIVE_STATES, AlertQuery
from controlplane.web.forms import NO_CONTROL_CHARACTERS
from controlplane.web.sorting import Column, choices

STATES = {
    "active": ("Open or acknowledged", ACTIVE_STATES),
    "open": ("Open", (State.OPEN,)),
    "acknowledged": ("Acknowledged", (State.ACKNOWLEDGED,)),
    "resolved": ("Resolved", (State.RESOLVED,)),
    "false_positive": ("False positive", (State.FALSE_POSITIVE,)),
    "all": ("Any state", ()),
}
DEFAULT_STATE = "active"


def _no_value(row: Any) -> Any:  # the lists sort in the database (ORDER below)
    return None


# Sortable columns; ORDER says how the database sorts each, largest (or A) first.
SORTS: dict[str, Column[Any]] = {
    "severity": Column("Severity", _no_value),
    "raised": Column("Raised", _no_value),
    "started": Column("Started", _no_value),
    "tenant": Column("Tenant", _no_value, largest_first=False),
    "kind": Column("Kind", _no_value, largest_first=False),
    "state": Column("State", _no_value, largest_first=False),
    "sla": Column("SLA due", _no_value, largest_first=False),
}
ORDER = {
    "severity": "severity_rank",
    "raised": "raised_at",
    "started": "started_at",
    "tenant": "tenant__slug",
    "kind": "kind",
    "state": "state",
    "sla": "sla_due_at",
}
DEFAULT_SORT = "severity"


def order_by(sort: str) -> list[str]:
    """The ORDER BY of ``sort`` (a SORTS key, ``-`` reversing it), newest last."""
    key = sort.removeprefix("-")
    descending = SORTS[key].largest_first != sort.startswith("-")
    field = ORDER[key]
    return [f"-{field}" if descending else field, "-raised_at", "pk"]


class AlertFilterForm(forms.Form):
    """``?severity=&kind=&state=&agent=&since=&until=&sort=`` of a list of alerts.
    The console's queue adds ``tenant`` and takes the agent as text (every tenant's
    agents are too many for a menu); a tenant's page offers its agents."""

    severity = forms.ChoiceField(
        required=False, choices=[("", "Any severity"), *reversed(Severity.choices)]
    )
    kind = forms.ChoiceField(required=False, choices=[("", "Any kind"), *Kind.choices])
    state = forms.ChoiceField(
        required=False, choices=[(key, label) for key, (label, _) in STATES.items()]
    )
    agent = forms.ChoiceField(required=False, choices=())
    since = forms.DateField(
        required=False, label="From (UTC)", widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        required=False, label="To (UTC, included)", widget=forms.DateInput(attrs={"type": "date"})
    )
    sort = forms.ChoiceField(required=False, choices=choices(SORTS), widget=forms.HiddenInput)

    def __init__(
        self,
        *args: Any,
        agents: list[tuple[str, str]] | None = None,
        tenants: list[tuple[str, str]] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        if agents is None:
            self.fields["agent"] = forms.CharField(
                required=False,
                max_length=200,
                label="Agent",
                validators=[NO_CONTROL_CHARACTERS],
                help_text="Name (or part of it) or id.",
            )
        else:
            field = self.fields["agent"]
            assert isinstance(field, forms.ChoiceField)
            field.choices = [("", "Any agent"), *agents]
        if tenants is not None:
            self.fields["tenant"] = forms.ChoiceField(
                required=False, choices=[("", "Any tenant"), *tenants]
            )
            self.order_fields(["severity", "kind", "state", "tenant", "agent"])

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            self.add_error("until", "The last day comes before the first.")
        return data

    def value(self, name: str, default: str = "") -> str:
        return str((self.cleaned_data.get(name) if self.is_valid() else None) or default)

    @property
    def sort_key(self) -> str:
        return self.value("sort", DEFAULT_SORT)

    @property
    def state_key(self) -> str:
        return self.value("state", DEFAULT_STATE)

    def query(self, agent_ids: Callable[[str], Collection[uuid.UUID] | None]) -> AlertQuery:
        """The chosen filters; ``agent_ids`` turns the agent field's value into the ids
        of the agents it names (None: no agent filter)."""
        if not self.is_valid():
            return AlertQuery(states=ACTIVE_STATES)
        data = self.cleaned_data
        agent = (data.get("agent") or "").strip()
        since, until = data.get("since"), data.get("until")
        return AlertQuery(
            severity=data.get("severity") or "",
            kind=data.get("kind") or "",
            states=STATES[self.state_key][1],
            tenant_slug=data.get("tenant") or "",
            agent_ids=agent_ids(agent) if agent else None,
            since=dt.datetime.combine(since, dt.time(), dt.UTC) if since else None,
            until=(
                dt.datetime.combine(until + dt.timedelta(days=1), dt.time(), dt.UTC)
                if until
                else None
            ),
        )

    @property
    def kept(self) -> dict[str, str]:
        """The filters to keep in sort, page and export links."""
        names = [name for name in self.fields if name != "sort"]
        return {name: self.value(name) for name in names}

    @property
    def filtered(self) -> bool:
        kept = self.kept
        return any(value for name, value in kept.items() if name != "state") or (
            kept.get("state", "") not in ("", DEFAULT_STATE)
        )


BULK_ACTIONS = {
    "acknowledge": "Acknowledge",
    "assign": "Assign to me",
    "resolve": "Resolve",
    "false_positive": "Mark false positive",
    "incident": "Open one incident from them",
}
NEEDS_REASON = ("resolve", "false_positive")


class AlertIdsField(forms.Field):
    """The ids of the alerts ticked in a list (``alerts`` repeated)."""

    widget = forms.MultipleHiddenInput
    default_error_messages = {"required": "Choose at least one alert."}

    def to_python(self, value: Any) -> list[uuid.UUID]:
        if not value:
            return []
        try:
            return [uuid.UUID(str(item)) for item in value]
        except ValueError:
            raise forms.ValidationError("Choose alerts from the list.") from None


class BulkActionForm(forms.Form):
    alerts = AlertIdsField()
    action = forms.ChoiceField(choices=list(BULK_ACTIONS.items()))
    reason = forms.CharField(
        required=False,
        max_length=2000,
        label="Reason or note",
        help_text="Needed to resolve or mark false positive; kept on each alert's timeline.",
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("action") in NEEDS_REASON and not (data.get("reason") or "").strip():
            self.add_error("reason", "Say why: it stays on the alert's timeline.")
        return data


class StateForm(forms.Form):
    """A state change of an alert or incident, with a note."""

    state = forms.ChoiceField(choices=State.choices)
    note = forms.CharField(
        required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 2})
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if (
            data.get("state") in (State.RESOLVED, State.FALSE_POSITIVE)
            and not (data.get("note") or "").strip()
        ):
            self.add_error("note", "Say why: it stays on the timeline.")
        return data


class NoteForm(forms.Form):
    text = forms.CharField(max_length=5000, label="Note", widget=forms.Textarea(attrs={"rows": 3}))


class QuarantineForm(forms.Form):
    agent = forms.UUIDField()
    reason = forms.CharField(max_length=2000, validators=[NO_CONTROL_CHARACTERS])

"""Forms of the registry: sites, edge nodes, devices and agents (with their operating
window). They check input; the services make the change and enforce the rules."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from controlplane.agents.models import Agent
from controlplane.web.forms import CommaListField


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

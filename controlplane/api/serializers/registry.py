"""Sites, edge nodes, devices, agents and agent keys."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from controlplane.accounts.models import User
from controlplane.agents.models import Agent, AgentKey, Device, EdgeNode, Site
from controlplane.api.serializers.common import (
    EXAMPLE_AGENT_ID,
    EXAMPLE_DEPARTMENT_ID,
    EXAMPLE_DEVICE_ID,
    EXAMPLE_KEY_ID,
    EXAMPLE_NODE_ID,
    EXAMPLE_SITE_ID,
    EXAMPLE_TIME,
    EXAMPLE_USER_ID,
    ScopedRelatedField,
    ShownOnceField,
    request_example,
    response_example,
)
from controlplane.web.edge_status import STATES, node_state
from tenants.models import Department, Membership

SITE_EXAMPLE = {
    "id": EXAMPLE_SITE_ID,
    "name": "Berlin office",
    "location": "Torstraße 1, Berlin",
    "config_version": 3,
    "collector_auto_register": False,
    "created_at": EXAMPLE_TIME,
}


@extend_schema_serializer(
    examples=[
        request_example({"name": "Berlin office", "location": "Torstraße 1, Berlin"}),
        response_example(SITE_EXAMPLE),
    ]
)
class SiteSerializer(serializers.ModelSerializer):
    """A customer location with one or more edge nodes."""

    name = serializers.CharField(max_length=200)
    location = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    collector_auto_register = serializers.BooleanField(
        required=False,
        default=False,
        help_text="A site collector may register agents the site does not know yet (by "
        "their agent.id or service.name); otherwise their spans are refused.",
    )

    class Meta:
        model = Site
        fields = [
            "id",
            "name",
            "location",
            "config_version",
            "collector_auto_register",
            "created_at",
        ]
        read_only_fields = ["id", "config_version", "created_at"]


@extend_schema_serializer(examples=[request_example({"collector_auto_register": True})])
class SiteUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    location = serializers.CharField(max_length=200, required=False, allow_blank=True)
    collector_auto_register = serializers.BooleanField(required=False)


EDGE_NODE_EXAMPLE = {
    "id": EXAMPLE_NODE_ID,
    "site": EXAMPLE_SITE_ID,
    "name": "berlin-edge-1",
    "pull_url": "https://edge1.berlin.acme.example:8443",
    "agent_url": "http://10.0.0.5:4318",
    "expected_version": "",
    "created_at": EXAMPLE_TIME,
    "config_version_applied": 3,
    "last_pull_at": EXAMPLE_TIME,
    "last_success_at": EXAMPLE_TIME,
    "last_error": "",
    "last_error_at": None,
    "consecutive_failures": 0,
    "dead_letter_count": 0,
    "health": "healthy",
    "heartbeat_at": EXAMPLE_TIME,
}


@extend_schema_serializer(examples=[response_example(EDGE_NODE_EXAMPLE)])
class EdgeNodeSerializer(serializers.ModelSerializer):
    """The routing gateway and telemetry collector at a site, with its pull state."""

    site = serializers.UUIDField(source="site_id", read_only=True)
    health = serializers.SerializerMethodField(
        help_text="healthy, degraded (records wait as dead letters), late, down (the latest "
        "pull failed, or none succeeded for 5 minutes) or pending (never pulled)."
    )

    class Meta:
        model = EdgeNode
        fields = [
            "id",
            "site",
            "name",
            "pull_url",
            "agent_url",
            "expected_version",
            "created_at",
            "config_version_applied",
            "last_pull_at",
            "last_success_at",
            "last_error",
            "last_error_at",
            "consecutive_failures",
            "dead_letter_count",
            "health",
            "heartbeat_at",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.ChoiceField(choices=list(STATES)))
    def get_health(self, node: EdgeNode) -> str:
        return node_state(node, timezone.now())


@extend_schema_serializer(
    examples=[
        response_example(
            {**EDGE_NODE_EXAMPLE, "token": "acpn_mE3y…"}, "Registered", status_codes=["201"]
        )
    ]
)
class EdgeNodeCreatedSerializer(EdgeNodeSerializer):
    token = ShownOnceField(
        help_text="The node token: configure it on the edge node. Shown only this once."
    )

    class Meta(EdgeNodeSerializer.Meta):
        fields = [*EdgeNodeSerializer.Meta.fields, "token"]
        read_only_fields = fields


def _sites() -> Any:
    return Site.objects.all()


def _devices() -> Any:
    return Device.objects.all()


def _departments() -> Any:
    return Department.objects.all()


def _members() -> Any:
    return User.objects.filter(pk__in=Membership.objects.values("user_id"), is_active=True)


@extend_schema_serializer(
    examples=[
        request_example(
            {
                "site": EXAMPLE_SITE_ID,
                "name": "berlin-edge-1",
                "pull_url": "https://edge1.berlin.acme.example:8443",
                "agent_url": "http://10.0.0.5:4318",
            }
        )
    ]
)
class EdgeNodeCreateSerializer(serializers.Serializer):
    site = ScopedRelatedField(_sites, help_text="The site's id.")
    name = serializers.CharField(max_length=200)
    pull_url = serializers.URLField(max_length=200, help_text="Where the control plane pulls.")
    agent_url = serializers.URLField(max_length=200, help_text="Where agents reach the node.")
    expected_version = serializers.CharField(max_length=40, required=False, default="")


DEVICE_EXAMPLE = {
    "id": EXAMPLE_DEVICE_ID,
    "site": EXAMPLE_SITE_ID,
    "name": "finance-ws-07",
    "fingerprint": "Dell OptiPlex 7010, SN 4KX2Q3",
    "created_at": EXAMPLE_TIME,
    "revoked_at": None,
}


@extend_schema_serializer(examples=[response_example(DEVICE_EXAMPLE)])
class DeviceSerializer(serializers.ModelSerializer):
    """Hardware agents run on. Agents prove it with the device key."""

    site = serializers.UUIDField(source="site_id", read_only=True)

    class Meta:
        model = Device
        fields = ["id", "site", "name", "fingerprint", "created_at", "revoked_at"]
        read_only_fields = fields


@extend_schema_serializer(
    examples=[
        response_example({**DEVICE_EXAMPLE, "key": "acpd_Qm9v…"}, "With its key", ["200", "201"])
    ]
)
class DeviceWithKeySerializer(DeviceSerializer):
    key = ShownOnceField(
        help_text="The device key: install it on the device. Shown only this once."
    )

    class Meta(DeviceSerializer.Meta):
        fields = [*DeviceSerializer.Meta.fields, "key"]
        read_only_fields = fields


@extend_schema_serializer(
    examples=[
        request_example(
            {
                "site": EXAMPLE_SITE_ID,
                "name": "finance-ws-07",
                "fingerprint": "Dell OptiPlex 7010, SN 4KX2Q3",
            }
        )
    ]
)
class DeviceRegisterSerializer(serializers.Serializer):
    site = ScopedRelatedField(_sites, help_text="The site's id.")
    name = serializers.CharField(max_length=200)
    fingerprint = serializers.CharField(max_length=200, required=False, default="")


class OperatingWindowSerializer(serializers.Serializer):
    """When the agent may work. Outside the window its calls are refused."""

    days = serializers.ListField(
        child=serializers.IntegerField(min_value=0, max_value=6),
        min_length=1,
        max_length=7,
        help_text="Weekdays, Monday = 0.",
    )
    start = serializers.RegexField(r"^([01]\d|2[0-3]):[0-5]\d$", help_text="HH:MM")
    end = serializers.RegexField(r"^([01]\d|2[0-3]):[0-5]\d$", help_text="HH:MM")
    tz = serializers.CharField(max_length=64, default="UTC", help_text="An IANA time zone.")

    def validate_tz(self, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise serializers.ValidationError(
                "Give an IANA time zone, e.g. Europe/Berlin."
            ) from None
        return value

    def validate_days(self, value: list[int]) -> list[int]:
        return sorted(set(value))

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        start = dt.time.fromisoformat(attrs["start"])
        end = dt.time.fromisoformat(attrs["end"])
        if start >= end:
            raise serializers.ValidationError({"end": "End after the start."})
        return attrs


AGENT_EXAMPLE = {
    "id": EXAMPLE_AGENT_ID,
    "name": "invoice-triage",
    "department": EXAMPLE_DEPARTMENT_ID,
    "owner": EXAMPLE_USER_ID,
    "purpose": "Sorts incoming supplier invoices.",
    "role": "finance",
    "data_classes": ["financial"],
    "tools": ["erp.lookup"],
    "operating_window": {"days": [0, 1, 2, 3, 4], "start": "08:00", "end": "18:00", "tz": "UTC"},
    "allowed_models": ["gpt-4o-mini"],
    "tier": "simple",
    "device": EXAMPLE_DEVICE_ID,
    "site": None,
    "max_requests_per_minute": None,
    "status": "active",
    "created_at": EXAMPLE_TIME,
}


@extend_schema_serializer(examples=[response_example(AGENT_EXAMPLE)])
class AgentSerializer(serializers.ModelSerializer):
    """An AI agent the MSP operates for the tenant."""

    department = serializers.UUIDField(source="department_id", read_only=True, allow_null=True)
    owner = serializers.UUIDField(source="owner_id", read_only=True, allow_null=True)
    device = serializers.UUIDField(source="device_id", read_only=True, allow_null=True)
    site = serializers.UUIDField(source="site_id", read_only=True, allow_null=True)
    operating_window = serializers.SerializerMethodField()
    tier = serializers.ChoiceField(
        choices=Agent.Tier.choices,
        read_only=True,
        allow_blank=True,
        help_text="Task complexity tier for routing: simple, standard, complex, or auto (the "
        "edge scores each request into one of them); empty: as its role default.",
    )

    class Meta:
        model = Agent
        fields = [
            "id",
            "name",
            "department",
            "owner",
            "purpose",
            "role",
            "data_classes",
            "tools",
            "operating_window",
            "allowed_models",
            "tier",
            "device",
            "site",
            "max_requests_per_minute",
            "status",
            "created_at",
        ]
        read_only_fields = fields

    @extend_schema_field(OperatingWindowSerializer(allow_null=True))
    def get_operating_window(self, agent: Agent) -> dict[str, Any] | None:
        return agent.operating_window or None


_AGENT_REQUEST = {
    key: value for key, value in AGENT_EXAMPLE.items() if key not in {"id", "status", "created_at"}
}


@extend_schema_serializer(examples=[request_example(_AGENT_REQUEST)])
class AgentWriteSerializer(serializers.Serializer):
    """What an agent is registered with. ``status`` can only be changed, not set at
    registration (a new agent is active)."""

    name = serializers.CharField(max_length=200)
    department = ScopedRelatedField(_departments, required=False, allow_null=True)
    owner = ScopedRelatedField(
        _members, required=False, allow_null=True, help_text="A person of the tenant (user id)."
    )
    purpose = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    role = serializers.CharField(
        max_length=50, required=False, allow_blank=True, help_text="Policy role, e.g. finance."
    )
    data_classes = serializers.ListField(
        child=serializers.CharField(max_length=50), required=False, max_length=50
    )
    tools = serializers.ListField(
        child=serializers.CharField(max_length=100), required=False, max_length=200
    )
    operating_window = OperatingWindowSerializer(required=False, allow_null=True)
    allowed_models = serializers.ListField(
        child=serializers.CharField(max_length=200),
        required=False,
        max_length=200,
        help_text="Models the agent may use; empty: as its role default (empty there: any).",
    )
    tier = serializers.ChoiceField(
        choices=Agent.Tier.choices,
        required=False,
        allow_blank=True,
        help_text="Task complexity tier for routing: simple, standard, complex, or auto (the "
        "edge scores each request into one of them); empty: as its role default.",
    )
    device = ScopedRelatedField(
        _devices, required=False, allow_null=True, help_text="The device the agent runs on."
    )
    site = ScopedRelatedField(
        _sites,
        required=False,
        allow_null=True,
        help_text="The site whose collector may send the agent's spans, when the agent "
        "runs on no device there (an agent on a device is at its device's site).",
    )
    max_requests_per_minute = serializers.IntegerField(
        min_value=1,
        required=False,
        allow_null=True,
        help_text="Requests a minute the gateway lets this agent send (429 beyond); null: as "
        "its role default, else the tenant policy.",
    )

    def validate_operating_window(self, value: dict[str, Any] | None) -> dict[str, Any]:
        return dict(value) if value else {}

    def validate_allowed_models(self, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise serializers.ValidationError("A model is listed twice.")
        return value


@extend_schema_serializer(examples=[request_example({"status": "disabled"})])
class AgentUpdateSerializer(AgentWriteSerializer):
    status = serializers.ChoiceField(choices=Agent.Status.choices, required=False)


AGENT_KEY_EXAMPLE = {
    "id": EXAMPLE_KEY_ID,
    "agent": EXAMPLE_AGENT_ID,
    "key_id": "3f9a0c1d2e4b",
    "created_at": EXAMPLE_TIME,
    "revoked_at": None,
}


@extend_schema_serializer(examples=[response_example(AGENT_KEY_EXAMPLE)])
class AgentKeySerializer(serializers.ModelSerializer):
    """A credential of one agent, valid only from the agent's device."""

    agent = serializers.UUIDField(source="agent_id", read_only=True)

    class Meta:
        model = AgentKey
        fields = ["id", "agent", "key_id", "created_at", "revoked_at"]
        read_only_fields = fields


@extend_schema_serializer(
    examples=[
        response_example(
            {**AGENT_KEY_EXAMPLE, "key": "acpk_3f9a0c1d2e4b_c2Vj…"}, "Issued", status_codes=["201"]
        )
    ]
)
class AgentKeyIssuedSerializer(AgentKeySerializer):
    key = ShownOnceField(help_text="The agent key (acpk_…). Shown only this once.")

    class Meta(AgentKeySerializer.Meta):
        fields = [*AgentKeySerializer.Meta.fields, "key"]
        read_only_fields = fields

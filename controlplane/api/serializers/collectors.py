"""Site collector keys: the credential an OpenTelemetry Collector at a site sends
the spans of the site's agents with."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from controlplane.agents.models import SiteCollectorKey
from controlplane.api.serializers.common import (
    EXAMPLE_KEY_ID,
    EXAMPLE_SITE_ID,
    EXAMPLE_TIME,
    ShownOnceField,
    request_example,
    response_example,
)

COLLECTOR_KEY_EXAMPLE = {
    "id": EXAMPLE_KEY_ID,
    "site": EXAMPLE_SITE_ID,
    "name": "otel-collector-berlin",
    "key_id": "5b21c9e0a7d4",
    "created_at": EXAMPLE_TIME,
    "rotated_at": None,
    "revoked_at": None,
}


@extend_schema_serializer(examples=[response_example(COLLECTOR_KEY_EXAMPLE)])
class CollectorKeySerializer(serializers.ModelSerializer):
    """A site collector's credential; it may send the spans of any agent registered at
    the site (docs/edge-protocol.md, "Site collectors")."""

    site = serializers.UUIDField(source="site_id", read_only=True)

    class Meta:
        model = SiteCollectorKey
        fields = ["id", "site", "name", "key_id", "created_at", "rotated_at", "revoked_at"]
        read_only_fields = fields


@extend_schema_serializer(
    examples=[
        response_example(
            {**COLLECTOR_KEY_EXAMPLE, "key": "acpc_5b21c9e0a7d4_T3Bl…"},
            "With its key",
            ["200", "201"],
        )
    ]
)
class CollectorKeyIssuedSerializer(CollectorKeySerializer):
    key = ShownOnceField(
        help_text="The collector key (acpc_…): the collector sends it as "
        "Authorization: Bearer. Shown only this once."
    )

    class Meta(CollectorKeySerializer.Meta):
        fields = [*CollectorKeySerializer.Meta.fields, "key"]
        read_only_fields = fields


@extend_schema_serializer(examples=[request_example({"name": "otel-collector-berlin"})])
class CollectorKeyCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, help_text="Which collector uses it.")

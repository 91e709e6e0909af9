"""The caller (``/me``), personal API tokens, and model prices."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from billing.models import ModelPrice
from controlplane.accounts.models import StaffRole
from controlplane.api.models import ApiToken
from controlplane.api.serializers.common import (
    EXAMPLE_PRICE_ID,
    EXAMPLE_TIME,
    EXAMPLE_TOKEN_ID,
    EXAMPLE_USER_ID,
    ShownOnceField,
    request_example,
    response_example,
)
from tenants.models import TenantRole

TOKEN_EXAMPLE = {
    "id": EXAMPLE_TOKEN_ID,
    "name": "provisioning script",
    "prefix": "9c2f1a7b3d4e",
    "read_only": False,
    "tenant": "acme",
    "created_at": EXAMPLE_TIME,
    "expires_at": "2027-02-24T09:30:00Z",
    "last_used_at": None,
    "revoked_at": None,
}


@extend_schema_serializer(examples=[response_example(TOKEN_EXAMPLE)])
class ApiTokenSerializer(serializers.ModelSerializer):
    """A personal API token. The secret itself is never shown again after creation."""

    tenant: Any = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)

    class Meta:
        model = ApiToken
        fields = [
            "id",
            "name",
            "prefix",
            "read_only",
            "tenant",
            "created_at",
            "expires_at",
            "last_used_at",
            "revoked_at",
        ]
        read_only_fields = fields


@extend_schema_serializer(
    examples=[
        response_example(
            {**TOKEN_EXAMPLE, "token": "acp_9c2f1a7b3d4e_Xy…"}, "Created", status_codes=["201"]
        )
    ]
)
class ApiTokenCreatedSerializer(ApiTokenSerializer):
    token = ShownOnceField(help_text="The bearer token. Shown only this once; store it now.")

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "token"]
        read_only_fields = fields


@extend_schema_serializer(
    examples=[
        request_example({"name": "provisioning script", "read_only": False, "expires_in_days": 30})
    ]
)
class ApiTokenCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, help_text="A label to recognise the token.")
    read_only = serializers.BooleanField(  # type: ignore[assignment]
        default=False, help_text="Allow reads only."
    )
    tenant = serializers.CharField(
        max_length=50,
        required=False,
        allow_null=True,
        default=None,
        help_text="Slug of the one tenant the token may address. Customer tokens are always "
        "limited to their own tenant; a token restricted to a tenant creates only tokens "
        "restricted to it.",
    )
    expires_in_days = serializers.IntegerField(
        min_value=1,
        max_value=365,
        required=False,
        help_text="Days until the token expires (default API_TOKEN_DEFAULT_DAYS, 90).",
    )


class MeTokenSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    prefix = serializers.CharField()
    read_only = serializers.BooleanField()  # type: ignore[assignment]
    tenant = serializers.CharField(allow_null=True, help_text="The tenant it is limited to.")
    expires_at = serializers.DateTimeField(allow_null=True)


@extend_schema_serializer(
    examples=[
        response_example(
            {
                "id": EXAMPLE_USER_ID,
                "email": "dana@acme.example",
                "full_name": "Dana Scully",
                "staff_role": None,
                "tenant": "acme",
                "tenant_role": "admin",
                "can_write": True,
                "token": {
                    "id": EXAMPLE_TOKEN_ID,
                    "name": "provisioning script",
                    "prefix": "9c2f1a7b3d4e",
                    "read_only": False,
                    "tenant": "acme",
                    "expires_at": "2027-02-24T09:30:00Z",
                },
            }
        )
    ]
)
class MeSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    email = serializers.EmailField()
    full_name = serializers.CharField()
    staff_role = serializers.ChoiceField(choices=StaffRole.choices, allow_null=True)
    tenant = serializers.CharField(allow_null=True, help_text="A customer's tenant (slug).")
    tenant_role = serializers.ChoiceField(choices=TenantRole.choices, allow_null=True)
    can_write = serializers.BooleanField(
        help_text="Whether this token may change anything (its role and not read-only)."
    )
    token = MeTokenSerializer()


PRICE_EXAMPLE = {
    "id": EXAMPLE_PRICE_ID,
    "provider": "openai",
    "model": "gpt-4.1-mini",
    "input_per_million": "0.400000",
    "output_per_million": "1.600000",
    "effective_from": "2026-11-01T00:00:00Z",
    "created_at": EXAMPLE_TIME,
}


@extend_schema_serializer(
    examples=[
        request_example(
            {
                "provider": "openai",
                "model": "gpt-4.1-mini",
                "input_per_million": "0.400000",
                "output_per_million": "1.600000",
                "effective_from": "2026-11-01T00:00:00Z",
            }
        ),
        response_example(PRICE_EXAMPLE),
    ]
)
class ModelPriceSerializer(serializers.ModelSerializer):
    """What the MSP pays per million tokens of a model, from ``effective_from`` on."""

    provider = serializers.CharField(max_length=100)
    model = serializers.CharField(max_length=200)
    input_per_million = serializers.DecimalField(max_digits=12, decimal_places=6, min_value=0)
    output_per_million = serializers.DecimalField(max_digits=12, decimal_places=6, min_value=0)

    class Meta:
        model = ModelPrice
        fields = [
            "id",
            "provider",
            "model",
            "input_per_million",
            "output_per_million",
            "effective_from",
            "created_at",
        ]
        read_only_fields = ["id", "created_at"]
        validators: list[object] = []  # uniqueness is the service's job (a 400 on "model")

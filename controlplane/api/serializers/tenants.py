"""Tenants, departments, people and roles, invitations."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from controlplane.api.serializers.common import (
    EXAMPLE_DEPARTMENT_ID,
    EXAMPLE_INVITATION_ID,
    EXAMPLE_MEMBERSHIP_ID,
    EXAMPLE_TENANT_ID,
    EXAMPLE_TIME,
    EXAMPLE_USER_ID,
    ScopedRelatedField,
    ShownOnceField,
    request_example,
    response_example,
)
from tenants.models import Department, Invitation, Membership, Tenant, TenantRole, slug_validator

TENANT_EXAMPLE = {
    "id": EXAMPLE_TENANT_ID,
    "slug": "acme",
    "name": "Acme Corp",
    "status": "active",
    "mfa_required": True,
    "retention_days": 395,
    "body_residency": False,
    "created_at": EXAMPLE_TIME,
}


@extend_schema_serializer(examples=[response_example(TENANT_EXAMPLE, "Acme")])
class TenantSerializer(serializers.ModelSerializer):
    class Meta:
        model = Tenant
        fields = [
            "id",
            "slug",
            "name",
            "status",
            "mfa_required",
            "retention_days",
            "body_residency",
            "created_at",
        ]
        read_only_fields = fields


@extend_schema_serializer(
    examples=[request_example({"slug": "acme", "name": "Acme Corp", "mfa_required": True})]
)
class TenantCreateSerializer(serializers.Serializer):
    slug = serializers.CharField(
        max_length=50,
        validators=[slug_validator],
        help_text="Lowercase letters, digits and hyphens; used in URLs. Cannot change.",
    )
    name = serializers.CharField(max_length=200)
    mfa_required = serializers.BooleanField(default=False)


@extend_schema_serializer(examples=[request_example({"mfa_required": True})])
class TenantUpdateSerializer(serializers.Serializer):
    """Customers' owners may change ``mfa_required``; the rest is for MSP staff."""

    name = serializers.CharField(max_length=200, required=False)
    status = serializers.ChoiceField(choices=Tenant.Status.choices, required=False)
    mfa_required = serializers.BooleanField(required=False)
    retention_days = serializers.IntegerField(min_value=1, max_value=3650, required=False)
    body_residency = serializers.BooleanField(
        required=False,
        help_text="Prompts and responses stay at the tenant's edge nodes; the control plane "
        "keeps their SHA-256 and reads them from the edge when a trace is opened. MSP staff "
        "only.",
    )


DEPARTMENT_EXAMPLE = {
    "id": EXAMPLE_DEPARTMENT_ID,
    "name": "Finance",
    "code": "FIN-01",
    "created_at": EXAMPLE_TIME,
}


@extend_schema_serializer(
    examples=[
        request_example({"name": "Finance", "code": "FIN-01"}),
        response_example(DEPARTMENT_EXAMPLE),
    ]
)
class DepartmentSerializer(serializers.ModelSerializer):
    """A cost centre: usage and invoices are attributed to it."""

    name = serializers.CharField(max_length=200)
    code = serializers.CharField(max_length=50, required=False, allow_blank=True, default="")

    class Meta:
        model = Department
        fields = ["id", "name", "code", "created_at"]
        read_only_fields = ["id", "created_at"]


MEMBERSHIP_EXAMPLE = {
    "id": EXAMPLE_MEMBERSHIP_ID,
    "user_id": EXAMPLE_USER_ID,
    "email": "dana@acme.example",
    "full_name": "Dana Scully",
    "is_active": True,
    "role": "admin",
    "departments": [EXAMPLE_DEPARTMENT_ID],
    "created_at": EXAMPLE_TIME,
}


@extend_schema_serializer(examples=[response_example(MEMBERSHIP_EXAMPLE)])
class MembershipSerializer(serializers.ModelSerializer):
    """A person of the tenant and their role. People join through invitations."""

    user_id = serializers.UUIDField(read_only=True)
    email = serializers.EmailField(source="user.email", read_only=True)
    full_name = serializers.CharField(source="user.full_name", read_only=True)
    is_active = serializers.BooleanField(source="user.is_active", read_only=True)
    departments: Any = serializers.PrimaryKeyRelatedField(many=True, read_only=True)

    class Meta:
        model = Membership
        fields = [
            "id",
            "user_id",
            "email",
            "full_name",
            "is_active",
            "role",
            "departments",
            "created_at",
        ]
        read_only_fields = fields


@extend_schema_serializer(
    examples=[
        request_example({"role": "billing"}),
        request_example({"departments": [EXAMPLE_DEPARTMENT_ID]}, name="Limit to departments"),
    ]
)
class MembershipUpdateSerializer(serializers.Serializer):
    role = serializers.ChoiceField(
        choices=TenantRole.choices,
        required=False,
        help_text="Only owners (and MSP staff) grant or take away the owner role.",
    )
    departments = serializers.ListField(
        child=ScopedRelatedField(lambda: Department.objects.all()),
        required=False,
        max_length=500,
        help_text="The departments this person's dashboards, traces and data flows are "
        "limited to; an empty list: the whole tenant.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs:
            raise serializers.ValidationError("Give a role, departments, or both.")
        return attrs


INVITATION_EXAMPLE = {
    "id": EXAMPLE_INVITATION_ID,
    "email": "sam@acme.example",
    "role": "member",
    "status": "pending",
    "invited_by": "dana@acme.example",
    "created_at": EXAMPLE_TIME,
    "expires_at": "2026-12-03T09:30:00Z",
    "accepted_at": None,
    "revoked_at": None,
}


@extend_schema_serializer(examples=[response_example(INVITATION_EXAMPLE)])
class InvitationSerializer(serializers.ModelSerializer):
    status = serializers.SerializerMethodField()
    invited_by = serializers.SerializerMethodField()

    class Meta:
        model = Invitation
        fields = [
            "id",
            "email",
            "role",
            "status",
            "invited_by",
            "created_at",
            "expires_at",
            "accepted_at",
            "revoked_at",
        ]
        read_only_fields = fields

    @extend_schema_field(
        serializers.ChoiceField(choices=["pending", "accepted", "revoked", "expired"])
    )
    def get_status(self, invitation: Invitation) -> str:
        if invitation.accepted_at:
            return "accepted"
        if invitation.revoked_at:
            return "revoked"
        if invitation.expires_at <= timezone.now():
            return "expired"
        return "pending"

    @extend_schema_field(serializers.EmailField(allow_null=True))
    def get_invited_by(self, invitation: Invitation) -> str | None:
        return invitation.invited_by.email if invitation.invited_by else None


@extend_schema_serializer(
    examples=[
        response_example(
            {**INVITATION_EXAMPLE, "link": "https://cp.msp.example/invitations/Zq3…/"},
            status_codes=["201"],
        )
    ]
)
class InvitationCreatedSerializer(InvitationSerializer):
    link = ShownOnceField(help_text="The invitation link, also emailed. Shown only this once.")

    class Meta(InvitationSerializer.Meta):
        fields = [*InvitationSerializer.Meta.fields, "link"]
        read_only_fields = fields


@extend_schema_serializer(
    examples=[request_example({"email": "sam@acme.example", "role": "member"})]
)
class InvitationCreateSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    role = serializers.ChoiceField(
        choices=TenantRole.choices, help_text="Only owners (and MSP staff) invite owners."
    )

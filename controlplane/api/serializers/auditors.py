"""Evidence packages and outside auditors' accounts
(docs/compliance-auditors.md)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from compliance.models import EvidencePackage
from compliance.periods import Period
from controlplane.accounts.models import AuditorAccount
from controlplane.api.serializers.common import (
    EXAMPLE_TIME,
    EXAMPLE_USER_ID,
    request_example,
    response_example,
)

EXAMPLE_PACKAGE_ID = "0193f0a2-6c1e-7b3a-9f10-2b7c1d5e8a30"
EXAMPLE_AUDITOR_ID = "0193f0a2-6c1e-7b3a-9f10-2b7c1d5e8a31"
EXAMPLE_PACKAGE = {
    "id": EXAMPLE_PACKAGE_ID,
    "period_start": "2026-07-01",
    "period_end": "2026-09-30",
    "status": "ready",
    "requested_by": "admin@msp.example",
    "requested_at": EXAMPLE_TIME,
    "generated_at": EXAMPLE_TIME,
    "size_bytes": 1843211,
    "sha256": "5d1c0e9b4f6a...",
    "manifest_sha256": "a9e07f33c2d1...",
    "key_id": "ev1",
    "file_count": 143,
    "evidence_count": 2208,
    "audit_chain_seq": 48211,
    "audit_chain_hash": "9f2c41d8e0b7...",
    "error": "",
}
EXAMPLE_AUDITOR = {
    "id": EXAMPLE_AUDITOR_ID,
    "user_id": EXAMPLE_USER_ID,
    "email": "jane@cpa.example",
    "full_name": "Jane Auditor",
    "organization": "Example CPA LLP",
    "tenants": ["acme", "globex"],
    "period_start": "2026-07-01",
    "period_end": "2026-09-30",
    "expires_at": "2026-12-31T00:00:00Z",
    "revoked_at": None,
    "active": True,
    "created_at": EXAMPLE_TIME,
    "created_by": "admin@msp.example",
}


class PeriodSerializer(serializers.Serializer[Any]):
    """A period: ``quarter`` (``2026-Q3``), or ``period_start`` and ``period_end`` (whole
    UTC days, both included)."""

    quarter = serializers.RegexField(r"^\d{4}-Q[1-4]$", required=False)
    period_start = serializers.DateField(required=False)
    period_end = serializers.DateField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        start, end, quarter = (
            attrs.get("period_start"),
            attrs.get("period_end"),
            attrs.get("quarter"),
        )
        if quarter and (start or end):
            raise serializers.ValidationError({"quarter": "Give a quarter or two dates, not both."})
        if quarter:
            year, number = quarter.split("-Q")
            return {**attrs, "period": Period.quarter(int(year), int(number))}
        if start is None or end is None:
            field = "period_end" if start else "period_start"
            raise serializers.ValidationError({field: "Give both dates, or a quarter."})
        if start > end:
            raise serializers.ValidationError({"period_end": "The period ends before it starts."})
        return {**attrs, "period": Period(start, end)}


@extend_schema_serializer(
    examples=[
        request_example({"quarter": "2026-Q3"}, "A quarter"),
        request_example({"period_start": "2026-07-01", "period_end": "2026-09-30"}, "Two dates"),
    ]
)
class PackageCreateSerializer(PeriodSerializer):
    pass


@extend_schema_serializer(examples=[response_example(EXAMPLE_PACKAGE)])
class PackageSerializer(serializers.ModelSerializer[EvidencePackage]):
    requested_by = serializers.CharField(source="requested_by_label", read_only=True)

    class Meta:
        model = EvidencePackage
        fields = (
            "id",
            "period_start",
            "period_end",
            "status",
            "requested_by",
            "requested_at",
            "generated_at",
            "size_bytes",
            "sha256",
            "manifest_sha256",
            "key_id",
            "file_count",
            "evidence_count",
            "audit_chain_seq",
            "audit_chain_hash",
            "error",
        )
        read_only_fields = fields


@extend_schema_serializer(examples=[response_example(EXAMPLE_AUDITOR)])
class AuditorSerializer(serializers.ModelSerializer[AuditorAccount]):
    user_id = serializers.UUIDField(source="user.pk", read_only=True)
    email = serializers.EmailField(source="user.email", read_only=True)
    full_name = serializers.CharField(source="user.full_name", read_only=True)
    tenants = serializers.SerializerMethodField()
    active = serializers.SerializerMethodField()
    created_by = serializers.CharField(source="created_by_label", read_only=True)

    class Meta:
        model = AuditorAccount
        fields = (
            "id",
            "user_id",
            "email",
            "full_name",
            "organization",
            "tenants",
            "period_start",
            "period_end",
            "expires_at",
            "revoked_at",
            "active",
            "created_at",
            "created_by",
        )
        read_only_fields = fields

    def get_tenants(self, account: AuditorAccount) -> list[str]:
        tenants: dict[Any, list[str]] = self.context.get("tenants", {})
        return tenants.get(account.pk, [])

    def get_active(self, account: AuditorAccount) -> bool:
        return account.is_current()


@extend_schema_serializer(
    examples=[
        request_example(
            {
                "email": "jane@cpa.example",
                "full_name": "Jane Auditor",
                "organization": "Example CPA LLP",
                "tenants": ["acme", "globex"],
                "quarter": "2026-Q3",
                "expires_at": "2026-12-31T00:00:00Z",
            }
        )
    ]
)
class AuditorCreateSerializer(PeriodSerializer):
    email = serializers.EmailField(max_length=254)
    full_name = serializers.CharField(max_length=200, required=False, default="", allow_blank=True)
    organization = serializers.CharField(
        max_length=200, required=False, default="", allow_blank=True
    )
    tenants = serializers.ListField(child=serializers.SlugField(max_length=50), allow_empty=False)
    expires_at = serializers.DateTimeField()


@extend_schema_serializer(
    examples=[request_example({"expires_at": "2027-01-31T00:00:00Z"}, "Extend the access")]
)
class AuditorUpdateSerializer(serializers.Serializer[Any]):
    """Any of: a new end of the access, new tenants, a new period."""

    expires_at = serializers.DateTimeField(required=False)
    tenants = serializers.ListField(
        child=serializers.SlugField(max_length=50), allow_empty=False, required=False
    )
    quarter = serializers.RegexField(r"^\d{4}-Q[1-4]$", required=False)
    period_start = serializers.DateField(required=False)
    period_end = serializers.DateField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if {"quarter", "period_start", "period_end"} & set(attrs):
            attrs = {**attrs, **PeriodSerializer().validate(attrs)}
        return attrs

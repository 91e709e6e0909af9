"""Compliance: controls with their state, test runs, evidence records and exceptions."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from compliance.models import ControlException, EvidenceRecord, TestRun
from controlplane.api.serializers.common import EXAMPLE_TIME, request_example, response_example

EXAMPLE_EVIDENCE_ID = "01a24aab-d162-9f72-6e2e-c1ea142a556a"
EXAMPLE_RUN_ID = "01a24aab-c0de-7b3a-9f10-2b7c1d5e8a11"
EXAMPLE_EXCEPTION_ID = "01a24aab-e0e0-7b3a-9f10-2b7c1d5e8a12"
EXAMPLE_LATEST = {
    "evidence_id": EXAMPLE_EVIDENCE_ID,
    "result": "fail",
    "recorded_at": EXAMPLE_TIME,
    "valid_until": "2026-11-28T09:30:00Z",
    "summary": "0 of 5 members sign in with a second factor; two-factor sign-in is not required",
}
EXAMPLE_CONTROL = {
    "code": "CC6.1-MFA",
    "criterion": "CC6.1",
    "family": "CC6",
    "category": "security",
    "title": "People sign in with a second factor",
    "description": "Every MSP staff account and every member of a tenant that requires it ...",
    "owner_email": "security@msp.example",
    "validity_days": 2,
    "catalog_version": "2026.1",
    "state": "fail",
    "tests": [
        {
            "key": "cc6.member_mfa",
            "title": "The tenant requires a second factor and its members have one",
            "version": 1,
            "scope": "tenant",
            "period_days": 7,
            "state": "fail",
            "latest": EXAMPLE_LATEST,
        }
    ],
}
EXAMPLE_RUN = {
    "id": EXAMPLE_RUN_ID,
    "trigger": "api",
    "control": None,
    "status": "done",
    "requested_by_label": "owner@acme.example",
    "requested_at": EXAMPLE_TIME,
    "started_at": EXAMPLE_TIME,
    "finished_at": "2026-11-26T09:30:04Z",
    "evidence_count": 19,
    "failed_count": 3,
}
EXAMPLE_EVIDENCE = {
    "id": EXAMPLE_EVIDENCE_ID,
    "seq": 42,
    "control_code": "CC6.1-MFA",
    "test_key": "cc6.member_mfa",
    "test_version": 1,
    "catalog_version": "2026.1",
    "test_run": EXAMPLE_RUN_ID,
    "recorded_at": EXAMPLE_TIME,
    "period_start": "2026-11-19T09:30:00Z",
    "period_end": EXAMPLE_TIME,
    "valid_until": "2026-11-28T09:30:00Z",
    "result": "fail",
    "summary": "0 of 5 members sign in with a second factor",
    "population_count": 5,
    "failing_count": 1,
    "data_sha256": "9f2c5e0a7d3b1c4e8f6a2d9b0c7e5f1a3b8d4c6e2f0a9b7c5d3e1f8a6b4c2d0e",
    "exception": None,
    "prev_hash": "1d3f5b7a9c2e4f6081a3c5e7f9b2d4f6a8c0e2b4d6f8a1c3e5b7d9f2a4c6e8b0",
    "hash": "7b9d1f3a5c7e9b2d4f6a8c0e2f4b6d8a1c3e5f7b9d2a4c6e8f0b3d5a7c9e1f2b",
}
EXAMPLE_EVIDENCE_DETAIL = {
    **EXAMPLE_EVIDENCE,
    "query_text": 'SELECT "tenants_membership"."id", ... '
    'WHERE "tenants_membership"."tenant_id" = %s',
    "query_params": {
        "1": {"store": "postgresql", "params": ["0193f0a2-6c1e-7b3a-9f10-2b7c1d5e8a01"]}
    },
    "failing_entities": [
        {
            "key": "user:0193f0a2-6c1e-7b3a-9f10-2b7c1d5e8a21",
            "label": "member@acme.example",
            "reason": "no confirmed authenticator",
        }
    ],
    "metrics": {"mfa_required": False},
}
EXAMPLE_EXCEPTION = {
    "id": EXAMPLE_EXCEPTION_ID,
    "control": "CC6.1-MFA",
    "entity": "",
    "justification": "Our people sign in through our own SSO with hardware keys.",
    "status": "approved",
    "requested_by_label": "owner@acme.example",
    "requested_at": EXAMPLE_TIME,
    "decided_by_label": "admin@msp.example",
    "decided_at": "2026-11-26T10:00:00Z",
    "decision_note": "Compensating control reviewed.",
    "expires_at": "2027-01-31T00:00:00Z",
}


class LatestEvidenceSerializer(serializers.Serializer[Any]):
    evidence_id = serializers.UUIDField(
        allow_null=True, help_text="Null for a control the MSP operates for every tenant."
    )
    result = serializers.CharField()
    recorded_at = serializers.DateTimeField()
    valid_until = serializers.DateTimeField()
    summary = serializers.CharField()


class ControlTestStateSerializer(serializers.Serializer[Any]):
    key = serializers.CharField()
    title = serializers.CharField()
    version = serializers.IntegerField()
    scope = serializers.CharField(help_text="tenant, or msp: a test of the MSP's own records.")
    period_days = serializers.IntegerField()
    state = serializers.CharField(
        help_text="fail, stale, missing, exception, pass or not_applicable"
    )
    latest = LatestEvidenceSerializer(allow_null=True)


@extend_schema_serializer(examples=[response_example(EXAMPLE_CONTROL)])
class ControlSerializer(serializers.Serializer[Any]):
    code = serializers.CharField()
    criterion = serializers.CharField()
    family = serializers.CharField()
    category = serializers.CharField()
    title = serializers.CharField()
    description = serializers.CharField()
    owner_email = serializers.EmailField()
    validity_days = serializers.IntegerField()
    catalog_version = serializers.CharField()
    state = serializers.CharField(help_text="The worst state of its tests.")
    tests = ControlTestStateSerializer(many=True)


@extend_schema_serializer(examples=[response_example(EXAMPLE_RUN, status_codes=["200", "202"])])
class TestRunSerializer(serializers.ModelSerializer[TestRun]):
    __test__ = False  # not a pytest class

    control: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="code", read_only=True, allow_null=True
    )

    class Meta:
        model = TestRun
        fields = (
            "id",
            "trigger",
            "control",
            "status",
            "requested_by_label",
            "requested_at",
            "started_at",
            "finished_at",
            "evidence_count",
            "failed_count",
        )


@extend_schema_serializer(
    examples=[request_example({"control": "CC6.1-MFA"}), request_example({}, name="Every control")]
)
class TestRunCreateSerializer(serializers.Serializer[Any]):
    __test__ = False  # not a pytest class

    control = serializers.CharField(
        required=False, max_length=40, help_text="A control's code; absent: every control."
    )


@extend_schema_serializer(examples=[response_example(EXAMPLE_EVIDENCE)])
class EvidenceSerializer(serializers.ModelSerializer[EvidenceRecord]):
    class Meta:
        model = EvidenceRecord
        fields: tuple[str, ...] = (
            "id",
            "seq",
            "control_code",
            "test_key",
            "test_version",
            "catalog_version",
            "test_run",
            "recorded_at",
            "period_start",
            "period_end",
            "valid_until",
            "result",
            "summary",
            "population_count",
            "failing_count",
            "data_sha256",
            "exception",
            "prev_hash",
            "hash",
        )


@extend_schema_serializer(examples=[response_example(EXAMPLE_EVIDENCE_DETAIL)])
class EvidenceDetailSerializer(EvidenceSerializer):
    class Meta(EvidenceSerializer.Meta):
        fields = (
            *EvidenceSerializer.Meta.fields,
            "query_text",
            "query_params",
            "failing_entities",
            "metrics",
        )


@extend_schema_serializer(examples=[response_example(EXAMPLE_EXCEPTION)])
class ExceptionSerializer(serializers.ModelSerializer[ControlException]):
    control: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="code", read_only=True
    )

    class Meta:
        model = ControlException
        fields = (
            "id",
            "control",
            "entity",
            "justification",
            "status",
            "requested_by_label",
            "requested_at",
            "decided_by_label",
            "decided_at",
            "decision_note",
            "expires_at",
        )


@extend_schema_serializer(
    examples=[
        request_example(
            {
                "control": "CC6.1-MFA",
                "entity": "",
                "justification": "Our people sign in through our own SSO with hardware keys.",
                "expires_at": "2027-01-31T00:00:00Z",
            }
        )
    ]
)
class ExceptionCreateSerializer(serializers.Serializer[Any]):
    control = serializers.CharField(max_length=40, help_text="The control's code.")
    entity = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=200,
        help_text="A failing entity's key (as the evidence names it); empty: the whole control.",
    )
    justification = serializers.CharField(min_length=20, max_length=2000)
    expires_at = serializers.DateTimeField(help_text="At most 365 days ahead.")


@extend_schema_serializer(examples=[request_example({"note": "Compensating control reviewed."})])
class ExceptionDecisionSerializer(serializers.Serializer[Any]):
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000)

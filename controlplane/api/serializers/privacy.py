"""Retention policy, legal holds, retention runs and data-subject requests
(docs/privacy.md)."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from compliance.privacy.models import (
    DataKind,
    DataSubjectRequest,
    LegalHold,
    RetentionPolicy,
    RetentionRun,
)
from controlplane.agents.models import Agent
from controlplane.api.serializers.common import (
    EXAMPLE_AGENT_ID,
    EXAMPLE_NODE_ID,
    EXAMPLE_TIME,
    ScopedRelatedField,
    request_example,
    response_example,
)
from edge.identifiers import KINDS

EXAMPLE_POLICY_ID = "0193f0a2-6c1e-7b3a-9f10-2b7c1d5e8a30"
EXAMPLE_HOLD_ID = "0193f0a2-6c1e-7b3a-9f10-2b7c1d5e8a31"
EXAMPLE_RUN_ID = "0193f0a2-6c1e-7b3a-9f10-2b7c1d5e8a32"
EXAMPLE_DSR_ID = "0193f0a2-6c1e-7b3a-9f10-2b7c1d5e8a33"
EXAMPLE_POLICY = {
    "id": EXAMPLE_POLICY_ID,
    "kind": "spans",
    "days": 90,
    "effective_from": "2026-12-01",
    "created_at": EXAMPLE_TIME,
    "created_by_label": "owner@acme.example",
}
EXAMPLE_IN_FORCE = {
    "bodies": {"days": 30, "source": "msp", "effective_from": "2026-01-01"},
    "spans": {"days": 90, "source": "tenant", "effective_from": "2026-12-01"},
    "ledger": {"days": 761, "source": "built-in", "effective_from": None},
    "alerts": {"days": 395, "source": "built-in", "effective_from": None},
    "evidence": {"days": 2557, "source": "built-in", "effective_from": None},
}
EXAMPLE_HOLD = {
    "id": EXAMPLE_HOLD_ID,
    "agent": EXAMPLE_AGENT_ID,
    "reason": "Preserve for the Contoso dispute",
    "reference": "CASE-2026-17",
    "placed_at": EXAMPLE_TIME,
    "placed_by_label": "admin@msp.example",
    "released_at": None,
    "released_by_label": "",
    "active": True,
}
EXAMPLE_RUN = {
    "id": EXAMPLE_RUN_ID,
    "sweep_id": "0193f0a2-6c1e-7b3a-9f10-2b7c1d5e8a34",
    "trigger": "schedule",
    "requested_by_label": "schedule",
    "started_at": EXAMPLE_TIME,
    "finished_at": EXAMPLE_TIME,
    "state": "completed",
    "policy": EXAMPLE_IN_FORCE,
    "cutoffs": {"spans": "2026-08-28T00:00:00+00:00", "ledger": "2024-10-26T00:00:00+00:00"},
    "holds": [],
    "steps": {"postgres:ledger": "done", "clickhouse:spans": "done", "edge:…": "done"},
    "removed": [
        {"store": "postgres", "target": "telemetry_usageevent", "kind": "ledger",
         "how": "partition", "rows": 120400, "partition": "2024-09"},
        {"store": "clickhouse", "target": "spans", "kind": "spans", "how": "rows", "rows": 8812},
        {"store": "clickhouse", "target": "spans_minute", "kind": "spans", "how": "rows",
         "rows": 2210},
        {"store": "edge", "target": "acme-hq-1", "kind": "spans", "how": "records", "rows": 0,
         "node_id": EXAMPLE_NODE_ID},
    ],
    "kept": [],
    "total_removed": 131422,
    "error": "",
}  # fmt: skip
EXAMPLE_DSR = {
    "id": EXAMPLE_DSR_ID,
    "created_at": EXAMPLE_TIME,
    "updated_at": EXAMPLE_TIME,
    "requested_by_label": "owner@acme.example",
    "reason": "Erasure request by email, 1 December",
    "subject_masked": "email j***@example.com, phone +44***58",
    "state": "found",
    "verified_at": EXAMPLE_TIME,
    "verified_by_label": "owner@acme.example",
    "verification_note": "Replied from the address on file",
    "steps": {"find:postgres": "done", "find:clickhouse": "done", "find:manifest": "done"},
    "found": {
        "postgres": {"telemetry_usageevent": 0, "security_alert": 1, "audit_auditevent": 2},
        "clickhouse": {"spans": 14, "spans_minute": 0, "spans_hour": 0},
        "edge": {"acme-hq-1": {"spool_records": 1, "cache_entries": 0}},
        "evidence": {"records": 0},
    },
    "erased": {},
    "remaining": {},
    "export_ready": True,
    "export_sha256": "4f1c…",
    "export_bytes": 18220,
    "erase_requested_at": None,
    "completed_at": None,
    "error": "",
}


@extend_schema_serializer(examples=[response_example(EXAMPLE_POLICY)])
class RetentionPolicySerializer(serializers.ModelSerializer[RetentionPolicy]):
    class Meta:
        model = RetentionPolicy
        fields = ("id", "kind", "days", "effective_from", "created_at", "created_by_label")


class _InForceSerializer(serializers.Serializer[Any]):
    days = serializers.IntegerField()
    source = serializers.ChoiceField(choices=["tenant", "msp", "built-in"])  # type: ignore[assignment]
    effective_from = serializers.DateField(allow_null=True)


@extend_schema_serializer(
    examples=[response_example({"in_force": EXAMPLE_IN_FORCE, "history": [EXAMPLE_POLICY]})]
)
class RetentionStateSerializer(serializers.Serializer[Any]):
    in_force = serializers.DictField(
        child=_InForceSerializer(),
        help_text="Per kind (bodies, spans, ledger, alerts, evidence): the days kept now, "
        "and whether the tenant's policy, the MSP's default or the built-in sets them.",
    )
    history = RetentionPolicySerializer(many=True)


@extend_schema_serializer(
    examples=[request_example({"kind": "spans", "days": 90, "effective_from": "2026-12-01"})]
)
class RetentionPolicySetSerializer(serializers.Serializer[Any]):
    kind = serializers.ChoiceField(choices=DataKind.values)
    days = serializers.IntegerField(min_value=1, max_value=36500)
    effective_from = serializers.DateField(
        required=False, help_text="Today or later; today when absent."
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs.setdefault("effective_from", timezone.now().date())
        return attrs


@extend_schema_serializer(
    examples=[
        request_example(
            {"agent": EXAMPLE_AGENT_ID, "reason": "Preserve for the Contoso dispute",
             "reference": "CASE-2026-17"}
        ),
        response_example(EXAMPLE_HOLD),
    ]
)  # fmt: skip
class LegalHoldSerializer(serializers.ModelSerializer[LegalHold]):
    agent = ScopedRelatedField(
        queryset=lambda: Agent.objects.all(),
        required=False,
        allow_null=True,
        help_text="Only this agent's data; absent or null: the whole tenant.",
    )
    active = serializers.BooleanField(read_only=True)

    class Meta:
        model = LegalHold
        fields = (
            "id",
            "agent",
            "reason",
            "reference",
            "placed_at",
            "placed_by_label",
            "released_at",
            "released_by_label",
            "active",
        )
        read_only_fields = (
            "id",
            "placed_at",
            "placed_by_label",
            "released_at",
            "released_by_label",
        )


@extend_schema_serializer(examples=[response_example(EXAMPLE_RUN)])
class RetentionRunSerializer(serializers.ModelSerializer[RetentionRun]):
    total_removed = serializers.IntegerField(read_only=True)

    class Meta:
        model = RetentionRun
        fields = (
            "id",
            "sweep_id",
            "trigger",
            "requested_by_label",
            "started_at",
            "finished_at",
            "state",
            "policy",
            "cutoffs",
            "holds",
            "steps",
            "removed",
            "kept",
            "total_removed",
            "error",
        )


@extend_schema_serializer(examples=[response_example(EXAMPLE_DSR)])
class DataSubjectRequestSerializer(serializers.ModelSerializer[DataSubjectRequest]):
    export_ready = serializers.SerializerMethodField()

    class Meta:
        model = DataSubjectRequest
        fields = (
            "id",
            "created_at",
            "updated_at",
            "requested_by_label",
            "reason",
            "subject_masked",
            "state",
            "verified_at",
            "verified_by_label",
            "verification_note",
            "steps",
            "found",
            "erased",
            "remaining",
            "export_ready",
            "export_sha256",
            "export_bytes",
            "erase_requested_at",
            "completed_at",
            "error",
        )

    @extend_schema_field(serializers.BooleanField())
    def get_export_ready(self, dsr: DataSubjectRequest) -> bool:
        return dsr.state == DataSubjectRequest.State.FOUND and bool(dsr.export_bytes)


class _IdentifierSerializer(serializers.Serializer[Any]):
    kind = serializers.ChoiceField(choices=list(KINDS))
    value = serializers.CharField(max_length=254)


@extend_schema_serializer(
    examples=[
        request_example(
            {
                "identifiers": [
                    {"kind": "email", "value": "jane.doe@example.com"},
                    {"kind": "phone", "value": "+44 20 7946 0958"},
                    {"kind": "customer_id", "value": "CUST-0042"},
                ],
                "reason": "Erasure request by email, 1 December",
            }
        )
    ]
)
class DataSubjectRequestCreateSerializer(serializers.Serializer[Any]):
    identifiers = _IdentifierSerializer(many=True, allow_empty=False, max_length=20)  # type: ignore[call-arg]
    reason = serializers.CharField(required=False, allow_blank=True, max_length=2000)


@extend_schema_serializer(examples=[request_example({"note": "Replied from the address on file"})])
class VerifySerializer(serializers.Serializer[Any]):
    note = serializers.CharField(max_length=2000, help_text="How the identity was checked.")


@extend_schema_serializer(examples=[request_example({"confirm": "ERASE"})])
class EraseSerializer(serializers.Serializer[Any]):
    confirm = serializers.CharField(max_length=20, help_text="Type ERASE.")

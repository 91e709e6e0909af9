"""Plans, invoices, credit notes and rated usage (docs/billing.md)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from billing.models import CreditNote, Invoice, InvoiceLine, Plan, RatedUsage
from billing.provider_bills import FORMATS
from controlplane.api.serializers.common import (
    EXAMPLE_TIME,
    request_example,
    response_example,
)

EXAMPLE_PLAN = {
    "name": "Managed",
    "effective_from": "2026-11-01",
    "platform_fee": "500.00",
    "per_agent_fee": "20.00",
    "markup_percent": "20.000",
    "token_rates": {"claude-sonnet-4": "9.500000"},
    "included_usage": "50.00",
    "minimum_commitment": "750.00",
    "discount_percent": "0.000",
}
EXAMPLE_INVOICE_ID = "0193f0a2-6c1e-7b3a-9f10-2b7c1d5e8a20"
EXAMPLE_INVOICE = {
    "id": EXAMPLE_INVOICE_ID,
    "month": "2026-11-01",
    "status": "final",
    "number": "NW-000042",
    "currency": "USD",
    "subtotal": "521.60",
    "tax_rate": "20.000",
    "tax": "104.32",
    "total": "625.92",
    "payment_status": "open",
    "finalised_at": EXAMPLE_TIME,
    "approved_by": "automatic: below the review threshold",
    "audit_seq": 1207,
    "audit_hash": "9f2c...",
    "replaces": None,
    "created_at": EXAMPLE_TIME,
}
EXAMPLE_LINE = {
    "position": 2,
    "kind": "usage",
    "description": "Support · openai/gpt-4o-mini · cached_input (provider cost)",
    "department_id": "0193f0a2-6c1e-7b3a-9f10-2b7c1d5e8a02",
    "department": "Support",
    "provider": "openai",
    "model": "gpt-4o-mini",
    "token_class": "cached_input",
    "quantity": "40000000.000000",
    "unit_price": "0.000000075",
    "amount": "3.00",
}


@extend_schema_serializer(
    examples=[
        request_example(EXAMPLE_PLAN),
        response_example({"id": EXAMPLE_INVOICE_ID, **EXAMPLE_PLAN, "created_at": EXAMPLE_TIME}),
    ]
)
class PlanSerializer(serializers.ModelSerializer[Plan]):
    token_rates = serializers.DictField(
        child=serializers.DecimalField(max_digits=14, decimal_places=6, min_value=Decimal(0)),
        required=False,
        help_text="Price per million tokens by model (`*`: any other model); a model not "
        "named is charged at provider cost plus `markup_percent`.",
    )

    class Meta:
        model = Plan
        fields = (
            "id",
            "name",
            "effective_from",
            "platform_fee",
            "per_agent_fee",
            "markup_percent",
            "token_rates",
            "included_usage",
            "minimum_commitment",
            "discount_percent",
            "created_at",
        )
        read_only_fields = ("id", "created_at")


class InvoiceLineSerializer(serializers.ModelSerializer[InvoiceLine]):
    class Meta:
        model = InvoiceLine
        fields = (
            "position",
            "kind",
            "description",
            "department_id",
            "department",
            "provider",
            "model",
            "token_class",
            "quantity",
            "unit_price",
            "amount",
        )


@extend_schema_serializer(examples=[response_example(EXAMPLE_INVOICE)])
class InvoiceSerializer(serializers.ModelSerializer[Invoice]):
    class Meta:
        model = Invoice
        fields: tuple[str, ...] = (
            "id",
            "month",
            "status",
            "number",
            "currency",
            "subtotal",
            "tax_rate",
            "tax",
            "total",
            "payment_status",
            "finalised_at",
            "approved_by",
            "audit_seq",
            "audit_hash",
            "replaces",
            "created_at",
        )


@extend_schema_serializer(
    examples=[
        response_example(
            {
                **EXAMPLE_INVOICE,
                "customer": {"legal_name": "Acme Corp Ltd"},
                "lines": [EXAMPLE_LINE],
            }
        )
    ]
)
class InvoiceDetailSerializer(InvoiceSerializer):
    lines = InvoiceLineSerializer(many=True, read_only=True)
    customer = serializers.JSONField(read_only=True)

    class Meta(InvoiceSerializer.Meta):
        fields = (*InvoiceSerializer.Meta.fields, "customer", "lines")


@extend_schema_serializer(
    examples=[
        response_example(
            {
                "id": "0193f0a2-6c1e-7b3a-9f10-2b7c1d5e8a21",
                "invoice": EXAMPLE_INVOICE_ID,
                "number": "NW-CN-000007",
                "reason": "Outage credit",
                "net": "50.00",
                "tax": "10.00",
                "total": "60.00",
                "issued_at": EXAMPLE_TIME,
            }
        )
    ]
)
class CreditNoteSerializer(serializers.ModelSerializer[CreditNote]):
    class Meta:
        model = CreditNote
        fields = ("id", "invoice", "number", "reason", "net", "tax", "total", "issued_at")
        read_only_fields = ("id", "number", "tax", "total", "issued_at")


@extend_schema_serializer(
    examples=[
        request_example({"invoice": EXAMPLE_INVOICE_ID, "net": "50.00", "reason": "Outage credit"})
    ]
)
class CreditNoteCreateSerializer(serializers.Serializer[None]):
    invoice = serializers.UUIDField()
    net = serializers.DecimalField(max_digits=14, decimal_places=2, min_value=Decimal("0.01"))
    reason = serializers.CharField(max_length=300)


@extend_schema_serializer(
    examples=[
        response_example(
            {
                "id": "0193f0a2-6c1e-7b3a-9f10-2b7c1d5e8a22",
                "day": "2026-11-10",
                "department_id": "0193f0a2-6c1e-7b3a-9f10-2b7c1d5e8a02",
                "agent_id": "0193f0a2-6c1e-7b3a-9f10-2b7c1d5e8a06",
                "provider": "openai",
                "model": "gpt-4o-mini",
                "token_class": "reasoning",
                "revision": 0,
                "tokens": 250000,
                "cost": "0.150000000",
                "invoice": None,
                "rated_at": EXAMPLE_TIME,
            }
        )
    ]
)
class RatedUsageSerializer(serializers.ModelSerializer[RatedUsage]):
    class Meta:
        model = RatedUsage
        fields = (
            "id",
            "day",
            "department_id",
            "agent_id",
            "provider",
            "model",
            "token_class",
            "revision",
            "tokens",
            "cost",
            "invoice",
            "rated_at",
        )


@extend_schema_serializer(
    examples=[
        request_example(
            {
                "provider": "openai",
                "format": "csv",
                "content": "day,model,token_class,tokens,cost\n"
                "2026-11-03,gpt-4o-mini,input,5000,0.01\n",
                "source_name": "openai-november.csv",
            }
        )
    ]
)
class ProviderBillImportSerializer(serializers.Serializer[None]):
    provider = serializers.CharField(max_length=100, help_text="As the ledger names it.")
    format = serializers.ChoiceField(choices=FORMATS)
    content = serializers.CharField(
        max_length=20_000_000,
        trim_whitespace=False,
        help_text="The export's text: CSV (day, model, token_class, tokens, cost) or the "
        "JSON page of the provider's usage or cost API.",
    )
    source_name = serializers.CharField(max_length=200, required=False, default="api")


class ReconciliationQuerySerializer(serializers.Serializer[None]):
    provider = serializers.CharField(max_length=100)
    since = serializers.DateField()
    until = serializers.DateField()
    flagged = serializers.BooleanField(required=False, default=False)

    def validate(self, attrs: dict[str, object]) -> dict[str, object]:
        if attrs["until"] <= attrs["since"]:  # type: ignore[operator]
            raise serializers.ValidationError({"until": "must be after since"})
        return attrs


@extend_schema_serializer(
    examples=[
        response_example(
            {
                "provider": "openai",
                "day": "2026-11-03",
                "model": "gpt-4o-mini",
                "token_class": "cached_input",
                "provider_tokens": 300000,
                "ledger_tokens": 0,
                "provider_cost": "0.022500000",
                "ledger_cost": "0.000000",
                "cause": "formula",
            }
        )
    ]
)
class FindingSerializer(serializers.Serializer[Any]):
    provider = serializers.CharField()
    day = serializers.DateField()
    model = serializers.CharField()
    token_class = serializers.CharField()
    provider_tokens = serializers.IntegerField(allow_null=True)
    ledger_tokens = serializers.IntegerField()
    provider_cost = serializers.DecimalField(max_digits=20, decimal_places=9, allow_null=True)
    ledger_cost = serializers.DecimalField(max_digits=20, decimal_places=6)
    cause = serializers.CharField(
        help_text="Empty when both agree; else missing ingestion, double counting, formula "
        "or price table."
    )


@extend_schema_serializer(examples=[response_example({"lines": 42})])
class ImportedSerializer(serializers.Serializer[Any]):
    lines = serializers.IntegerField(help_text="Lines (day, model, token class) imported.")


@extend_schema_serializer(examples=[request_example({"reason": "Billed on the wrong plan"})])
class InvoiceVoidSerializer(serializers.Serializer[None]):
    reason = serializers.CharField(max_length=300)

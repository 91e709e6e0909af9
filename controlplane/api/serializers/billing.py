"""Plans, invoices, credit notes and rated usage (docs/billing.md)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rest_framework import serializers

from billing.models import CreditNote, Invoice, InvoiceLine, Plan, RatedUsage
from billing.provider_bills import FORMATS


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


class InvoiceDetailSerializer(InvoiceSerializer):
    lines = InvoiceLineSerializer(many=True, read_only=True)
    customer = serializers.JSONField(read_only=True)

    class Meta(InvoiceSerializer.Meta):
        fields = (*InvoiceSerializer.Meta.fields, "customer", "lines")


class CreditNoteSerializer(serializers.ModelSerializer[CreditNote]):
    class Meta:
        model = CreditNote
        fields = ("id", "invoice", "number", "reason", "net", "tax", "total", "issued_at")
        read_only_fields = ("id", "number", "tax", "total", "issued_at")


class CreditNoteCreateSerializer(serializers.Serializer[None]):
    invoice = serializers.UUIDField()
    net = serializers.DecimalField(max_digits=14, decimal_places=2, min_value=Decimal("0.01"))
    reason = serializers.CharField(max_length=300)


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

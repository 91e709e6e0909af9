"""Billing: plans, invoices (with PDF and CSV), credit notes and rated usage.

Customers' owners, admins and billing people read; members and viewers do not. MSP staff
read all; the admin and operator staff roles create plans and credit notes and approve
invoices under review.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from billing import closing, provider_bills, services
from billing.documents import invoice_csv
from billing.models import CreditNote, Invoice, Plan, RatedUsage
from controlplane.api.base import ApiView, TenantScopedViewSet
from controlplane.api.filtering import Filter
from controlplane.api.serializers.billing import (
    CreditNoteCreateSerializer,
    CreditNoteSerializer,
    FindingSerializer,
    ImportedSerializer,
    InvoiceDetailSerializer,
    InvoiceSerializer,
    InvoiceVoidSerializer,
    PlanSerializer,
    ProviderBillImportSerializer,
    RatedUsageSerializer,
    ReconciliationQuerySerializer,
)
from tenants.models import TenantRole

BILLING_READERS = frozenset({TenantRole.OWNER, TenantRole.ADMIN, TenantRole.BILLING})
NOBODY: frozenset[str] = frozenset()


class _BillingViewSet(TenantScopedViewSet):
    tenant_read_roles = BILLING_READERS
    tenant_write_roles = NOBODY


class PlanViewSet(_BillingViewSet):
    """The tenant's plans, effective-dated. A change is a new plan from a later day."""

    queryset_model = Plan
    serializer_class = PlanSerializer
    ordering = "-effective_from"
    ordering_fields: ClassVar[list[str]] = ["effective_from"]

    @extend_schema(summary="List plans", description="The tenant's plans, newest first.")
    def list(self, request: Request, **kwargs: Any) -> Response:
        return self.list_response(self.get_queryset())

    @extend_schema(summary="Get a plan", description="One plan of the tenant.")
    def retrieve(self, request: Request, **kwargs: Any) -> Response:
        return Response(PlanSerializer(self.get_object()).data)

    @extend_schema(
        summary="Create a plan",
        description="From `effective_from` on; a change mid-month is prorated by days.",
    )
    def create(self, request: Request, **kwargs: Any) -> Response:
        serializer = PlanSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        plan = services.plan_create(
            actor=self.actor, tenant_id=self.tenant.pk, **serializer.validated_data
        )
        return Response(PlanSerializer(plan).data, status=status.HTTP_201_CREATED)


class InvoiceViewSet(_BillingViewSet):
    """Invoices: the month-to-date draft, those under review, final and void ones."""

    queryset_model = Invoice
    serializer_class = InvoiceSerializer
    ordering = "-month"
    ordering_fields: ClassVar[list[str]] = ["month", "created_at"]
    filters: ClassVar[list[Filter]] = [
        Filter("status", "status", choices=Invoice.Status.values),
    ]

    def get_queryset(self) -> Any:
        return super().get_queryset().defer("pdf")

    @extend_schema(
        summary="List invoices",
        description="The month-to-date draft, invoices under review, final and void ones.",
    )
    def list(self, request: Request, **kwargs: Any) -> Response:
        return self.list_response(self.get_queryset())

    @extend_schema(
        summary="Get an invoice",
        description="With its bill-to details and every line.",
        responses={200: InvoiceDetailSerializer},
    )
    def retrieve(self, request: Request, **kwargs: Any) -> Response:
        return Response(InvoiceDetailSerializer(self.get_object()).data)

    @extend_schema(
        summary="The invoice as PDF",
        description="Only a final (or void) invoice has one; 404 before.",
        responses={
            (200, "application/pdf"): OpenApiResponse(
                OpenApiTypes.BINARY,
                examples=[
                    OpenApiExample("PDF", value="%PDF-1.7 ...", media_type="application/pdf")
                ],
            )
        },
    )
    @action(detail=True, methods=["get"])
    def pdf(self, request: Request, **kwargs: Any) -> HttpResponse:
        invoice = self.get_object()
        pdf = Invoice.objects.filter(pk=invoice.pk).values_list("pdf", flat=True).first()
        if not pdf:
            raise exceptions.NotFound("Only a final invoice has a PDF.")
        response = HttpResponse(bytes(pdf), content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="{invoice.number}.pdf"'
        return response

    @extend_schema(
        summary="Every line of the invoice as CSV",
        description="One row per line; a draft's lines are month to date.",
        responses={
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR,
                examples=[
                    OpenApiExample(
                        "CSV",
                        value="invoice,month,position,kind,description,department,provider,"
                        "model,token_class,quantity,unit_price,amount,currency\r\n"
                        "NW-000042,2026-11,1,platform_fee,Platform fee — Managed,,,,,1,500,"
                        "500.00,USD\r\n",
                        media_type="text/csv",
                    )
                ],
            )
        },
    )
    @action(detail=True, methods=["get"])
    def csv(self, request: Request, **kwargs: Any) -> HttpResponse:
        invoice = self.get_object()
        response = HttpResponse(invoice_csv(invoice), content_type="text/csv; charset=utf-8")
        name = invoice.number or f"draft-{invoice.month:%Y-%m}"
        response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
        return response

    def write_roles(self) -> tuple[Any, Any]:
        return self.staff_write_roles, NOBODY

    @extend_schema(
        summary="Approve an invoice under review",
        description="Staff (admin, operator); the close then finalises and numbers it.",
        request=None,
        responses={200: InvoiceSerializer},
    )
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, **kwargs: Any) -> Response:
        invoice = closing.invoice_approve(
            invoice_id=self.get_object().pk, tenant_id=self.tenant.pk, actor=self.actor
        )
        return Response(InvoiceSerializer(invoice).data)

    @extend_schema(
        summary="Void a final invoice and reissue it",
        description="Staff (admin, operator). The invoice keeps its number and is voided "
        "(in Stripe too); a new draft for its month replaces it and is closed again. A paid "
        "invoice, or one with credit notes, is corrected with a credit note instead (400).",
        request=InvoiceVoidSerializer,
        responses={201: InvoiceSerializer},
    )
    @action(detail=True, methods=["post"])
    def void(self, request: Request, **kwargs: Any) -> Response:
        invoice = self.get_object()
        serializer = InvoiceVoidSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        replacement = closing.invoice_void_and_reissue(
            invoice_id=invoice.pk,
            tenant_id=self.tenant.pk,
            reason=serializer.validated_data["reason"],
            actor=self.actor,
        )
        return Response(InvoiceSerializer(replacement).data, status=status.HTTP_201_CREATED)


class CreditNoteViewSet(_BillingViewSet):
    """Corrections of final invoices; never more than the invoice, net or tax."""

    queryset_model = CreditNote
    serializer_class = CreditNoteSerializer
    ordering = "-issued_at"
    ordering_fields: ClassVar[list[str]] = ["issued_at"]
    filters: ClassVar[list[Filter]] = [
        Filter("invoice", "invoice_id", kind="uuid", description="Of this invoice."),
    ]

    @extend_schema(summary="List credit notes", description="Newest first; `?invoice=` filters.")
    def list(self, request: Request, **kwargs: Any) -> Response:
        return self.list_response(self.get_queryset())

    @extend_schema(summary="Get a credit note", description="One credit note of the tenant.")
    def retrieve(self, request: Request, **kwargs: Any) -> Response:
        return Response(CreditNoteSerializer(self.get_object()).data)

    @extend_schema(
        summary="Issue a credit note",
        description="Credits `net` (before tax) of a final invoice; the tax credited is "
        "rounded so the credit notes never exceed the invoice.",
        request=CreditNoteCreateSerializer,
        responses={201: CreditNoteSerializer},
    )
    def create(self, request: Request, **kwargs: Any) -> Response:
        serializer = CreditNoteCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if not Invoice.objects.filter(pk=data["invoice"]).exists():
            raise exceptions.ValidationError({"invoice": "no such invoice"})
        note = closing.credit_note_issue(
            invoice_id=data["invoice"],
            tenant_id=self.tenant.pk,
            net=data["net"],
            reason=data["reason"],
            actor=self.actor,
        )
        return Response(CreditNoteSerializer(note).data, status=status.HTTP_201_CREATED)


class RatedUsageViewSet(_BillingViewSet):
    """Rated usage: provider cost per day, department, agent, provider, model and token
    class, append-only (a late event is a new revision of its key)."""

    queryset_model = RatedUsage
    serializer_class = RatedUsageSerializer
    http_method_names = ["get", "head", "options"]
    ordering = "day"
    ordering_fields: ClassVar[list[str]] = ["day", "rated_at"]
    filters: ClassVar[list[Filter]] = [
        Filter("since", "day__gte", kind="date", description="From this day."),
        Filter("until", "day__lt", kind="date", description="Before this day."),
        Filter("token_class", "token_class"),
        Filter("model", "model"),
        Filter("invoice", "invoice_id", kind="uuid", description="Billed by this invoice."),
    ]

    @extend_schema(
        summary="List rated usage",
        description="Append-only rows; a late event is a new revision of its key.",
    )
    def list(self, request: Request, **kwargs: Any) -> Response:
        return self.list_response(self.get_queryset())


class ProviderReconciliationView(ApiView):
    """Staff: the providers' own bills against the ledger (docs/billing.md)."""

    tenant_read_roles = NOBODY
    tenant_write_roles = NOBODY

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        # Every tenant's usage is in these totals: not for a token limited to one tenant.
        if self.principal.restricted_tenant_id is not None:
            raise exceptions.PermissionDenied("This token is limited to one tenant.")

    @extend_schema(
        summary="Compare a provider's bill with the ledger",
        description="Per day, model and token class of `[since, until)`; `flagged=true` "
        "lists only differences beyond 1 %, each with its likely cause.",
        parameters=[ReconciliationQuerySerializer],
        responses={200: FindingSerializer(many=True)},
    )
    def get(self, request: Request) -> Response:
        query = ReconciliationQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = dict(query.validated_data)
        only_flagged = params.pop("flagged")
        findings = provider_bills.provider_reconcile(**params)
        if only_flagged:
            findings = provider_bills.flagged(findings)
        return Response(FindingSerializer(findings, many=True).data)

    @extend_schema(
        summary="Import a provider's usage or cost export",
        description="Staff writers. Importing an export again replaces what it said.",
        request=ProviderBillImportSerializer,
        responses={201: ImportedSerializer},
    )
    def post(self, request: Request) -> Response:
        body = ProviderBillImportSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        lines = provider_bills.export_import(
            provider=data["provider"],
            kind=data["format"],
            content=data["content"],
            source=data["source_name"],
        )
        return Response({"lines": lines}, status=status.HTTP_201_CREATED)

"""Billing pages: the portal's invoices, month to date and chargeback (owners, admins and
billing people), and the console's revenue, cost and margin and the review queue."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST, require_safe

from billing import selectors
from billing.closing import invoice_approve
from billing.documents import invoice_csv
from billing.drafts import month_start
from billing.models import Invoice
from billing.tasks import close_month
from controlplane.audit.services import Actor
from controlplane.core.tenancy import tenant_context
from controlplane.web.access import portal_membership, portal_tenant, portal_view, staff_view
from tenants.models import TenantRole

BILLING_ROLES = (TenantRole.OWNER, TenantRole.ADMIN, TenantRole.BILLING)


def _billing_reader(request: HttpRequest) -> None:
    if portal_membership(request).role not in BILLING_ROLES:
        raise PermissionDenied("Invoices are for owners, admins and billing.")


@portal_view()
@require_safe
def portal_invoices(request: HttpRequest, slug: str) -> HttpResponse:
    _billing_reader(request)
    today = timezone.now().date()
    invoices = list(Invoice.objects.defer("pdf").order_by("-month", "-created_at"))
    current = next(
        (i for i in invoices if i.month == month_start(today) and i.status == "draft"), None
    )
    chosen = request.GET.get("month")
    shown = next((i for i in invoices if chosen and f"{i.month:%Y-%m}" == chosen), None)
    shown = shown or current or next((i for i in invoices if i.status == "final"), None)
    context = {
        "tenant": portal_tenant(request),
        "invoices": [i for i in invoices if i.status != Invoice.Status.DRAFT],
        "mtd": selectors.month_to_date(month_invoice=current, today=today),
        "chargeback_invoice": shown,
        "chargeback": selectors.chargeback(invoice=shown) if shown else [],
    }
    return render(request, "billing/portal_invoices.html", context)


@portal_view()
@require_safe
def portal_invoice_document(
    request: HttpRequest, slug: str, invoice_id: uuid.UUID, kind: str
) -> HttpResponse:
    _billing_reader(request)
    invoice = Invoice.objects.filter(pk=invoice_id).first()
    if invoice is None or kind not in ("pdf", "csv"):
        raise Http404
    name = invoice.number or f"draft-{invoice.month:%Y-%m}"
    if kind == "pdf":
        if not invoice.pdf:
            raise Http404
        response = HttpResponse(bytes(invoice.pdf), content_type="application/pdf")
    else:
        response = HttpResponse(invoice_csv(invoice), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}.{kind}"'
    return response


@staff_view()
@require_safe
def console_billing(request: HttpRequest) -> HttpResponse:
    context = {
        "margins": selectors.margin_by_tenant_month(),
        "providers": selectors.cost_by_provider_month(),
        "review": selectors.invoices_awaiting_review(),
        "findings": selectors.recent_reconciliation(today=timezone.now().date()),
    }
    return render(request, "billing/console_billing.html", context)


@staff_view()
@require_POST
def console_invoice_approve(request: HttpRequest, invoice_id: uuid.UUID) -> HttpResponse:
    invoice = next((i for i in selectors.invoices_awaiting_review() if i.pk == invoice_id), None)
    if invoice is None:
        raise Http404
    with tenant_context(invoice.tenant_id):
        approved = invoice_approve(
            invoice_id=invoice.pk, tenant_id=invoice.tenant_id, actor=Actor.from_request(request)
        )
    close_month.delay(str(approved.tenant_id), approved.month.isoformat())
    messages.success(
        request, f"Approved {invoice.tenant.name}'s invoice for {invoice.month:%B %Y}."
    )
    return redirect("web:console_billing")

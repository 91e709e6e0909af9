"""Reads of billing: who is billed, invoices and usage for the pages and the API."""

from __future__ import annotations

import calendar
import datetime as dt
import uuid
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import Count, Sum

from billing.models import (
    BillingAccount,
    CreditNote,
    Invoice,
    InvoiceLine,
    ProviderCostLine,
    RatedUsage,
)
from billing.provider_bills import flagged, provider_reconcile
from controlplane.core.tenancy import all_tenants_context

# Lines that are the month's usage (the rest are fees, allowances and discounts).
USAGE_KINDS = (InvoiceLine.Kind.USAGE, InvoiceLine.Kind.MARKUP)


def billed_tenant_ids() -> list[uuid.UUID]:
    with all_tenants_context():
        return list(BillingAccount.unscoped.values_list("tenant_id", flat=True))


def stripe_pending() -> dict[str, list[tuple[uuid.UUID, uuid.UUID]]]:
    """(tenant id, object id) of what Stripe does not know yet: final invoices not
    pushed, void invoices still open there, credit notes not pushed."""
    with all_tenants_context():
        return {
            "invoices": list(
                Invoice.unscoped.filter(
                    status=Invoice.Status.FINAL, stripe_invoice_id=""
                ).values_list("tenant_id", "id")
            ),
            "voids": list(
                Invoice.unscoped.filter(status=Invoice.Status.VOID)
                .exclude(stripe_invoice_id="")
                .exclude(payment_status=Invoice.Payment.VOID)
                .values_list("tenant_id", "id")
            ),
            "credit_notes": list(
                CreditNote.unscoped.filter(stripe_credit_note_id="")
                .exclude(invoice__stripe_invoice_id="")
                .values_list("tenant_id", "id")
            ),
        }


def tenants_with_month_open(month: dt.date) -> list[uuid.UUID]:
    """Billed tenants whose invoice for ``month`` is not final yet (or not made)."""
    with all_tenants_context():
        done = set(
            Invoice.unscoped.filter(
                month=month, status__in=[Invoice.Status.FINAL, Invoice.Status.REVIEW]
            ).values_list("tenant_id", flat=True)
        )
    return [tenant for tenant in billed_tenant_ids() if tenant not in done]


@contextmanager
def close_lock(tenant_id: uuid.UUID, month: dt.date) -> Iterator[bool]:
    """A session advisory lock on one tenant's month: True if this process holds it."""
    key = zlib.crc32(f"billing-close:{tenant_id}:{month}".encode()) - 2**31
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
        acquired = bool(cursor.fetchone()[0])
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [key])


def month_to_date(*, month_invoice: Invoice | None, today: dt.date) -> dict[str, Any]:
    """The open draft's charges so far and a straight-line forecast to month end (fees
    are for the whole month already; usage is extrapolated by elapsed days)."""
    if month_invoice is None:
        return {"invoice": None}
    days = calendar.monthrange(month_invoice.month.year, month_invoice.month.month)[1]
    elapsed = max(1, min(days, (today - month_invoice.month).days + 1))
    lines = list(month_invoice.lines.all())
    usage = sum((line.amount for line in lines if line.kind in USAGE_KINDS), Decimal(0))
    fixed = sum((line.amount for line in lines if line.kind not in USAGE_KINDS), Decimal(0))
    forecast = fixed + (usage * days / elapsed).quantize(Decimal("0.01"))
    return {
        "invoice": month_invoice,
        "usage": usage,
        "fixed": fixed,
        "elapsed": elapsed,
        "days": days,
        "forecast": forecast,
    }


def chargeback(*, invoice: Invoice) -> list[dict[str, Any]]:
    """What each department's usage was charged on ``invoice``, with its agents and
    models (call in the tenant's context)."""
    departments: dict[str, dict[str, Any]] = {}
    agents_by_department = dict(
        invoice.rated.order_by()
        .values("department_id")
        .annotate(agents=Count("agent_id", distinct=True))
        .values_list("department_id", "agents")
    )
    for line in invoice.lines.filter(kind=InvoiceLine.Kind.USAGE):
        name = line.department or "No department"
        entry = departments.setdefault(
            name,
            {"department": name, "amount": Decimal(0), "tokens": 0, "models": {}, "agents": 0},
        )
        entry["amount"] += line.amount
        entry["tokens"] += int(line.quantity)
        model = f"{line.provider}/{line.model}"
        entry["models"][model] = entry["models"].get(model, Decimal(0)) + line.amount
        entry["agents"] = agents_by_department.get(line.department_id, 0)
    return sorted(departments.values(), key=lambda entry: -entry["amount"])


def margin_by_tenant_month() -> list[dict[str, Any]]:
    """Staff: per tenant and month of final invoices, revenue (before tax), the provider
    cost of the usage they billed, and the margin."""
    with all_tenants_context():
        invoices = list(
            Invoice.unscoped.filter(status=Invoice.Status.FINAL)
            .select_related("tenant")
            .defer("pdf")
            .order_by("-month", "tenant__name")
        )
        costs = dict(
            RatedUsage.unscoped.filter(invoice__in=invoices)
            .values("invoice_id")
            .annotate(cost=Sum("cost"))
            .values_list("invoice_id", "cost")
        )
    rows = []
    for invoice in invoices:
        cost = Decimal(costs.get(invoice.pk) or 0).quantize(Decimal("0.01"))
        rows.append(
            {
                "tenant": invoice.tenant.name,
                "month": invoice.month,
                "number": invoice.number,
                "currency": invoice.currency,
                "revenue": invoice.subtotal,
                "cost": cost,
                "margin": invoice.subtotal - cost,
            }
        )
    return rows


def cost_by_provider_month() -> list[dict[str, Any]]:
    """Staff: provider cost and what it was charged, per provider and month billed."""
    with all_tenants_context():
        cost = (
            RatedUsage.unscoped.filter(invoice__status=Invoice.Status.FINAL)
            .values("invoice__month", "provider")
            .annotate(cost=Sum("cost"))
        )
        charged = (
            InvoiceLine.unscoped.filter(invoice__status=Invoice.Status.FINAL, kind__in=USAGE_KINDS)
            .values("invoice__month", "provider")
            .annotate(amount=Sum("amount"))
        )
        amounts = {(r["invoice__month"], r["provider"]): r["amount"] for r in charged}
        rows = [
            {
                "month": row["invoice__month"],
                "provider": row["provider"],
                "cost": Decimal(row["cost"]).quantize(Decimal("0.01")),
                "charged": amounts.get((row["invoice__month"], row["provider"]), Decimal(0)),
            }
            for row in cost
        ]
    return sorted(rows, key=lambda row: (row["month"], row["provider"]), reverse=True)


def invoices_awaiting_review() -> list[Invoice]:
    with all_tenants_context():
        return list(
            Invoice.unscoped.filter(status=Invoice.Status.REVIEW)
            .select_related("tenant")
            .defer("pdf")
            .order_by("month")
        )


def recent_reconciliation(*, today: dt.date, days: int = 35) -> list[Any]:
    """Staff: the flagged differences of every provider with an imported bill in the
    last ``days`` days."""
    since = today - dt.timedelta(days=days)
    providers = (
        ProviderCostLine.objects.filter(day__gte=since)
        .values_list("provider", flat=True)
        .distinct()
        .order_by("provider")
    )
    findings: list[Any] = []
    for provider in providers:
        found = provider_reconcile(
            provider=provider, since=since, until=today + dt.timedelta(days=1)
        )
        findings.extend(flagged(found))
    return findings

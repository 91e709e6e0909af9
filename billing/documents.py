"""An invoice as documents: the PDF (WeasyPrint) and the CSV of every line."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

from django.template.loader import render_to_string

from billing.models import Invoice, InvoiceLine

CSV_COLUMNS = (
    "invoice",
    "month",
    "position",
    "kind",
    "description",
    "department",
    "provider",
    "model",
    "token_class",
    "quantity",
    "unit_price",
    "amount",
    "currency",
)
_SECTIONS: dict[str, str] = {
    InvoiceLine.Kind.PLATFORM_FEE: "Fees",
    InvoiceLine.Kind.AGENT_FEE: "Fees",
    InvoiceLine.Kind.ADJUSTMENT: "Adjustments for earlier months",
}


def _section(line: InvoiceLine) -> str:
    if line.kind in _SECTIONS:
        return _SECTIONS[line.kind]
    if line.kind == InvoiceLine.Kind.USAGE:
        return f"Usage — {line.department or 'No department'}"
    return "Markup, allowances and discounts"


def _quantity_text(line: InvoiceLine) -> str:
    if line.kind in (InvoiceLine.Kind.USAGE, InvoiceLine.Kind.ADJUSTMENT):
        return f"{int(line.quantity):,} tokens"
    if line.kind in (InvoiceLine.Kind.MARKUP, InvoiceLine.Kind.DISCOUNT):
        return f"{line.quantity.quantize(Decimal('0.01')):,}"
    return f"{line.quantity.normalize():f}"


def _unit_text(line: InvoiceLine) -> str:
    if line.kind in (InvoiceLine.Kind.USAGE, InvoiceLine.Kind.ADJUSTMENT):
        return f"{(line.unit_price * 1_000_000).quantize(Decimal('0.0001')):f} / M"
    if line.kind in (InvoiceLine.Kind.MARKUP, InvoiceLine.Kind.DISCOUNT):
        return f"{(line.unit_price * 100).normalize():f} %"
    return f"{line.unit_price.quantize(Decimal('0.01')):f}"


def invoice_pdf(invoice: Invoice) -> bytes:
    """The invoice's PDF; call it in the invoice's tenant context."""
    from weasyprint import HTML  # imported here: Pango loads once, in the process that renders

    sections: dict[str, list[InvoiceLine]] = {}
    for line in invoice.lines.all():
        line.quantity_text = _quantity_text(line)  # type: ignore[attr-defined]
        line.unit_text = _unit_text(line)  # type: ignore[attr-defined]
        sections.setdefault(_section(line), []).append(line)
    replaces = Invoice.objects.filter(pk=invoice.replaces_id).values_list("number", flat=True)
    html = render_to_string(
        "billing/invoice_pdf.html",
        {
            "invoice": invoice,
            "issuer": invoice.issuer,
            "customer": invoice.customer,
            "sections": list(sections.items()),
            "tax_rate": invoice.tax_rate.normalize(),
            "replaces_number": replaces.first() or "",
        },
    )
    pdf: bytes = HTML(string=html).write_pdf()
    return pdf


def invoice_csv(invoice: Invoice) -> str:
    """Every line of the invoice, one CSV row each."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for line in invoice.lines.all():
        writer.writerow(
            [
                invoice.number or f"draft-{invoice.pk}",
                f"{invoice.month:%Y-%m}",
                line.position,
                line.kind,
                line.description,
                line.department,
                line.provider,
                line.model,
                line.token_class,
                f"{line.quantity.normalize():f}",
                f"{line.unit_price.normalize():f}",
                f"{line.amount:f}",
                invoice.currency,
            ]
        )
    return out.getvalue()

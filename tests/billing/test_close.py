"""The monthly close: invoice lines from rated usage and plans, review, numbers, PDF and
CSV, late usage, corrections."""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import subprocess
import tempfile
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError

from billing.closing import (
    credit_note_issue,
    invoice_approve,
    invoice_void_and_reissue,
    month_close,
)
from billing.documents import invoice_csv
from billing.models import Invoice, Issuer, RatedUsage
from billing.rating import usage_rate
from billing.services import plan_create
from controlplane.audit.models import AuditEvent
from controlplane.core.tenancy import all_tenants_context, tenant_context
from tenants.models import Department, Tenant
from tests.billing.conftest import NOVEMBER, OCTOBER, bill, record_usage
from tests.conftest import SYSTEM

pytestmark = pytest.mark.django_db

NOV_10 = dt.datetime(2026, 11, 10, 9, tzinfo=dt.UTC)


def _lines(invoice: Invoice) -> list[tuple[str, str, Decimal]]:
    with tenant_context(invoice.tenant_id):
        return [(line.kind, line.description, line.amount) for line in invoice.lines.all()]


def _typical_usage(tenant: Tenant) -> None:
    # 100M prompt tokens of which 40M read from the cache, 10M completion tokens.
    record_usage(
        tenant,
        NOV_10,
        input_tokens=100_000_000,
        output_tokens=10_000_000,
        cached_input_tokens=40_000_000,
    )


def test_a_month_closes_into_a_numbered_invoice_with_cost_per_token_class(
    billed: Tenant,
) -> None:
    _typical_usage(billed)

    invoice = month_close(tenant_id=billed.pk, month=NOVEMBER)

    assert invoice is not None and invoice.status == Invoice.Status.FINAL
    assert invoice.number == "NW-000001"
    lines = _lines(invoice)
    assert [(kind, amount) for kind, _, amount in lines] == [
        ("platform_fee", Decimal("500.00")),
        ("usage", Decimal("3.00")),  # 40M cached x 0.075
        ("usage", Decimal("9.00")),  # 60M plain input x 0.15
        ("usage", Decimal("6.00")),  # 10M output x 0.60
        ("markup", Decimal("3.60")),  # 20 % of 18.00
    ]
    assert (invoice.subtotal, invoice.tax, invoice.total) == (
        Decimal("521.60"),
        Decimal("104.32"),
        Decimal("625.92"),
    )
    with all_tenants_context():
        event = AuditEvent.unscoped.get(seq=invoice.audit_seq)
    assert (event.action, event.hash) == ("invoice.finalised", invoice.audit_hash)


def test_the_pdf_and_csv_show_every_line_and_the_totals(billed: Tenant, tmp_path: Path) -> None:
    _typical_usage(billed)
    invoice = month_close(tenant_id=billed.pk, month=NOVEMBER)
    assert invoice is not None and invoice.pdf

    with tempfile.NamedTemporaryFile(suffix=".pdf") as pdf:
        pdf.write(bytes(invoice.pdf))
        pdf.flush()
        text = subprocess.run(
            ["pdftotext", "-layout", pdf.name, "-"], capture_output=True, check=True, text=True
        ).stdout
        # The first page as an image (docs/billing.md): to $SCREENSHOT_DIR when set, as
        # the browser tests do (make screenshots).
        target = Path(os.environ.get("SCREENSHOT_DIR") or tmp_path) / "invoice"
        subprocess.run(
            ["pdftoppm", "-png", "-r", "70", "-singlefile", pdf.name, str(target)], check=True
        )
        assert target.with_suffix(".png").stat().st_size > 10_000
    for expected in (
        "Invoice NW-000001",
        "Northwind MSP Ltd",
        "GB123456789",  # issuer's tax id
        "Acme Corp Ltd",
        "GB987654321",  # customer's tax id
        "November 2026",
        "40,000,000 tokens",
        "Markup 20 %",
        "521.60",
        "104.32",
        "625.92 USD",
    ):
        assert expected in text, expected

    with tenant_context(billed):
        rows = list(csv.DictReader(io.StringIO(invoice_csv(invoice))))
    assert len(rows) == 5
    assert sum(Decimal(row["amount"]) for row in rows) == invoice.subtotal
    assert {row["token_class"] for row in rows if row["kind"] == "usage"} == {
        "input",
        "cached_input",
        "output",
    }


def test_rating_again_adds_nothing_and_a_late_event_adds_only_itself(billed: Tenant) -> None:
    _typical_usage(billed)
    assert usage_rate(tenant_id=billed.pk, since=NOVEMBER, until=dt.date(2026, 12, 1)) == 3
    assert usage_rate(tenant_id=billed.pk, since=NOVEMBER, until=dt.date(2026, 12, 1)) == 0
    record_usage(billed, NOV_10 + dt.timedelta(hours=2), input_tokens=1_000_000, output_tokens=0)
    assert usage_rate(tenant_id=billed.pk, since=NOVEMBER, until=dt.date(2026, 12, 1)) == 1
    with tenant_context(billed):
        plain = RatedUsage.objects.filter(token_class="input").order_by("revision")
        assert [(row.revision, row.tokens) for row in plain] == [(0, 60_000_000), (1, 1_000_000)]


def test_usage_of_a_closed_month_is_an_adjustment_on_the_next_invoice(billed: Tenant) -> None:
    record_usage(billed, dt.datetime(2026, 10, 5, tzinfo=dt.UTC), input_tokens=10_000_000)
    october = month_close(tenant_id=billed.pk, month=OCTOBER)
    assert october is not None and october.status == Invoice.Status.FINAL

    # Arrives after October's invoice was final.
    record_usage(
        billed, dt.datetime(2026, 10, 30, tzinfo=dt.UTC), input_tokens=20_000_000, output_tokens=0
    )
    november = month_close(tenant_id=billed.pk, month=NOVEMBER)

    assert november is not None
    adjustments = [line for line in _lines(november) if line[0] == "adjustment"]
    # 20M x 0.15 = 3.00, plus the plan's 20 % markup
    assert adjustments == [
        (
            "adjustment",
            "Late usage of October 2026: No department · openai/gpt-4o-mini · input",
            Decimal("3.60"),
        )
    ]
    with tenant_context(billed):
        again = Invoice.objects.get(pk=october.pk)
        assert (again.total, again.number, again.lines.count()) == (october.total, "NW-000001", 4)
    assert november.number == "NW-000002"


def test_a_plan_change_mid_month_is_prorated_and_shown(billed: Tenant) -> None:
    plan_create(
        actor=SYSTEM,
        tenant_id=billed.pk,
        name="Enterprise",
        effective_from=dt.date(2026, 11, 16),
        platform_fee=Decimal("1000"),
        token_rates={"*": "0.50"},
    )
    record_usage(
        billed, dt.datetime(2026, 11, 20, tzinfo=dt.UTC), input_tokens=4_000_000, output_tokens=0
    )
    invoice = month_close(tenant_id=billed.pk, month=NOVEMBER)
    assert invoice is not None
    assert _lines(invoice) == [
        (
            "platform_fee",
            "Platform fee — Managed, 01 Nov to 15 Nov 2026 (15 of 30 days)",
            Decimal("250.00"),
        ),
        (
            "platform_fee",
            "Platform fee — Enterprise, 16 Nov to 30 Nov 2026 (15 of 30 days)",
            Decimal("500.00"),
        ),
        # The new plan's price per million tokens, whatever the provider charged.
        ("usage", "No department · openai/gpt-4o-mini · input", Decimal("2.00")),
    ]


def test_allowance_minimum_and_discount(tenant_a: Tenant, issuer: Issuer, prices: None) -> None:
    bill(
        tenant_a,
        issuer,
        tax_rate="0",
        platform_fee=Decimal("100"),
        included_usage=Decimal("5"),
        minimum_commitment=Decimal("150"),
        discount_percent=Decimal("10"),
    )
    with tenant_context(tenant_a):
        marketing = Department.objects.create(tenant=tenant_a, name="Marketing")
    record_usage(
        tenant_a, NOV_10, input_tokens=20_000_000, output_tokens=0, department=marketing.pk
    )
    invoice = month_close(tenant_id=tenant_a.pk, month=NOVEMBER)
    assert invoice is not None
    assert [(kind, amount) for kind, _, amount in _lines(invoice)] == [
        ("platform_fee", Decimal("100.00")),
        ("usage", Decimal("3.00")),
        ("markup", Decimal("0.60")),
        ("allowance", Decimal("-3.60")),  # all of it is within the 5.00 included
        ("minimum", Decimal("50.00")),  # 100 + 0 below the 150 committed
        ("discount", Decimal("-15.00")),
    ]
    assert invoice.total == Decimal("135.00")
    with tenant_context(tenant_a):
        usage_line = invoice.lines.get(kind="usage")
    assert usage_line.department == "Marketing"


def test_an_invoice_above_the_threshold_waits_for_approval(billed: Tenant) -> None:
    record_usage(
        billed,
        NOV_10,
        input_tokens=2_000_000_000,
        output_tokens=0,
        model="claude-sonnet",
        provider="anthropic",
    )
    invoice = month_close(tenant_id=billed.pk, month=NOVEMBER)
    assert invoice is not None and invoice.status == Invoice.Status.REVIEW
    assert not invoice.number
    assert month_close(tenant_id=billed.pk, month=NOVEMBER).status == "review"  # type: ignore[union-attr]

    invoice_approve(invoice_id=invoice.pk, tenant_id=billed.pk, actor=SYSTEM)
    final = month_close(tenant_id=billed.pk, month=NOVEMBER)
    assert final is not None and (final.status, final.number) == ("final", "NW-000001")
    with pytest.raises(ValidationError):
        invoice_approve(invoice_id=invoice.pk, tenant_id=billed.pk, actor=SYSTEM)


def test_credit_notes_never_add_up_to_more_than_the_invoice(billed: Tenant) -> None:
    record_usage(billed, NOV_10, input_tokens=1_234_567, output_tokens=0)
    invoice = month_close(tenant_id=billed.pk, month=NOVEMBER)
    assert invoice is not None
    notes = [
        credit_note_issue(
            invoice_id=invoice.pk,
            tenant_id=billed.pk,
            net=Decimal("0.05"),
            reason="goodwill",
            actor=SYSTEM,
        )
        for _ in range(3)
    ]
    assert [note.number for note in notes] == ["NW-CN-000001", "NW-CN-000002", "NW-CN-000003"]
    left = invoice.subtotal - Decimal("0.15")
    with pytest.raises(ValidationError, match="at most"):
        credit_note_issue(
            invoice_id=invoice.pk,
            tenant_id=billed.pk,
            net=left + Decimal("0.01"),
            reason="too much",
            actor=SYSTEM,
        )
    last = credit_note_issue(
        invoice_id=invoice.pk, tenant_id=billed.pk, net=left, reason="rest", actor=SYSTEM
    )
    with tenant_context(billed):
        all_notes = invoice.credit_notes.all()
        assert sum(n.total for n in all_notes) == invoice.total
        assert sum(n.tax for n in all_notes) == invoice.tax
    assert last.number == "NW-CN-000004"


def test_void_and_reissue_keeps_the_old_number_and_gives_a_new_one(billed: Tenant) -> None:
    _typical_usage(billed)
    first = month_close(tenant_id=billed.pk, month=NOVEMBER)
    assert first is not None
    replacement = invoice_void_and_reissue(
        invoice_id=first.pk, tenant_id=billed.pk, reason="wrong address", actor=SYSTEM
    )
    final = month_close(tenant_id=billed.pk, month=NOVEMBER)
    assert final is not None and final.pk == replacement.pk
    assert (final.number, final.total, final.replaces_id) == ("NW-000002", first.total, first.pk)
    with all_tenants_context():
        assert Invoice.unscoped.get(pk=first.pk).status == "void"

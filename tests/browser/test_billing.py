"""Billing in the browser: a customer's billing person reads the month so far, downloads
an issued invoice and reads the chargeback of its month; staff approve an invoice that
waits for review and see it numbered."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from django.utils import timezone
from playwright.sync_api import Page, expect

from billing.closing import month_close
from billing.models import Invoice, Issuer
from billing.tasks import rate_open_months
from controlplane.accounts.models import User
from controlplane.core.tenancy import tenant_context
from tenants.models import Department, Tenant
from tests.billing.conftest import NOVEMBER, bill, issuer, prices, record_usage  # noqa: F401  (fixtures)
from tests.browser.conftest import sign_in

Screenshot = Callable[[Page, str], Path]
NOV_4 = dt.datetime(2026, 11, 4, tzinfo=dt.UTC)


def _november_by_department(tenant: Tenant) -> None:
    with tenant_context(tenant):
        support = Department.objects.create(tenant=tenant, name="Support")
        legal = Department.objects.create(tenant=tenant, name="Legal")
    record_usage(tenant, NOV_4, input_tokens=40_000_000, department=support.pk)
    record_usage(
        tenant,
        NOV_4,
        input_tokens=10_000_000,
        department=legal.pk,
        model="claude-sonnet",
        provider="anthropic",
    )


def test_a_billing_person_reads_the_month_downloads_an_invoice_and_its_chargeback(
    page: Page,
    tenant_a: Tenant,
    issuer: Issuer,  # noqa: F811
    prices: None,  # noqa: F811
    make_customer: Callable[..., User],
    screenshot: Screenshot,
) -> None:
    bill(tenant_a, issuer, effective_from=dt.date(2020, 1, 1))
    _november_by_department(tenant_a)
    invoice = month_close(tenant_id=tenant_a.pk, month=NOVEMBER)
    assert invoice is not None and invoice.number
    record_usage(tenant_a, timezone.now() - dt.timedelta(minutes=5), input_tokens=2_000_000)
    rate_open_months()

    sign_in(page, make_customer(tenant_a, "billing"))
    page.get_by_role("navigation").get_by_role("link", name="Invoices").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Invoices")
    month_so_far = page.get_by_role("region", name=re.compile("so far"))
    expect(month_so_far.get_by_test_id("mtd-usage")).not_to_have_text("0.00")
    expect(month_so_far.get_by_test_id("mtd-forecast")).to_be_visible()
    issued = page.get_by_role("row", name=re.compile(invoice.number))
    expect(issued).to_contain_text(f"{invoice.total} USD")
    screenshot(page, "portal-invoices")

    with page.expect_download() as pdf:
        issued.get_by_role("link", name="PDF").click()
    assert pdf.value.suggested_filename == f"{invoice.number}.pdf"
    assert Path(pdf.value.path()).read_bytes().startswith(b"%PDF")

    issued.get_by_role("link", name="November 2026").click()
    chargeback = page.get_by_test_id("chargeback")
    rows = chargeback.locator("tbody tr")
    # Legal: 10M input on Claude (30.00 + output) before Support's 40M on GPT-4o mini.
    expect(rows.nth(0)).to_contain_text("Legal")
    expect(rows.nth(0)).to_contain_text("claude-sonnet")
    expect(rows.nth(1)).to_contain_text("Support")
    expect(rows.nth(1)).to_contain_text("gpt-4o-mini")
    screenshot(page, "portal-chargeback")


def test_staff_approve_an_invoice_awaiting_review(
    page: Page,
    tenant_a: Tenant,
    issuer: Issuer,  # noqa: F811
    prices: None,  # noqa: F811
    make_staff: Callable[..., User],
    screenshot: Screenshot,
) -> None:
    bill(tenant_a, issuer, platform_fee=Decimal("9000"))
    record_usage(tenant_a, NOV_4)
    review = month_close(tenant_id=tenant_a.pk, month=NOVEMBER)
    assert review is not None and review.status == "review"

    sign_in(page, make_staff("operator"))
    page.get_by_role("navigation").get_by_role("link", name="Billing").click()
    waiting = page.get_by_test_id("review").get_by_role("row", name=re.compile("Acme Corp"))
    expect(waiting).to_contain_text(f"{review.total} USD")
    screenshot(page, "console-billing")
    waiting.get_by_role("button", name="Approve").click()

    expect(page.get_by_role("region", name="Awaiting review")).to_contain_text("Nothing to review")
    with tenant_context(tenant_a):
        final = Invoice.objects.get(pk=review.pk)
    assert (final.status, final.number) == ("final", "NW-000001")
    page.reload()
    expect(page.get_by_test_id("margins")).to_contain_text("NW-000001")

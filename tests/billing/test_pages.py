"""The portal's invoices page (month to date, forecast, invoices, chargeback, downloads)
and the console's billing page (margin, providers, review), by role."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal

import pytest
from django.utils import timezone

from billing.closing import month_close
from billing.models import Invoice, Issuer
from billing.tasks import rate_open_months
from controlplane.accounts.models import User
from controlplane.core.tenancy import tenant_context
from tenants.models import Department, Tenant
from tests.billing.conftest import NOVEMBER, bill, record_usage
from tests.conftest import signed_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(tenant_a: Tenant, issuer: Issuer, prices: None) -> Invoice:
    """A final November invoice with two departments, and usage this month."""
    bill(tenant_a, issuer, effective_from=dt.date(2020, 1, 1))
    with tenant_context(tenant_a):
        support = Department.objects.create(tenant=tenant_a, name="Support")
        legal = Department.objects.create(tenant=tenant_a, name="Legal")
    when = dt.datetime(2026, 11, 4, tzinfo=dt.UTC)
    record_usage(tenant_a, when, input_tokens=40_000_000, department=support.pk)
    record_usage(
        tenant_a,
        when,
        input_tokens=10_000_000,
        department=legal.pk,
        model="claude-sonnet",
        provider="anthropic",
    )
    invoice = month_close(tenant_id=tenant_a.pk, month=NOVEMBER)
    assert invoice is not None
    record_usage(tenant_a, timezone.now() - dt.timedelta(minutes=5), input_tokens=2_000_000)
    rate_open_months()
    return invoice


@pytest.mark.parametrize("role", ["owner", "admin", "billing"])
def test_billing_readers_see_month_to_date_invoices_and_chargeback(
    history: Invoice, tenant_a: Tenant, make_customer: Callable[..., User], role: str
) -> None:
    client = signed_in(make_customer(tenant_a, role))
    page = client.get("/t/acme/invoices/?month=2026-11")
    assert page.status_code == 200
    html = page.content.decode()
    assert history.number in html and f"{history.total} USD" in html
    assert 'data-testid="mtd-forecast"' in html
    chargeback = html[html.index('data-testid="chargeback"') :]
    # Legal: 10M input x 3 + 100k output x 15 = 31.50 on Claude; Support: 40M x 0.15 +
    # 100k x 0.60 = 6.06 on GPT. Biggest first.
    assert chargeback.index("Legal") < chargeback.index("Support")
    assert "anthropic/claude-sonnet: 31.50" in chargeback
    assert "openai/gpt-4o-mini: 6.06" in chargeback
    pdf = client.get(f"/t/acme/invoices/{history.pk}.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    csv_response = client.get(f"/t/acme/invoices/{history.pk}.csv")
    assert csv_response["Content-Type"].startswith("text/csv")
    assert history.number in csv_response.content.decode()


@pytest.mark.parametrize("role", ["member", "viewer"])
def test_members_and_viewers_cannot_open_invoices(
    history: Invoice, tenant_a: Tenant, make_customer: Callable[..., User], role: str
) -> None:
    client = signed_in(make_customer(tenant_a, role))
    assert client.get("/t/acme/invoices/").status_code == 403
    assert client.get(f"/t/acme/invoices/{history.pk}.pdf").status_code == 403
    assert b"/t/acme/invoices/" not in client.get("/t/acme/").content  # not in the menu


def test_another_tenant_sees_nothing(
    history: Invoice, tenant_b: Tenant, make_customer: Callable[..., User]
) -> None:
    client = signed_in(make_customer(tenant_b, "owner"))
    assert client.get("/t/acme/invoices/").status_code == 404
    assert client.get(f"/t/globex/invoices/{history.pk}.pdf").status_code == 404


def test_staff_see_margin_and_approve_invoices_under_review(
    history: Invoice,
    tenant_b: Tenant,
    issuer: Issuer,
    make_staff: Callable[..., User],
) -> None:
    bill(tenant_b, issuer, platform_fee=Decimal("9000"))
    review = month_close(tenant_id=tenant_b.pk, month=NOVEMBER)
    assert review is not None and review.status == "review"

    auditor = signed_in(make_staff("auditor"))
    page = auditor.get("/console/billing/").content.decode()
    margins = page[page.index('data-testid="margins"') :]
    assert "Acme Corp" in margins and history.number in margins
    assert "Globex" in page[page.index('data-testid="review"') :]
    assert auditor.post(f"/console/billing/invoices/{review.pk}/approve").status_code == 403

    admin = signed_in(make_staff("admin"))
    assert admin.post(f"/console/billing/invoices/{review.pk}/approve").status_code == 302
    with tenant_context(tenant_b):
        final = Invoice.objects.get(pk=review.pk)
    assert (final.status, final.number) == ("final", "NW-000002")


def test_customers_do_not_reach_the_console(
    history: Invoice, tenant_a: Tenant, make_customer: Callable[..., User]
) -> None:
    assert signed_in(make_customer(tenant_a, "owner")).get("/console/billing/").status_code == 404

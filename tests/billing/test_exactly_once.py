"""A close killed at any step and run again: one invoice, one number, and no Stripe
object twice (counted at the fake Stripe); closes of many tenants at once: numbers
without gaps; webhooks applied once."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Callable

import pytest
import stripe
from django.db import connection
from django.test import Client

from billing import closing, drafts
from billing.closing import invoice_document, invoice_finalise, month_close, month_rate
from billing.models import Invoice, Issuer
from controlplane.core.tenancy import all_tenants_context, tenant_context
from tenants.models import Tenant
from tenants.services import tenant_create
from tests.billing.conftest import NOVEMBER, bill, record_usage
from tests.billing.fake_stripe import FakeStripe
from tests.conftest import SYSTEM

NOV_10 = dt.datetime(2026, 11, 10, tzinfo=dt.UTC)


def _only_invoice(tenant: Tenant) -> Invoice:
    with tenant_context(tenant):
        [invoice] = Invoice.objects.all()
    return invoice


def _steps(tenant: Tenant) -> list[Callable[[], object]]:
    """The close's own steps, in order (billing.closing.month_close)."""

    def submit() -> object:
        return closing._submit(_only_invoice(tenant))

    return [
        lambda: month_rate(tenant_id=tenant.pk, month=NOVEMBER),
        lambda: drafts.draft_refresh(tenant_id=tenant.pk, month=NOVEMBER),
        submit,
        lambda: invoice_finalise(invoice_id=_only_invoice(tenant).pk, tenant_id=tenant.pk),
        lambda: invoice_document(invoice_id=_only_invoice(tenant).pk, tenant_id=tenant.pk),
    ]


def _assert_one_invoice_in_stripe(tenant: Tenant, fake: FakeStripe) -> None:
    invoice = _only_invoice(tenant)
    assert invoice.number == "NW-000001" and invoice.pdf
    with tenant_context(tenant):
        lines = invoice.lines.count()
    assert (fake.count("customer"), fake.count("invoice")) == (1, 1)
    assert fake.count("invoiceitem") == lines + 1  # the lines and the tax
    stripe_invoice = fake.objects[invoice.stripe_invoice_id]
    assert stripe_invoice["status"] == "open"
    assert stripe_invoice["total"] == int(invoice.total * 100)


@pytest.mark.django_db
@pytest.mark.parametrize("done", range(6), ids=lambda n: f"killed-after-step-{n}")
def test_a_close_killed_between_steps_finishes_once(
    billed: Tenant, fake_stripe: FakeStripe, done: int
) -> None:
    record_usage(billed, NOV_10, cached_input_tokens=300_000)
    for step in _steps(billed)[:done]:
        step()
    month_close(tenant_id=billed.pk, month=NOVEMBER)
    month_close(tenant_id=billed.pk, month=NOVEMBER)
    _assert_one_invoice_in_stripe(billed, fake_stripe)


@pytest.mark.django_db
@pytest.mark.parametrize("answered", range(8), ids=lambda n: f"stripe-down-after-{n}")
def test_a_push_to_stripe_cut_off_at_any_request_finishes_once(
    billed: Tenant, fake_stripe: FakeStripe, answered: int
) -> None:
    # 1 customer, 1 invoice, 4 lines and the tax, 1 finalisation: 8 requests.
    record_usage(billed, NOV_10, cached_input_tokens=300_000)
    fake_stripe.down_after = answered
    with pytest.raises(stripe.StripeError):
        month_close(tenant_id=billed.pk, month=NOVEMBER)
    fake_stripe.down_after = None
    month_close(tenant_id=billed.pk, month=NOVEMBER)
    _assert_one_invoice_in_stripe(billed, fake_stripe)


@pytest.mark.django_db(transaction=True)
def test_concurrent_closes_of_many_tenants_number_without_gaps(
    issuer: Issuer, prices: None
) -> None:
    tenants = [tenant_create(actor=SYSTEM, slug=f"t{i}", name=f"T{i}") for i in range(6)]
    for tenant in tenants:
        bill(tenant, issuer)
        record_usage(tenant, NOV_10)
    errors: list[BaseException] = []

    def close(tenant: Tenant) -> None:
        try:
            month_close(tenant_id=tenant.pk, month=NOVEMBER)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=close, args=(tenant,)) for tenant in tenants]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    with all_tenants_context():
        numbers = sorted(Invoice.unscoped.values_list("number", flat=True))
    assert numbers == [f"NW-{n:06d}" for n in range(1, 7)]
    issuer.refresh_from_db()
    assert issuer.next_invoice_number == 7


def _signed(payload: dict[str, object], secret: str = "whsec_test") -> tuple[bytes, str]:
    body = json.dumps(payload).encode()
    stamp = int(time.time())
    signature = stripe.WebhookSignature._compute_signature(f"{stamp}.{body.decode()}", secret)
    return body, f"t={stamp},v1={signature}"


@pytest.mark.django_db
def test_signed_webhooks_update_the_payment_once(billed: Tenant, fake_stripe: FakeStripe) -> None:
    record_usage(billed, NOV_10)
    invoice = month_close(tenant_id=billed.pk, month=NOVEMBER)
    assert invoice is not None and invoice.payment_status == "open"
    event = {
        "id": "evt_1",
        "object": "event",
        "type": "invoice.payment_failed",
        "data": {"object": {"id": invoice.stripe_invoice_id, "object": "invoice"}},
    }
    client = Client()
    url = "/billing/stripe/webhook"
    body, signature = _signed(event)
    assert (
        client.post(
            url, body, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature
        ).status_code
        == 200
    )
    assert _only_invoice(billed).payment_status == "failed"

    paid = {**event, "id": "evt_2", "type": "invoice.paid"}
    body, signature = _signed(paid)
    assert (
        client.post(
            url, body, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature
        ).status_code
        == 200
    )
    assert _only_invoice(billed).payment_status == "paid"
    # The first event delivered again changes nothing.
    body, signature = _signed(event)
    response = client.post(
        url, body, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature
    )
    assert response.status_code == 200 and response.json()["result"] == "duplicate"
    assert _only_invoice(billed).payment_status == "paid"

    forged, _ = _signed({**event, "id": "evt_3"}, secret="whsec_other")
    response = client.post(
        url, forged, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature
    )
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"

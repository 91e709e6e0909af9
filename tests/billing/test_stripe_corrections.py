"""Corrections reach Stripe once: a credit note lowers what is due (or credits the
customer's balance once paid), a void voids the Stripe invoice, and what could not be
pushed while Stripe was down is pushed later without duplicates (counted at the fake)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from contextlib import AbstractContextManager
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings

from billing import stripe_sync
from billing.closing import credit_note_issue, invoice_void_and_reissue, month_close
from billing.models import CreditNote, Invoice
from billing.tasks import push_pending_to_stripe
from controlplane.core.tenancy import tenant_context
from tenants.models import Tenant
from tests.billing.conftest import NOVEMBER, record_usage
from tests.billing.fake_stripe import FakeStripe
from tests.conftest import SYSTEM

NOV_10 = dt.datetime(2026, 11, 10, tzinfo=dt.UTC)
Callbacks = Callable[..., AbstractContextManager[Any]]


def _final_invoice(tenant: Tenant) -> Invoice:
    record_usage(tenant, NOV_10)
    invoice = month_close(tenant_id=tenant.pk, month=NOVEMBER)
    assert invoice is not None and invoice.status == "final" and invoice.stripe_invoice_id
    return invoice


def _credit(tenant: Tenant, invoice: Invoice, net: str, callbacks: Callbacks) -> CreditNote:
    with callbacks(execute=True):
        note = credit_note_issue(
            invoice_id=invoice.pk, tenant_id=tenant.pk, net=Decimal(net), reason="SLA", actor=SYSTEM
        )
    with tenant_context(tenant):
        return CreditNote.objects.get(pk=note.pk)


@pytest.mark.django_db
def test_a_credit_note_lowers_what_is_still_due_in_stripe(
    billed: Tenant, fake_stripe: FakeStripe, django_capture_on_commit_callbacks: Callbacks
) -> None:
    invoice = _final_invoice(billed)
    note = _credit(billed, invoice, "1.00", django_capture_on_commit_callbacks)

    stripe_note = fake_stripe.objects[note.stripe_credit_note_id]
    assert stripe_note["amount"] == int(note.total * 100)
    assert stripe_note["memo"].startswith(note.number)
    stripe_invoice = fake_stripe.objects[invoice.stripe_invoice_id]
    assert stripe_invoice["amount_remaining"] == int((invoice.total - note.total) * 100)


@pytest.mark.django_db
def test_a_credit_note_on_a_paid_invoice_credits_the_customer_balance(
    billed: Tenant, fake_stripe: FakeStripe, django_capture_on_commit_callbacks: Callbacks
) -> None:
    invoice = _final_invoice(billed)
    fake_stripe.pay(invoice.stripe_invoice_id)
    with tenant_context(billed):
        Invoice.objects.filter(pk=invoice.pk).update(payment_status=Invoice.Payment.PAID)

    note = _credit(billed, invoice, "2.00", django_capture_on_commit_callbacks)

    # The fake refuses a post-payment credit note that does not say where the money goes.
    assert fake_stripe.count("credit_note") == 1
    assert fake_stripe.objects[note.stripe_credit_note_id]["amount"] == int(note.total * 100)


@pytest.mark.django_db
def test_a_credit_note_pushed_again_after_a_lost_answer_is_made_once(
    billed: Tenant, fake_stripe: FakeStripe, django_capture_on_commit_callbacks: Callbacks
) -> None:
    invoice = _final_invoice(billed)
    note = _credit(billed, invoice, "1.00", django_capture_on_commit_callbacks)
    first = note.stripe_credit_note_id
    # Stripe made it but our save was lost (the worker died in between): push again.
    with tenant_context(billed):
        CreditNote.objects.filter(pk=note.pk).update(stripe_credit_note_id="")
    again = stripe_sync.credit_note_push(credit_note_id=note.pk, tenant_id=billed.pk)
    assert again == first
    assert fake_stripe.count("credit_note") == 1


@pytest.mark.django_db
def test_a_void_voids_the_stripe_invoice_once(
    billed: Tenant, fake_stripe: FakeStripe, django_capture_on_commit_callbacks: Callbacks
) -> None:
    invoice = _final_invoice(billed)
    with django_capture_on_commit_callbacks(execute=True):
        replacement = invoice_void_and_reissue(
            invoice_id=invoice.pk, tenant_id=billed.pk, reason="wrong plan", actor=SYSTEM
        )
    assert fake_stripe.objects[invoice.stripe_invoice_id]["status"] == "void"
    with tenant_context(billed):
        voided = Invoice.objects.get(pk=invoice.pk)
    assert (voided.status, voided.payment_status) == ("void", "void")
    assert replacement.replaces_id == invoice.pk and replacement.status == "draft"
    # Pushing again asks Stripe nothing more.
    requests = fake_stripe.requests
    assert stripe_sync.invoice_void_push(invoice_id=invoice.pk, tenant_id=billed.pk)
    assert fake_stripe.requests == requests


@pytest.mark.django_db
def test_a_paid_invoice_is_corrected_by_a_credit_note_not_a_void(
    billed: Tenant, fake_stripe: FakeStripe
) -> None:
    invoice = _final_invoice(billed)
    with tenant_context(billed):
        Invoice.objects.filter(pk=invoice.pk).update(payment_status=Invoice.Payment.PAID)
    with pytest.raises(ValidationError, match="credit note"):
        invoice_void_and_reissue(
            invoice_id=invoice.pk, tenant_id=billed.pk, reason="wrong plan", actor=SYSTEM
        )
    assert fake_stripe.objects[invoice.stripe_invoice_id]["status"] == "open"


@pytest.mark.django_db
def test_what_was_not_pushed_while_stripe_was_away_is_pushed_later_once(
    billed: Tenant, fake_stripe: FakeStripe, django_capture_on_commit_callbacks: Callbacks
) -> None:
    record_usage(billed, NOV_10)
    with override_settings(STRIPE_API_KEY=""):
        invoice = month_close(tenant_id=billed.pk, month=NOVEMBER)
        assert invoice is not None and not invoice.stripe_invoice_id
        note = _credit(billed, invoice, "1.00", django_capture_on_commit_callbacks)
    assert fake_stripe.requests == 0

    assert push_pending_to_stripe() == 2
    assert push_pending_to_stripe() == 0
    with tenant_context(billed):
        invoice.refresh_from_db()
        note.refresh_from_db()
    assert fake_stripe.objects[invoice.stripe_invoice_id]["status"] == "open"
    assert fake_stripe.objects[note.stripe_credit_note_id]["invoice"] == invoice.stripe_invoice_id
    assert (fake_stripe.count("invoice"), fake_stripe.count("credit_note")) == (1, 1)

"""Stripe collects what our final invoice says; our invoice is the ledger.

Each object is created with an idempotency key made of our own ids, and its Stripe id
is saved as soon as it is known. A push killed between Stripe's answer and our save is
repeated with the same key, and Stripe answers with the object it already made: no
duplicates. The Stripe invoice is created first with
``pending_invoice_items_behavior=exclude`` and every item names it, so nothing pushed
for the customer meanwhile can slip into (or race the finalisation of) this invoice.
"""

from __future__ import annotations

import uuid
from typing import Any

import stripe
from django.conf import settings
from django.db import transaction
from stripe.params import CreditNoteCreateParams

from billing.models import BillingAccount, CreditNote, Invoice, StripeEvent
from controlplane.core.tenancy import all_tenants_context, tenant_context

PAYMENT_EVENTS = {
    "invoice.paid": Invoice.Payment.PAID,
    "invoice.payment_succeeded": Invoice.Payment.PAID,
    "invoice.payment_failed": Invoice.Payment.FAILED,
    "invoice.voided": Invoice.Payment.VOID,
}


def _client() -> stripe.StripeClient:
    return stripe.StripeClient(
        settings.STRIPE_API_KEY,
        base_addresses={"api": settings.STRIPE_API_BASE},
        max_network_retries=2,
    )


def _cents(amount: Any) -> int:
    return int(amount * 100)


def _customer(client: stripe.StripeClient, account: BillingAccount) -> str:
    if account.stripe_customer_id:
        return account.stripe_customer_id
    customer = client.v1.customers.create(
        params={
            "name": account.legal_name,
            "email": account.email,
            "metadata": {"tenant_id": str(account.tenant_id)},
        },
        options={"idempotency_key": f"acp-customer-{account.tenant_id}"},
    )
    BillingAccount.objects.filter(pk=account.pk).update(stripe_customer_id=customer.id)
    return customer.id


def invoice_push(*, invoice_id: uuid.UUID, tenant_id: uuid.UUID) -> str:
    """Create (once) the Stripe invoice of a final invoice, its items and its
    finalisation. Returns the Stripe invoice id."""
    client = _client()
    with tenant_context(tenant_id):
        invoice = Invoice.objects.get(pk=invoice_id, status=Invoice.Status.FINAL)
        account = BillingAccount.objects.get(tenant_id=tenant_id)
        customer = _customer(client, account)
        stripe_id = invoice.stripe_invoice_id
        if not stripe_id:
            created = client.v1.invoices.create(
                params={
                    "customer": customer,
                    "currency": invoice.currency.lower(),
                    "collection_method": "send_invoice",
                    "days_until_due": 30,
                    "auto_advance": False,
                    "pending_invoice_items_behavior": "exclude",
                    "metadata": {"invoice_id": str(invoice.pk), "number": invoice.number},
                },
                options={"idempotency_key": f"acp-invoice-{invoice.pk}"},
            )
            stripe_id = created.id
            Invoice.objects.filter(pk=invoice.pk).update(stripe_invoice_id=stripe_id)
        for line in invoice.lines.filter(stripe_item_id=""):
            item = client.v1.invoice_items.create(
                params={
                    "customer": customer,
                    "invoice": stripe_id,
                    "amount": _cents(line.amount),
                    "currency": invoice.currency.lower(),
                    "description": line.description,
                    "metadata": {"line_id": str(line.pk)},
                },
                options={"idempotency_key": f"acp-line-{line.pk}"},
            )
            type(line).objects.filter(pk=line.pk).update(stripe_item_id=item.id)
        if invoice.tax:
            client.v1.invoice_items.create(
                params={
                    "customer": customer,
                    "invoice": stripe_id,
                    "amount": _cents(invoice.tax),
                    "currency": invoice.currency.lower(),
                    "description": f"Tax {invoice.tax_rate.normalize():f} %",
                    "metadata": {"invoice_id": str(invoice.pk)},
                },
                options={"idempotency_key": f"acp-tax-{invoice.pk}"},
            )
        client.v1.invoices.finalize_invoice(
            stripe_id, options={"idempotency_key": f"acp-finalize-{invoice.pk}"}
        )
    return stripe_id


def credit_note_push(*, credit_note_id: uuid.UUID, tenant_id: uuid.UUID) -> str | None:
    """Create (once) the Stripe credit note of one of ours, for its total with tax.

    Stripe reduces what is still due on an open invoice; on a paid one the amount goes
    to the customer's balance, where their next invoice uses it (a refund is a person's
    decision, taken in Stripe). Returns the Stripe id, or None while the invoice itself
    is not in Stripe yet (the next push of pending objects takes it then)."""
    with tenant_context(tenant_id):
        note = CreditNote.objects.select_related("invoice").get(pk=credit_note_id)
        if note.stripe_credit_note_id or not note.invoice.stripe_invoice_id:
            return note.stripe_credit_note_id or None
        params: CreditNoteCreateParams = {
            "invoice": note.invoice.stripe_invoice_id,
            "amount": _cents(note.total),
            "memo": f"{note.number}: {note.reason}"[:500],
            "metadata": {"credit_note_id": str(note.pk), "number": note.number},
        }
        if note.invoice.payment_status == Invoice.Payment.PAID:
            params["credit_amount"] = params["amount"]
        created = _client().v1.credit_notes.create(
            params=params, options={"idempotency_key": f"acp-credit-note-{note.pk}"}
        )
        CreditNote.objects.filter(pk=note.pk).update(stripe_credit_note_id=created.id)
    return created.id


def invoice_void_push(*, invoice_id: uuid.UUID, tenant_id: uuid.UUID) -> bool:
    """Void in Stripe (once) an invoice we voided, so nobody is asked to pay it.
    Returns whether Stripe holds it void now."""
    with tenant_context(tenant_id):
        invoice = Invoice.objects.get(pk=invoice_id, status=Invoice.Status.VOID)
        if not invoice.stripe_invoice_id:
            return False
        if invoice.payment_status != Invoice.Payment.VOID:
            _client().v1.invoices.void_invoice(
                invoice.stripe_invoice_id, options={"idempotency_key": f"acp-void-{invoice.pk}"}
            )
            Invoice.objects.filter(pk=invoice.pk).update(payment_status=Invoice.Payment.VOID)
    return True


def webhook_handle(*, payload: bytes, signature: str) -> str:
    """Apply a signed webhook once. Raises ``stripe.SignatureVerificationError`` or
    ``ValueError`` for a delivery that is not Stripe's. Returns what was done."""
    event = stripe.Webhook.construct_event(payload, signature, settings.STRIPE_WEBHOOK_SECRET)
    status = PAYMENT_EVENTS.get(event.type)
    if status is None:
        return "ignored"
    stripe_invoice = event.data.object
    with transaction.atomic(), all_tenants_context():
        _, new = StripeEvent.objects.get_or_create(event_id=event.id, defaults={"kind": event.type})
        if not new:
            return "duplicate"
        updated = Invoice.unscoped.filter(stripe_invoice_id=stripe_invoice["id"]).update(
            payment_status=status
        )
    return "updated" if updated else "unknown invoice"

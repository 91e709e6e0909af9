"""The monthly close: rate, refresh the draft, review, finalise, documents, Stripe.

Every step is idempotent and looks at the invoice's state first, so a close killed at
any point and run again continues where it stopped (docs/decisions/0020-invoice-close.md):
- a number is taken under the issuer's row lock in the finalising transaction (a
  killed finalisation gives it back: no gaps, no second number);
- the PDF is rendered once the invoice is final and only if it has none;
- each Stripe object is created with an idempotency key derived from our ids.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from functools import partial
from types import ModuleType

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from billing import stripe_sync
from billing.documents import invoice_pdf
from billing.drafts import HUNDRED, cents, draft_refresh, month_start, next_month
from billing.models import BillingAccount, CreditNote, Invoice, Issuer, RatedUsage
from billing.rating import usage_rate
from controlplane.audit.services import Actor, audit_record, snapshot
from controlplane.core.tenancy import tenant_context

CLOSE_ACTOR = Actor.system("billing-close")
INVOICE_AUDIT_FIELDS = ("month", "number", "status", "subtotal", "tax", "total", "currency")


def month_rate(*, tenant_id: uuid.UUID, month: dt.date) -> int:
    """Rate the month and the one before it (usage that arrived late for a closed month
    becomes an adjustment on this one)."""
    previous = month_start(month - dt.timedelta(days=1))
    return usage_rate(tenant_id=tenant_id, since=previous, until=next_month(month))


def month_close(*, tenant_id: uuid.UUID, month: dt.date) -> Invoice | None:
    """Take the tenant's invoice for ``month`` as far as it can go now: final, with its
    PDF, in Stripe; or to review when its total is above the issuer's threshold."""
    month = month_start(month)
    with tenant_context(tenant_id):
        invoice = Invoice.objects.exclude(status=Invoice.Status.VOID).filter(month=month).first()
    if invoice is None or invoice.status == Invoice.Status.DRAFT:
        month_rate(tenant_id=tenant_id, month=month)
        invoice = draft_refresh(tenant_id=tenant_id, month=month)
        if invoice is None:
            return None
    if invoice.status == Invoice.Status.DRAFT:
        invoice = _submit(invoice)
    if invoice.status == Invoice.Status.APPROVED:
        invoice = invoice_finalise(invoice_id=invoice.pk, tenant_id=tenant_id)
    if invoice.status == Invoice.Status.FINAL:
        invoice_document(invoice_id=invoice.pk, tenant_id=tenant_id)
        if settings.STRIPE_API_KEY:
            stripe_sync.invoice_push(invoice_id=invoice.pk, tenant_id=tenant_id)
    with tenant_context(tenant_id):
        return Invoice.objects.get(pk=invoice.pk)


def _submit(invoice: Invoice) -> Invoice:
    """Draft → approved, or → review when the total is above the issuer's threshold."""
    with transaction.atomic(), tenant_context(invoice.tenant_id):
        locked = Invoice.objects.select_for_update().select_related("issuer").get(pk=invoice.pk)
        if locked.status != Invoice.Status.DRAFT:
            return locked
        if locked.total > locked.issuer.review_threshold:
            locked.status = Invoice.Status.REVIEW
        else:
            locked.status = Invoice.Status.APPROVED
            locked.approved_by = "automatic: below the review threshold"
        locked.save(update_fields=["status", "approved_by"])
    return locked


def invoice_approve(*, invoice_id: uuid.UUID, tenant_id: uuid.UUID, actor: Actor) -> Invoice:
    """A staff member approves an invoice under review (the close then finalises it)."""
    with transaction.atomic(), tenant_context(tenant_id):
        invoice = Invoice.objects.select_for_update().get(pk=invoice_id)
        if invoice.status != Invoice.Status.REVIEW:
            raise ValidationError(
                {"status": f"only an invoice under review can be approved, not {invoice.status}"}
            )
        invoice.status = Invoice.Status.APPROVED
        invoice.approved_by = actor.label[:254]
        invoice.save(update_fields=["status", "approved_by"])
        audit_record(
            actor=actor,
            action="invoice.approved",
            target=invoice,
            tenant_id=tenant_id,
            after=snapshot(invoice, INVOICE_AUDIT_FIELDS),
        )
    return invoice


def invoice_finalise(*, invoice_id: uuid.UUID, tenant_id: uuid.UUID) -> Invoice:
    """Approved → final: the issuer's next number, the bill-to details as of now and the
    audit chain's head, all in one transaction. Final invoices are never changed."""
    with transaction.atomic(), tenant_context(tenant_id):
        invoice = Invoice.objects.select_for_update().get(pk=invoice_id)
        if invoice.status != Invoice.Status.APPROVED:
            return invoice
        issuer = Issuer.objects.select_for_update().get(pk=invoice.issuer_id)
        invoice.number = f"{issuer.invoice_prefix}{issuer.next_invoice_number:06d}"
        issuer.next_invoice_number += 1
        issuer.save(update_fields=["next_invoice_number"])
        account = BillingAccount.objects.get(tenant_id=tenant_id)
        invoice.customer = {
            "legal_name": account.legal_name,
            "address": account.address,
            "tax_id": account.tax_id,
            "email": account.email,
        }
        invoice.status = Invoice.Status.FINAL
        invoice.finalised_at = timezone.now()
        invoice.payment_status = Invoice.Payment.OPEN
        event = audit_record(
            actor=CLOSE_ACTOR,
            action="invoice.finalised",
            target=invoice,
            tenant_id=tenant_id,
            after=snapshot(invoice, INVOICE_AUDIT_FIELDS),
        )
        invoice.audit_seq, invoice.audit_hash = event.seq, event.hash
        invoice.save()
    return invoice


def invoice_document(*, invoice_id: uuid.UUID, tenant_id: uuid.UUID) -> None:
    """Render the final invoice's PDF once."""
    with tenant_context(tenant_id):
        invoice = Invoice.objects.select_related("issuer").get(pk=invoice_id)
        if invoice.pdf or invoice.status not in (Invoice.Status.FINAL, Invoice.Status.VOID):
            return
        pdf = invoice_pdf(invoice)
        Invoice.objects.filter(pk=invoice_id, pdf__isnull=True).update(pdf=pdf)


def credit_tax(*, net: Decimal, net_left: Decimal, tax_left: Decimal, rate: Decimal) -> Decimal:
    """The tax a credit of ``net`` gives back: its share at ``rate`` percent, rounded,
    never more than is left, and all that is left with the last of the net."""
    if net == net_left:
        return tax_left
    return min(cents(net * rate / HUNDRED), tax_left)


def credit_note_issue(
    *, invoice_id: uuid.UUID, tenant_id: uuid.UUID, net: Decimal, reason: str, actor: Actor
) -> CreditNote:
    """Credit ``net`` (before tax) of a final invoice.

    The tax credited is the net's share rounded to the cent, but never more than the tax
    the invoice's earlier credit notes left; the credit note for the whole remaining net
    credits exactly the remaining tax. So the credit notes of an invoice add up to at
    most its subtotal, its tax and its total, whatever the rounding.
    """
    net = Decimal(net)
    if net != cents(net) or net <= 0:
        raise ValidationError({"net": "must be a positive amount in cents"})
    if not reason.strip():
        raise ValidationError({"reason": "is required"})
    with transaction.atomic(), tenant_context(tenant_id):
        invoice = Invoice.objects.select_for_update().get(pk=invoice_id)
        if invoice.status != Invoice.Status.FINAL:
            raise ValidationError({"invoice": "only a final invoice can be credited"})
        credited = invoice.credit_notes.aggregate(net=Sum("net"), tax=Sum("tax"))
        net_left = invoice.subtotal - (credited["net"] or 0)
        tax_left = invoice.tax - (credited["tax"] or 0)
        if net > net_left:
            raise ValidationError({"net": f"at most {net_left} is left to credit"})
        tax = (
            tax_left if net == net_left else min(cents(net * invoice.tax_rate / HUNDRED), tax_left)
        )
        issuer = Issuer.objects.select_for_update().get(pk=invoice.issuer_id)
        note = CreditNote(
            tenant_id=tenant_id,
            invoice=invoice,
            number=f"{issuer.credit_note_prefix}{issuer.next_credit_note_number:06d}",
            reason=reason.strip()[:300],
            net=net,
            tax=tax,
            total=net + tax,
            issued_at=timezone.now(),
            audit_seq=0,
        )
        issuer.next_credit_note_number += 1
        issuer.save(update_fields=["next_credit_note_number"])
        event = audit_record(
            actor=actor,
            action="credit_note.issued",
            target=note,
            tenant_id=tenant_id,
            after={"invoice": invoice.number, "net": net, "tax": tax, "reason": note.reason},
        )
        note.audit_seq = event.seq
        note.save(force_insert=True)
        if settings.STRIPE_API_KEY:
            transaction.on_commit(
                partial(_tasks().push_credit_note.delay, str(tenant_id), str(note.pk))
            )
    return note


def invoice_void_and_reissue(
    *, invoice_id: uuid.UUID, tenant_id: uuid.UUID, reason: str, actor: Actor
) -> Invoice:
    """Void a final invoice (it keeps its number) and open a new draft for its month
    that replaces it; the close then takes the new one through review and a new number."""
    if not reason.strip():
        raise ValidationError({"reason": "is required"})
    with transaction.atomic(), tenant_context(tenant_id):
        invoice = Invoice.objects.select_for_update().get(pk=invoice_id)
        if invoice.status != Invoice.Status.FINAL:
            raise ValidationError({"invoice": "only a final invoice can be voided"})
        if invoice.credit_notes.exists():
            raise ValidationError({"invoice": "an invoice with credit notes cannot be voided"})
        if invoice.payment_status == Invoice.Payment.PAID:
            raise ValidationError(
                {"invoice": "a paid invoice cannot be voided; correct it with a credit note"}
            )
        invoice.status = Invoice.Status.VOID
        invoice.save(update_fields=["status"])
        RatedUsage.objects.filter(invoice=invoice).update(invoice=None)
        audit_record(
            actor=actor,
            action="invoice.voided",
            target=invoice,
            tenant_id=tenant_id,
            after={"number": invoice.number, "reason": reason.strip()},
        )
        new = Invoice.objects.create(
            tenant_id=tenant_id,
            month=invoice.month,
            issuer_id=invoice.issuer_id,
            currency=invoice.currency,
            tax_rate=invoice.tax_rate,
            replaces=invoice,
        )
        if settings.STRIPE_API_KEY:
            transaction.on_commit(
                partial(_tasks().push_invoice_void.delay, str(tenant_id), str(invoice.pk))
            )
    draft_refresh(tenant_id=tenant_id, month=invoice.month)
    return new


def _tasks() -> ModuleType:
    # billing.tasks imports this module; the pushes are enqueued only after a commit.
    from billing import tasks

    return tasks

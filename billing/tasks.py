"""Celery tasks of billing: thin, by id, idempotent, on the billing queue."""

from __future__ import annotations

import datetime as dt
import uuid
from functools import partial

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from billing import closing, selectors, stripe_sync
from billing.drafts import draft_refresh, month_start


@shared_task(name="billing.rate_open_months", ignore_result=True)
def rate_open_months() -> int:
    """Month to date: rate every billed tenant's usage and refresh its open draft."""
    month = month_start(timezone.now().date())
    tenants = selectors.billed_tenant_ids()
    for tenant_id in tenants:
        closing.month_rate(tenant_id=tenant_id, month=month)
        draft_refresh(tenant_id=tenant_id, month=month)
    return len(tenants)


@shared_task(name="billing.close_due_months", ignore_result=True)
def close_due_months() -> int:
    """Enqueue the close of last month for every billed tenant, once the grace period
    for late usage is over. Enqueued again each hour until done: the close is
    idempotent and one under review waits for its approval."""
    today = timezone.now().date()
    if today.day <= settings.BILLING_GRACE_DAYS:
        return 0
    month = month_start(today.replace(day=1) - dt.timedelta(days=1))
    due = selectors.tenants_with_month_open(month)
    for tenant_id in due:
        transaction.on_commit(partial(close_month.delay, str(tenant_id), month.isoformat()))
    return len(due)


@shared_task(name="billing.close_month", ignore_result=True, acks_late=True)
def close_month(tenant_id: str, month: str) -> str:
    """Close one tenant's month (billing.closing.month_close); one at a time per tenant
    and month."""
    tenant, first = uuid.UUID(tenant_id), dt.date.fromisoformat(month)
    with selectors.close_lock(tenant, first) as acquired:
        if not acquired:
            return "busy"
        invoice = closing.month_close(tenant_id=tenant, month=first)
    return invoice.status if invoice is not None else "nothing to bill"


@shared_task(name="billing.push_credit_note", ignore_result=True, acks_late=True)
def push_credit_note(tenant_id: str, credit_note_id: str) -> str | None:
    return stripe_sync.credit_note_push(
        credit_note_id=uuid.UUID(credit_note_id), tenant_id=uuid.UUID(tenant_id)
    )


@shared_task(name="billing.push_invoice_void", ignore_result=True, acks_late=True)
def push_invoice_void(tenant_id: str, invoice_id: str) -> bool:
    return stripe_sync.invoice_void_push(
        invoice_id=uuid.UUID(invoice_id), tenant_id=uuid.UUID(tenant_id)
    )


@shared_task(name="billing.push_pending_to_stripe", ignore_result=True)
def push_pending_to_stripe() -> int:
    """Catch up with Stripe after it was unreachable: final invoices, voids and credit
    notes it does not know yet, in that order (a credit note needs its invoice there).
    Every push is idempotent, so a push that did land meanwhile is not repeated."""
    if not settings.STRIPE_API_KEY:
        return 0
    pending = selectors.stripe_pending()
    for tenant, invoice in pending["invoices"]:
        stripe_sync.invoice_push(invoice_id=invoice, tenant_id=tenant)
    for tenant, invoice in pending["voids"]:
        stripe_sync.invoice_void_push(invoice_id=invoice, tenant_id=tenant)
    notes = selectors.stripe_pending()["credit_notes"]
    for tenant, note in notes:
        stripe_sync.credit_note_push(credit_note_id=note, tenant_id=tenant)
    return len(pending["invoices"]) + len(pending["voids"]) + len(notes)

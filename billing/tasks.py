"""Celery tasks of billing: thin, by id, idempotent, on the billing queue."""

from __future__ import annotations

import datetime as dt
import uuid
from functools import partial

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from billing import closing, selectors
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

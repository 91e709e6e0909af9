"""Reads of billing: who is billed, invoices and usage for the pages and the API."""

from __future__ import annotations

import datetime as dt
import uuid
import zlib
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection

from billing.models import BillingAccount, Invoice
from controlplane.core.tenancy import all_tenants_context


def billed_tenant_ids() -> list[uuid.UUID]:
    with all_tenants_context():
        return list(BillingAccount.unscoped.values_list("tenant_id", flat=True))


def tenants_with_month_open(month: dt.date) -> list[uuid.UUID]:
    """Billed tenants whose invoice for ``month`` is not final yet (or not made)."""
    with all_tenants_context():
        done = set(
            Invoice.unscoped.filter(
                month=month, status__in=[Invoice.Status.FINAL, Invoice.Status.REVIEW]
            ).values_list("tenant_id", flat=True)
        )
    return [tenant for tenant in billed_tenant_ids() if tenant not in done]


@contextmanager
def close_lock(tenant_id: uuid.UUID, month: dt.date) -> Iterator[bool]:
    """A session advisory lock on one tenant's month: True if this process holds it."""
    key = zlib.crc32(f"billing-close:{tenant_id}:{month}".encode()) - 2**31
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
        acquired = bool(cursor.fetchone()[0])
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [key])

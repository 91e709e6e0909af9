"""Keeping the ledger's monthly partitions ahead of time. Expired months are dropped by
retention (compliance.privacy.retention), which knows each tenant's policy and legal
holds and records what it removed."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from controlplane.core.tenancy import all_tenants_context
from controlplane.telemetry.partitions import ensure_partitions, month_start


def _add_months(month: dt.date, count: int) -> dt.date:
    index = month.year * 12 + month.month - 1 + count
    return dt.date(index // 12, index % 12 + 1, 1)


def maintain_ledger_partitions(today: dt.date | None = None) -> list[dt.date]:
    """Create this month's and the next two months' partitions; returns the months."""
    current = month_start(today or timezone.now().date())
    months = [_add_months(current, offset) for offset in range(0, 3)]
    with all_tenants_context():
        ensure_partitions(months)
    return months

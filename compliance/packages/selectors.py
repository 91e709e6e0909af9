"""Reads of evidence packages, without their (large) ZIP unless asked."""

from __future__ import annotations

from django.db.models import QuerySet

from compliance.models import EvidencePackage
from compliance.periods import Period


def packages(
    rows: QuerySet[EvidencePackage], period: Period | None = None
) -> QuerySet[EvidencePackage]:
    """``rows`` (one tenant's packages) newest first, without content; only those whose
    period lies inside ``period`` when given (an auditor's)."""
    rows = rows.defer("content").select_related("tenant")
    if period is not None:
        rows = rows.filter(period_start__gte=period.start, period_end__lte=period.end)
    return rows.order_by("-requested_at", "-id")

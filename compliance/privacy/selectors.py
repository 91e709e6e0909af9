"""Reads of the privacy app: the retention policy in force, legal holds, and the
records of retention runs and data-subject requests (for the compliance checks, pages
and API). Each function works in any tenant context: it opens its tenant's own."""

from __future__ import annotations

import datetime as dt
import math
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import QuerySet

from compliance.privacy.models import (
    DataKind,
    DataSubjectRequest,
    LegalHold,
    RetentionDefault,
    RetentionPolicy,
    RetentionRun,
)
from controlplane.core.tenancy import tenant_context
from tenants.models import Tenant

# Shortest retention a policy may set, per kind: the ledger is what invoices are rated
# from, and a month closes a few days after it ends (docs/billing.md).
MIN_DAYS = {DataKind.LEDGER: 62}
MAX_DAYS = 36500
ALERT_DAYS = 395
EVIDENCE_DAYS = 2557  # seven years


def builtin_days(tenant: Tenant, kind: str) -> int:
    """What a kind is kept for when neither the tenant nor the MSP set anything: spans
    and bodies for the tenant's ``retention_days``, the ledger for
    ``LEDGER_RETENTION_MONTHS``."""
    if kind in (DataKind.SPANS, DataKind.BODIES):
        return int(tenant.retention_days)
    if kind == DataKind.LEDGER:
        return builtin_ledger_days()
    return ALERT_DAYS if kind == DataKind.ALERTS else EVIDENCE_DAYS


def builtin_ledger_days() -> int:
    return math.ceil(settings.LEDGER_RETENTION_MONTHS * 365.25 / 12)


@dataclass(frozen=True)
class Effective:
    kind: str
    days: int
    source: str
    """``tenant``, ``msp`` (the MSP's default) or ``built-in``."""
    effective_from: dt.date | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "days": self.days,
            "source": self.source,
            "effective_from": self.effective_from.isoformat() if self.effective_from else None,
        }


def _latest(rows: QuerySet[Any], on: dt.date) -> dict[str, Any]:
    latest: dict[str, Any] = {}
    for row in rows.filter(effective_from__lte=on).order_by("kind", "-effective_from"):
        latest.setdefault(row.kind, row)
    return latest


def effective_policy(tenant: Tenant, on: dt.date) -> dict[str, Effective]:
    """Per kind, the retention in force on ``on``: the tenant's latest policy that has
    taken effect, else the MSP's default, else the built-in."""
    with tenant_context(tenant):
        own = _latest(RetentionPolicy.objects.all(), on)
    defaults = _latest(RetentionDefault.objects.all(), on)
    result = {}
    for kind in DataKind.values:
        row, source = (own[kind], "tenant") if kind in own else (defaults.get(kind), "msp")
        if row is None:
            result[kind] = Effective(kind, builtin_days(tenant, kind), "built-in", None)
        else:
            result[kind] = Effective(kind, row.days, source, row.effective_from)
    return result


def policy_history(tenant: Tenant) -> list[RetentionPolicy]:
    with tenant_context(tenant):
        return list(RetentionPolicy.objects.order_by("-effective_from", "kind"))


def msp_defaults() -> list[RetentionDefault]:
    return list(RetentionDefault.objects.order_by("kind", "-effective_from"))


def active_holds(tenant: Tenant | uuid.UUID) -> list[LegalHold]:
    with tenant_context(tenant):
        return list(LegalHold.objects.filter(released_at__isnull=True).order_by("placed_at"))


def legal_holds(tenant: Tenant | uuid.UUID) -> list[LegalHold]:
    with tenant_context(tenant):
        return list(LegalHold.objects.select_related("agent").order_by("-placed_at"))


def retention_runs(
    tenant: Tenant | uuid.UUID, since: dt.datetime, until: dt.datetime
) -> list[RetentionRun]:
    """The tenant's retention runs started in [since, until), oldest first: what each
    removed per store (``removed``), the policy and cutoffs it applied, the holds that
    kept data (``kept``), and its state."""
    with tenant_context(tenant):
        return list(
            RetentionRun.objects.filter(started_at__gte=since, started_at__lt=until).order_by(
                "started_at"
            )
        )


def dsr_requests(
    tenant: Tenant | uuid.UUID, since: dt.datetime, until: dt.datetime
) -> list[DataSubjectRequest]:
    """The tenant's data-subject requests received in [since, until), oldest first,
    with their state, what was found and erased per store, and when they completed."""
    with tenant_context(tenant):
        return list(
            DataSubjectRequest.objects.filter(created_at__gte=since, created_at__lt=until)
            .defer("export_enc", "identifiers_enc")
            .order_by("created_at")
        )


def recent_runs(tenant: Tenant | uuid.UUID, limit: int = 20) -> list[RetentionRun]:
    with tenant_context(tenant):
        return list(RetentionRun.objects.order_by("-started_at")[:limit])


def recent_requests(tenant: Tenant | uuid.UUID, limit: int = 50) -> list[DataSubjectRequest]:
    with tenant_context(tenant):
        return list(
            DataSubjectRequest.objects.defer("export_enc", "identifiers_enc").order_by(
                "-created_at"
            )[:limit]
        )

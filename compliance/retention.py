"""The evidence kind of a tenant's retention run (compliance.privacy calls it through
``compliance.privacy.hooks``; docs/decisions/0044-evidence-disposal.md).

Evidence recorded before the policy's cutoff goes, oldest first, unless something still
needs it: any legal hold of the tenant keeps all of it; an open outside auditor's access
keeps everything from the start of its period; a package still within its retention
(its period ends on or after the cutoff, or it is not built yet) keeps everything from
the start of its period. Packages whose whole period is older than that go with their
records.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from compliance.evidence import evidence_dispose
from compliance.models import EvidencePackage
from compliance.periods import Period
from controlplane.accounts.models import AuditorTenant
from controlplane.audit.services import Actor, audit_record, snapshot
from controlplane.core.tenancy import tenant_context

ACTOR = Actor.system("retention")


def disposal_cut(tenant_id: uuid.UUID, cutoff: dt.datetime) -> tuple[dt.datetime, list[str]]:
    """The instant before which the tenant's evidence may go (``cutoff``, or earlier),
    and what moved it earlier. In the tenant's context."""
    now = timezone.now()
    cut, kept = cutoff, []
    grants = AuditorTenant.objects.filter(
        account__revoked_at__isnull=True, account__expires_at__gt=now
    ).select_related("account")
    for grant in grants:
        period = Period(grant.account.period_start, grant.account.period_end)
        if period.since < cut:
            cut = period.since
            kept.append(f"evidence from {period.start} on: an auditor's access to {period} is open")
    packages = EvidencePackage.objects.filter(
        Q(period_end__gte=cutoff.date()) | Q(status=EvidencePackage.Status.PENDING)
    )
    for package in packages:
        period = Period(package.period_start, package.period_end)
        if period.since < cut:
            cut = period.since
            kept.append(f"evidence from {period.start} on: the package of {period} is kept")
    return cut, kept


def evidence_retention(
    tenant_id: uuid.UUID, cutoff: dt.datetime, held_agents: Sequence[uuid.UUID]
) -> tuple[dict[str, int], list[str]]:
    """Dispose of the tenant's evidence and packages past ``cutoff``: rows removed per
    table, and what was kept and why."""
    if held_agents:  # evidence is about the whole tenant: any hold keeps all of it
        return {}, ["evidence: all kept while an agent is on legal hold"]
    with tenant_context(tenant_id), transaction.atomic():
        cut, kept = disposal_cut(tenant_id, cutoff)
        done = evidence_dispose(tenant_id=tenant_id, before=cut, actor=ACTOR)
        packages = list(
            EvidencePackage.objects.filter(period_end__lt=cut.date()).exclude(
                status=EvidencePackage.Status.PENDING
            )
        )
        for package in packages:
            audit_record(
                actor=ACTOR,
                action="compliance.package_disposed",
                target=package,
                tenant_id=tenant_id,
                before=snapshot(package, EvidencePackage.AUDIT_FIELDS),
            )
            package.delete()
    removed = {
        "compliance_evidencerecord": done.records,
        "compliance_evidencestalenotice": done.notices,
        "compliance_evidencepackage": len(packages),
    }
    return removed, kept

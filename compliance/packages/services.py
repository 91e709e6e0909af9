"""Requesting, building and handing out evidence packages.

``package_request`` records the request (audited) and enqueues the build after the
commit; ``package_build`` (the Celery task's body) makes the ZIP once: a package that
is no longer pending is left alone, so a retried or duplicated task does nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import uuid
from functools import partial

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from compliance.models import EvidencePackage
from compliance.packages.archive import write_package
from compliance.packages.contents import package_files
from compliance.periods import MAX_DAYS, Period
from controlplane.accounts.models import User
from controlplane.audit.services import Actor, audit_record, snapshot
from controlplane.core.tenancy import all_tenants_context, tenant_context
from controlplane.gateway.signing import SigningRing
from tenants.models import Tenant

logger = logging.getLogger(__name__)


def evidence_signing_ring() -> SigningRing:
    return SigningRing(list(settings.EVIDENCE_SIGNING_KEYS), name="EVIDENCE_SIGNING_KEYS")


def check_period(period: Period, *, today: dt.date) -> None:
    if period.days > MAX_DAYS:
        raise ValidationError({"period_end": f"A period is at most {MAX_DAYS} days."})
    if period.start > today:
        raise ValidationError({"period_start": "The period has not started yet."})


def package_request(
    *, actor: Actor, tenant: Tenant, period: Period, requested_by: User | None = None
) -> EvidencePackage:
    """Queue a package of ``tenant``'s evidence of ``period``."""
    check_period(period, today=timezone.now().date())
    from compliance.packages import tasks

    with tenant_context(tenant):
        package = EvidencePackage.objects.create(
            tenant=tenant,
            period_start=period.start,
            period_end=period.end,
            requested_by=requested_by,
            requested_by_label=actor.label[:254],
            requested_at=timezone.now(),
        )
        audit_record(
            actor=actor,
            action="evidence_package.requested",
            target=package,
            tenant_id=tenant.pk,
            after=snapshot(package),
        )
        transaction.on_commit(partial(tasks.build_evidence_package.delay, str(package.pk)))
    return package


def _build(package: EvidencePackage) -> None:
    ring = evidence_signing_ring()
    key_id = ring.current_key_id
    public_key = ring.public_keys()[key_id]
    generated_at = timezone.now().replace(microsecond=0)
    contents = package_files(
        tenant=package.tenant,
        period=Period(package.period_start, package.period_end),
        package_id=str(package.pk),
        generated_at=generated_at,
        generated_by=package.requested_by_label,
        key_id=key_id,
        public_key=public_key,
    )
    data, manifest_sha256 = write_package(
        contents.files, header=contents.header, sign=ring.sign, moment=generated_at
    )
    package.content = data
    package.size_bytes = len(data)
    package.sha256 = hashlib.sha256(data).hexdigest()
    package.manifest_sha256 = manifest_sha256
    package.key_id = key_id
    package.file_count = len(contents.files)
    package.evidence_count = contents.evidence_count
    package.audit_chain_seq, package.audit_chain_hash = contents.audit_head
    package.generated_at = generated_at
    package.status = EvidencePackage.Status.READY
    package.save()
    audit_record(
        actor=Actor.system("evidence packages"),
        action="evidence_package.generated",
        target=package,
        tenant_id=package.tenant_id,
        after=snapshot(package),
    )


def _tenant_of(package_id: uuid.UUID) -> uuid.UUID | None:
    with all_tenants_context():
        found = EvidencePackage.unscoped.filter(pk=package_id).values_list("tenant_id", flat=True)
        return found.first()


def package_build(*, package_id: uuid.UUID) -> None:
    """Make the package's ZIP, once. A failure is recorded on the package (and in the
    audit trail) and raised."""
    tenant_id = _tenant_of(package_id)
    if tenant_id is None:
        return
    try:
        with tenant_context(tenant_id):
            package = (
                EvidencePackage.objects.select_for_update(of=("self",))
                .select_related("tenant")
                .filter(pk=package_id)
                .first()
            )
            if package is None or package.status != EvidencePackage.Status.PENDING:
                return
            _build(package)
    except Exception as exc:
        logger.exception("evidence package %s failed", package_id)
        with tenant_context(tenant_id):
            package = EvidencePackage.objects.filter(
                pk=package_id, status=EvidencePackage.Status.PENDING
            ).first()
            if package is not None:
                package.status = EvidencePackage.Status.FAILED
                package.error = f"{type(exc).__name__}: {exc}"[:2000]
                package.save(update_fields=["status", "error"])
                audit_record(
                    actor=Actor.system("evidence packages"),
                    action="evidence_package.failed",
                    target=package,
                    tenant_id=tenant_id,
                    after={"error": package.error},
                )
        raise


def package_downloaded(*, actor: Actor, package: EvidencePackage) -> bytes:
    """The package's ZIP, with the download recorded in the audit trail."""
    if package.status != EvidencePackage.Status.READY or package.content is None:
        raise ValidationError("This package is not ready.")
    audit_record(
        actor=actor,
        action="evidence_package.downloaded",
        target=package,
        tenant_id=package.tenant_id,
        after={"sha256": package.sha256},
    )
    return bytes(package.content)

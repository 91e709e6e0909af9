"""Changes people make to retention and privacy, each audited: retention defaults and
policies, legal holds, a retention run on demand, and data-subject requests (made,
verified, erased, retried). The work itself runs in tasks (``tasks.py``)."""

from __future__ import annotations

import datetime as dt
import json
from functools import partial
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from compliance.privacy import dsr as steps
from compliance.privacy.models import (
    DataKind,
    DataSubjectRequest,
    LegalHold,
    RetentionDefault,
    RetentionPolicy,
    RetentionRun,
)
from compliance.privacy.retention import start_sweep
from compliance.privacy.selectors import MAX_DAYS, MIN_DAYS, active_holds
from controlplane.accounts.models import User
from controlplane.agents.models import Agent
from controlplane.audit.services import Actor, audit_record, snapshot
from controlplane.core.crypto import key_ring
from controlplane.core.tenancy import tenant_context
from edge.identifiers import IdentifierError, parse_identifiers
from tenants.models import Tenant

ERASE_CONFIRMATION = "ERASE"


class PrivacyConflict(Exception):
    """The request cannot do that in its state (or a legal hold stops it)."""


def _check_policy(kind: str, days: int, effective_from: dt.date) -> None:
    if kind not in DataKind.values:
        raise ValidationError({"kind": f"Give one of {', '.join(DataKind.values)}."})
    least = MIN_DAYS.get(DataKind(kind), 1)
    if not isinstance(days, int) or not least <= days <= MAX_DAYS:
        raise ValidationError({"days": f"Give a whole number of days from {least} to {MAX_DAYS}."})
    if effective_from < timezone.now().date():
        raise ValidationError({"effective_from": "Give today or a later date: runs already "
                               "made applied the policy then in force."})  # fmt: skip


def retention_default_set(
    *, actor: Actor, kind: str, days: int, effective_from: dt.date
) -> RetentionDefault:
    """The MSP's default for ``kind`` from ``effective_from`` (one per kind and day)."""
    _check_policy(kind, days, effective_from)
    with transaction.atomic():
        row, created = RetentionDefault.objects.select_for_update().get_or_create(
            kind=kind,
            effective_from=effective_from,
            defaults={"days": days, "created_by_label": actor.label[:254]},
        )
        before = None if created else snapshot(row)
        if not created:
            row.days = days
            row.save(update_fields=["days"])
        audit_record(
            actor=actor,
            action="privacy.retention_default.set",
            target=row,
            tenant_id=None,
            before=before,
            after=snapshot(row),
        )
    return row


def retention_policy_set(
    *, actor: Actor, tenant: Tenant, kind: str, days: int, effective_from: dt.date
) -> RetentionPolicy:
    """The tenant's retention for ``kind`` from ``effective_from`` (one per kind and
    day); the next run applies it."""
    _check_policy(kind, days, effective_from)
    with tenant_context(tenant):
        row, created = RetentionPolicy.objects.select_for_update().get_or_create(
            tenant=tenant,
            kind=kind,
            effective_from=effective_from,
            defaults={"days": days, "created_by_label": actor.label[:254]},
        )
        before = None if created else snapshot(row)
        if not created:
            row.days = days
            row.save(update_fields=["days"])
        audit_record(
            actor=actor,
            action="privacy.retention_policy.set",
            target=row,
            tenant_id=tenant.pk,
            before=before,
            after=snapshot(row),
        )
    return row


def legal_hold_place(
    *, actor: Actor, tenant: Tenant, reason: str, reference: str = "", agent: Agent | None = None
) -> LegalHold:
    if not reason.strip():
        raise ValidationError({"reason": "Say why the data must be kept."})
    with tenant_context(tenant):
        if agent is not None and not Agent.objects.filter(pk=agent.pk).exists():
            raise ValidationError({"agent": "No such agent in this tenant."})
        hold = LegalHold(
            tenant=tenant,
            agent=agent,
            reason=reason.strip(),
            reference=reference.strip()[:100],
            placed_at=timezone.now(),
            placed_by_label=actor.label[:254],
        )
        hold.save(force_insert=True)
        audit_record(
            actor=actor,
            action="privacy.legal_hold.placed",
            target=hold,
            tenant_id=tenant.pk,
            after=snapshot(hold),
        )
    return hold


def legal_hold_release(*, actor: Actor, hold: LegalHold) -> LegalHold:
    if not hold.active:
        raise PrivacyConflict("This legal hold was already released.")
    with tenant_context(hold.tenant_id):
        before = snapshot(hold)
        hold.released_at = timezone.now()
        hold.released_by_label = actor.label[:254]
        hold.save(update_fields=["released_at", "released_by_label"])
        audit_record(
            actor=actor,
            action="privacy.legal_hold.released",
            target=hold,
            tenant_id=hold.tenant_id,
            before=before,
            after=snapshot(hold),
        )
    return hold


def retention_run_request(*, actor: Actor, tenant: Tenant) -> RetentionRun:
    """Apply the tenant's retention now (a run of its own; the task does the steps)."""
    from compliance.privacy.tasks import retention_run

    with transaction.atomic():
        [run] = start_sweep(trigger=RetentionRun.Trigger.MANUAL, requested_by=actor.label,
                            tenants=[tenant])  # fmt: skip
        audit_record(
            actor=actor,
            action="privacy.retention_run.requested",
            target=run,
            tenant_id=tenant.pk,
            after={"cutoffs": run.cutoffs, "state": run.state},
        )
        transaction.on_commit(partial(retention_run.delay, str(run.pk)))
    return run


def _queue_dsr(dsr: DataSubjectRequest) -> None:
    from compliance.privacy.tasks import dsr_step

    transaction.on_commit(partial(dsr_step.delay, str(dsr.pk)))


def dsr_create(
    *, actor: Actor, tenant: Tenant, identifiers: Any, reason: str = "", user: User | None = None
) -> DataSubjectRequest:
    """A request for one person's data, by their email, phone or customer id (one or
    more); the search of every store starts at once."""
    try:
        parsed = parse_identifiers(identifiers)
    except IdentifierError as error:
        raise ValidationError({"identifiers": str(error)}) from None
    masked = ", ".join(f"{i.kind} {i.masked}" for i in parsed)
    with tenant_context(tenant):
        dsr = DataSubjectRequest(
            tenant=tenant,
            requested_by=user,
            requested_by_label=actor.label[:254],
            reason=reason.strip(),
            subject_masked=masked[:300],
            identifiers_enc=key_ring().encrypt(json.dumps([i.as_dict() for i in parsed])),
        )
        dsr.save(force_insert=True)
        audit_record(
            actor=actor,
            action="privacy.dsr.created",
            target=dsr,
            tenant_id=tenant.pk,
            after=snapshot(dsr),
        )
        _queue_dsr(dsr)
    return dsr


def dsr_verify(*, actor: Actor, dsr: DataSubjectRequest, note: str) -> DataSubjectRequest:
    """Record that the person's identity was checked (how, in ``note``): their export may
    then be downloaded and their data erased."""
    if dsr.verified_at is not None:
        raise PrivacyConflict("This request is already verified.")
    if not note.strip():
        raise ValidationError({"note": "Say how the person's identity was checked."})
    with tenant_context(dsr.tenant_id):
        before = snapshot(dsr)
        dsr.verified_at = timezone.now()
        dsr.verified_by_label = actor.label[:254]
        dsr.verification_note = note.strip()
        dsr.save(update_fields=["verified_at", "verified_by_label", "verification_note"])
        audit_record(
            actor=actor,
            action="privacy.dsr.verified",
            target=dsr,
            tenant_id=dsr.tenant_id,
            before=before,
            after=snapshot(dsr),
        )
    return dsr


def dsr_erase(*, actor: Actor, dsr: DataSubjectRequest, confirm: str) -> DataSubjectRequest:
    """Erase the person's data everywhere (``confirm`` must be ``ERASE``). The export is
    deleted with it: download it first."""
    if confirm.strip().upper() != ERASE_CONFIRMATION:
        raise ValidationError({"confirm": f"Type {ERASE_CONFIRMATION} to confirm the erasure."})
    if dsr.state != DataSubjectRequest.State.FOUND:
        raise PrivacyConflict(f"Only a request that has found the data can erase it ({dsr.state}).")
    if dsr.verified_at is None:
        raise PrivacyConflict("Verify the person's identity before erasing their data.")
    whole = [h for h in active_holds(dsr.tenant_id) if h.agent_id is None]
    if whole:
        raise PrivacyConflict(
            f"A legal hold on the whole tenant ({whole[0].reference or whole[0].reason[:60]}) "
            "stops erasure until it is released."
        )
    dsr.erase_requested_at = timezone.now()
    dsr.erase_requested_by_label = actor.label[:254]
    steps.transition(
        dsr,
        DataSubjectRequest.State.ERASING,
        actor,
        "erase_requested_at",
        "erase_requested_by_label",
    )
    _queue_dsr(dsr)
    return dsr


def dsr_retry(*, actor: Actor, dsr: DataSubjectRequest) -> DataSubjectRequest:
    """Resume a failed request: a search at the step that failed, an erasure from its
    start (erasing again what is gone already changes nothing)."""
    if dsr.state != DataSubjectRequest.State.FAILED or not dsr.identifiers_enc:
        raise PrivacyConflict("Only a failed request can be retried.")
    dsr.steps = {
        name: done
        for name, done in dsr.steps.items()
        if done == steps.DONE and name.startswith("find:")
    }
    dsr.error = ""
    if dsr.erase_requested_at is not None:
        dsr.erase_attempts = 0
        state = DataSubjectRequest.State.ERASING
    else:
        state = DataSubjectRequest.State.SEARCHING
    steps.transition(dsr, state, actor, "error", "erase_attempts")
    _queue_dsr(dsr)
    return dsr

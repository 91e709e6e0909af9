"""People's decisions about controls: exceptions (requested, then approved or rejected by
someone else) and access reviews. Each is in the audit trail."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from compliance.models import AccessReview, Control, ControlException
from controlplane.accounts.models import User
from controlplane.audit.services import Actor, audit_record, snapshot
from controlplane.core.tenancy import all_tenants_context
from tenants.models import Membership, Tenant

MAX_EXCEPTION = dt.timedelta(days=365)
MIN_JUSTIFICATION = 20
DECISIONS = ("keep", "change", "remove")


def exception_request(
    *,
    actor: Actor,
    requested_by: User,
    tenant: Tenant | None,
    control: Control,
    justification: str,
    expires_at: dt.datetime,
    entity: str = "",
) -> ControlException:
    """Ask for an exception to ``control`` (or to one failing ``entity`` of it) until
    ``expires_at``; it counts only once someone else approves it."""
    now = timezone.now()
    justification = justification.strip()
    if len(justification) < MIN_JUSTIFICATION:
        raise ValidationError(
            {"justification": f"Explain the exception in at least {MIN_JUSTIFICATION} characters."}
        )
    if not now < expires_at <= now + MAX_EXCEPTION:
        raise ValidationError({"expires_at": "Give a time in the next 365 days."})
    if not control.active:
        raise ValidationError({"control": "This control is no longer in the catalog."})
    with transaction.atomic():
        exception = ControlException(
            tenant=tenant,
            control=control,
            entity=entity.strip()[:200],
            justification=justification,
            requested_by=requested_by,
            requested_by_label=requested_by.email,
            requested_at=now,
            expires_at=expires_at,
        )
        exception.save(force_insert=True)
        audit_record(
            actor=actor,
            action="compliance.exception_requested",
            target=exception,
            tenant_id=tenant.pk if tenant else None,
            after=snapshot(exception),
        )
    return exception


def exception_decide(
    *, actor: Actor, decided_by: User, exception: ControlException, approve: bool, note: str = ""
) -> ControlException:
    """Approve or reject a pending exception. The requester cannot decide their own."""
    if exception.status != ControlException.Status.PENDING:
        raise ValidationError({"status": f"This exception is already {exception.status}."})
    if exception.requested_by_id == decided_by.pk:
        raise ValidationError(
            {"approver": "Someone other than the requester must decide an exception."}
        )
    with transaction.atomic():
        before = snapshot(exception)
        exception.status = (
            ControlException.Status.APPROVED if approve else ControlException.Status.REJECTED
        )
        exception.decided_by = decided_by
        exception.decided_by_label = decided_by.email
        exception.decided_at = timezone.now()
        exception.decision_note = note.strip()
        exception.save(
            update_fields=[
                "status",
                "decided_by",
                "decided_by_label",
                "decided_at",
                "decision_note",
            ]
        )
        audit_record(
            actor=actor,
            action="compliance.exception_approved" if approve else "compliance.exception_rejected",
            target=exception,
            tenant_id=exception.tenant_id,
            before=before,
            after=snapshot(exception),
        )
    return exception


def _people(tenant: Tenant | None) -> list[dict[str, Any]]:
    """Who has access now: the tenant's members, or the MSP's active staff."""
    with all_tenants_context():
        if tenant is None:
            staff = User.objects.filter(is_active=True).exclude(staff_role="").order_by("email")
            return [{"user_id": u.pk, "email": u.email, "role": u.staff_role} for u in staff]
        members = Membership.unscoped.filter(tenant=tenant, user__is_active=True)
        return [
            {"user_id": m.user_id, "email": m.user.email, "role": m.role}
            for m in members.select_related("user").order_by("user__email")
        ]


def access_review_record(
    *,
    actor: Actor,
    reviewer: User,
    tenant: Tenant | None,
    decisions: dict[str, str] | None = None,
    note: str = "",
) -> AccessReview:
    """Record that ``reviewer`` reviewed everyone with access to ``tenant`` (None: the
    MSP's staff) in their current role. ``decisions`` maps an email to ``keep``,
    ``change`` or ``remove``; anyone not named is kept."""
    decisions = decisions or {}
    people = _people(tenant)
    emails = {p["email"] for p in people}
    for email, decision in decisions.items():
        if email not in emails:
            raise ValidationError({"decisions": f"{email} has no access to review."})
        if decision not in DECISIONS:
            raise ValidationError({"decisions": f"{email}: one of {', '.join(DECISIONS)}."})
    entries = [
        {**p, "user_id": str(p["user_id"]), "decision": decisions.get(p["email"], "keep")}
        for p in people
    ]
    with transaction.atomic():
        review = AccessReview(
            tenant=tenant,
            reviewer=reviewer,
            reviewer_label=reviewer.email,
            reviewed_at=timezone.now(),
            entries=entries,
            note=note.strip(),
        )
        review.save(force_insert=True)
        audit_record(
            actor=actor,
            action="compliance.access_reviewed",
            target=review,
            tenant_id=tenant.pk if tenant else None,
            after={"people": len(entries), "note": review.note},
        )
    return review

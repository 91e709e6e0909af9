"""Outside auditors' accounts: created by MSP staff admins, time-boxed, read-only,
scoped to some tenants and one evidence period
(docs/decisions/0037-auditor-access-and-evidence-packages.md).

Every change is audited: once MSP-wide, and once in each tenant's own trail (the
tenant sees who was given access to its evidence, and when it ended). Creating an
account also queues each tenant's evidence package of the period, so the evidence is
organized when the auditor arrives.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from compliance.periods import MAX_DAYS, Period
from controlplane.accounts.models import AuditorAccount, AuditorTenant, User
from controlplane.audit.services import Actor, audit_record, snapshot
from controlplane.core.tenancy import all_tenants_context
from tenants.models import Tenant

MAX_ACCESS = dt.timedelta(days=MAX_DAYS)


def auditor_tenants(account: AuditorAccount) -> list[Tenant]:
    """The tenants the account may see, by name."""
    with all_tenants_context():
        ids = list(AuditorTenant.unscoped.filter(account=account).values_list("tenant", flat=True))
    return list(Tenant.objects.filter(pk__in=ids).order_by("name"))


def _snapshot(account: AuditorAccount, tenants: Sequence[Tenant]) -> dict[str, object]:
    return {
        **snapshot(account),
        "email": account.user.email,
        "tenants": sorted(t.slug for t in tenants),
    }


def _check(
    *, tenants: Sequence[Tenant], period: Period, expires_at: dt.datetime, now: dt.datetime
) -> None:
    errors: dict[str, str] = {}
    if not tenants:
        errors["tenants"] = "Choose at least one tenant."
    elif any(t.status != Tenant.Status.ACTIVE for t in tenants):
        errors["tenants"] = "Only active tenants can be audited."
    if period.days > MAX_DAYS:
        errors["period_end"] = f"A period is at most {MAX_DAYS} days."
    if period.start > now.date():
        errors["period_start"] = "The period has not started yet."
    if expires_at <= now:
        errors["expires_at"] = "The access must end in the future."
    elif expires_at - now > MAX_ACCESS:
        errors["expires_at"] = f"Access lasts at most {MAX_DAYS} days."
    if errors:
        raise ValidationError(errors)


def _grant(
    *, actor: Actor, account: AuditorAccount, tenants: Sequence[Tenant], action: str
) -> None:
    """Record ``action`` in each tenant's own trail."""
    for tenant in tenants:
        audit_record(
            actor=actor,
            action=action,
            target=account,
            tenant_id=tenant.pk,
            after={
                "email": account.user.email,
                "period_start": account.period_start,
                "period_end": account.period_end,
                "expires_at": account.expires_at,
            },
        )


def _send_welcome(*, actor: Actor, account: AuditorAccount, tenants: Sequence[Tenant]) -> None:
    user = account.user
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    link = f"{settings.PUBLIC_URL}{reverse('accounts:password_reset_confirm', args=[uid, token])}"
    hours = max(settings.PASSWORD_RESET_TIMEOUT // 3600, 1)
    names = ", ".join(t.name for t in tenants)
    message = (
        f"{actor.label} gave you read-only auditor access on Agent Control Plane to the "
        f"evidence of {names} for {account.period_start} to {account.period_end}, until "
        f"{account.expires_at:%Y-%m-%d %H:%M} UTC.\n\n"
        f"Set your password within {hours} hours here: {link}\n\n"
        "At your first sign-in you set up an authenticator app (two-factor sign-in is "
        "required).\n"
    )
    transaction.on_commit(
        lambda: send_mail(
            subject="Your auditor access to Agent Control Plane",
            message=message,
            from_email=None,
            recipient_list=[user.email],
        )
    )


def auditor_create(
    *,
    actor: Actor,
    email: str,
    tenants: Sequence[Tenant],
    period: Period,
    expires_at: dt.datetime,
    full_name: str = "",
    organization: str = "",
    created_by: User | None = None,
) -> AuditorAccount:
    """An auditor account without a password: its owner gets a link to set one. Each
    tenant's evidence package of ``period`` is queued."""
    from compliance.packages.services import package_request

    email = email.strip().lower()
    now = timezone.now()
    _check(tenants=tenants, period=period, expires_at=expires_at, now=now)
    if User.objects.filter(email__iexact=email).exists():
        raise ValidationError({"email": "This email already has an account."})
    with transaction.atomic():
        user = User.objects.create_user(email=email, password=None, full_name=full_name)
        account = AuditorAccount.objects.create(
            user=user,
            organization=organization,
            period_start=period.start,
            period_end=period.end,
            expires_at=expires_at,
            created_by=created_by,
            created_by_label=actor.label[:254],
        )
        with all_tenants_context():
            AuditorTenant.unscoped.bulk_create(
                [AuditorTenant(account=account, tenant=t) for t in tenants]
            )
        audit_record(
            actor=actor,
            action="auditor.created",
            target=account,
            tenant_id=None,
            after=_snapshot(account, tenants),
        )
        _grant(actor=actor, account=account, tenants=tenants, action="auditor.granted")
        for tenant in tenants:
            package_request(actor=actor, tenant=tenant, period=period, requested_by=created_by)
    _send_welcome(actor=actor, account=account, tenants=tenants)
    return account


def auditor_update(
    *,
    actor: Actor,
    account: AuditorAccount,
    expires_at: dt.datetime | None = None,
    tenants: Sequence[Tenant] | None = None,
    period: Period | None = None,
) -> AuditorAccount:
    """Extend or shorten the access, or change its tenants or period (a revoked account
    stays revoked)."""
    if account.revoked_at is not None:
        raise ValidationError("This account was revoked; create a new one.")
    old_tenants = auditor_tenants(account)
    new_tenants = list(tenants) if tenants is not None else old_tenants
    new_period = period or Period(account.period_start, account.period_end)
    new_expiry = expires_at or account.expires_at
    _check(tenants=new_tenants, period=new_period, expires_at=new_expiry, now=timezone.now())
    before = _snapshot(account, old_tenants)
    with transaction.atomic():
        account.period_start, account.period_end = new_period.start, new_period.end
        account.expires_at = new_expiry
        account.save(update_fields=["period_start", "period_end", "expires_at"])
        removed = [t for t in old_tenants if t not in new_tenants]
        added = [t for t in new_tenants if t not in old_tenants]
        with all_tenants_context():
            AuditorTenant.unscoped.filter(account=account, tenant__in=removed).delete()
            AuditorTenant.unscoped.bulk_create(
                [AuditorTenant(account=account, tenant=t) for t in added]
            )
        after = _snapshot(account, new_tenants)
        if after != before:
            audit_record(
                actor=actor,
                action="auditor.updated",
                target=account,
                tenant_id=None,
                before=before,
                after=after,
            )
            _grant(actor=actor, account=account, tenants=added, action="auditor.granted")
            _grant(actor=actor, account=account, tenants=removed, action="auditor.removed")
            kept = [t for t in new_tenants if t not in added]
            _grant(actor=actor, account=account, tenants=kept, action="auditor.changed")
    return account


def _end(*, actor: Actor, account: AuditorAccount, action: str, now: dt.datetime) -> None:
    tenants = auditor_tenants(account)
    before = _snapshot(account, tenants)
    with transaction.atomic():
        if action == "auditor.revoked":
            account.revoked_at = now
            account.save(update_fields=["revoked_at"])
        User.objects.filter(pk=account.user_id).update(is_active=False)
        audit_record(
            actor=actor,
            action=action,
            target=account,
            tenant_id=None,
            before=before,
            after=_snapshot(account, tenants),
        )
        _grant(actor=actor, account=account, tenants=tenants, action=action)


def auditor_revoke(*, actor: Actor, account: AuditorAccount) -> AuditorAccount:
    """End the access now: no more sign-ins, and open sessions end at their next
    request."""
    if account.revoked_at is None:
        _end(actor=actor, account=account, action="auditor.revoked", now=timezone.now())
    return account


def auditors_expire(*, now: dt.datetime | None = None) -> int:
    """Deactivate the accounts whose access has ended (beat, every few minutes) and
    record it; how many. Sign-in and sessions already stop at ``expires_at`` itself
    (``EmailBackend``): this leaves the trail saying so."""
    now = now or timezone.now()
    due = AuditorAccount.objects.filter(
        expires_at__lte=now, revoked_at__isnull=True, user__is_active=True
    ).select_related("user")
    ended = 0
    for account in due:
        _end(
            actor=Actor.system("auditor expiry"), account=account, action="auditor.expired", now=now
        )
        ended += 1
    return ended

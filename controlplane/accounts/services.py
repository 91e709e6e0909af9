"""Signing in, second factors and passwords. Every security event is audited.

Audit entries name the user as target and carry their tenant (None for staff). They
never hold a password, a code or a secret. Attempts on an email with no account are
logged but not audited: the trail has no user to attach them to.
"""

from __future__ import annotations

import enum
import logging
import uuid
from dataclasses import dataclass

from cryptography.fernet import InvalidToken
from django.contrib.auth import authenticate
from django.core.mail import send_mail
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from controlplane.accounts import mfa
from controlplane.accounts.models import RecoveryCode, TOTPDevice, User
from controlplane.accounts.throttle import (
    account_identifier,
    login_by_account,
    login_by_ip,
    mfa_by_user,
)
from controlplane.audit.services import Actor, audit_record, client_ip, snapshot
from controlplane.core.crypto import key_ring

logger = logging.getLogger("controlplane.security")


class MfaChangeError(Exception):
    """The change to a second factor is refused; the message says why."""


def user_tenant_id(user: User) -> uuid.UUID | None:
    """The tenant of a customer user, None for staff."""
    from tenants.selectors import user_membership

    membership = user_membership(user)
    return membership.tenant_id if membership else None


def _audit(
    *,
    actor: Actor,
    action: str,
    user: User,
    details: dict[str, object] | None = None,
    before: dict[str, object] | None = None,
) -> None:
    audit_record(
        actor=actor,
        action=action,
        target=user,
        tenant_id=user_tenant_id(user),
        before=before,
        after=details,
    )


def _anonymous(ip: str | None) -> Actor:
    return Actor(kind="anonymous", label="anonymous", ip=ip)


# --- Password step ----------------------------------------------------------------------


class SignInOutcome(enum.Enum):
    SIGNED_IN = "signed_in"
    NEEDS_CODE = "needs_code"
    INVALID = "invalid"
    LOCKED = "locked"


@dataclass(frozen=True)
class SignInResult:
    outcome: SignInOutcome
    user: User | None = None
    retry_after: int = 0


def sign_in_check_password(*, request: HttpRequest, email: str, password: str) -> SignInResult:
    """Check an email and password against the lockouts and the accounts.

    A locked account or address is refused before the password is looked at, so the
    right password does not get through a lock. Unknown emails count and lock exactly
    like known ones: the answer never tells whether an account exists.
    """
    ip = client_ip(request)
    identifier = account_identifier(email)
    wait = max(login_by_account.locked_for(identifier), login_by_ip.locked_for(ip) if ip else 0)
    if wait:
        logger.warning("sign-in refused while locked out: ip=%s", ip)
        return SignInResult(SignInOutcome.LOCKED, retry_after=wait)

    user = authenticate(request, email=identifier, password=password)
    if not isinstance(user, User):
        return _sign_in_failed(identifier=identifier, ip=ip)

    login_by_account.reset(identifier)
    if mfa.mfa_enrolled(user):
        return SignInResult(SignInOutcome.NEEDS_CODE, user=user)
    record_sign_in(user=user, ip=ip, via="password", second_factor=None)
    return SignInResult(SignInOutcome.SIGNED_IN, user=user)


def _sign_in_failed(*, identifier: str, ip: str | None) -> SignInResult:
    account_locked = login_by_account.record_failure(identifier)
    ip_locked = login_by_ip.record_failure(ip) if ip else False
    known = User.objects.filter(email__iexact=identifier).first()
    if known is None:
        logger.info("sign-in failed for an unknown email: ip=%s", ip)
    else:
        _audit(
            actor=_anonymous(ip),
            action="auth.login_failed",
            user=known,
            details={"reason": "invalid_credentials"},
        )
    if not (account_locked or ip_locked):
        return SignInResult(SignInOutcome.INVALID)
    scope = "account" if account_locked else "ip"
    logger.warning("sign-in locked out: scope=%s ip=%s", scope, ip)
    if known is not None:
        _audit(
            actor=_anonymous(ip),
            action="auth.locked_out",
            user=known,
            details={"scope": scope, "seconds": login_by_account.window},
        )
    return SignInResult(SignInOutcome.LOCKED, retry_after=login_by_account.window)


def record_sign_in(*, user: User, ip: str | None, via: str, second_factor: str | None) -> None:
    _audit(
        actor=Actor.for_user(user, ip=ip),
        action="auth.login",
        user=user,
        details={"via": via, "second_factor": second_factor},
    )


def record_sign_out(*, user: User, ip: str | None) -> None:
    _audit(actor=Actor.for_user(user, ip=ip), action="auth.logout", user=user)


# --- Code step ----------------------------------------------------------------------------


class CodeOutcome(enum.Enum):
    ACCEPTED = "accepted"
    INVALID = "invalid"
    LOCKED = "locked"


@dataclass(frozen=True)
class CodeResult:
    outcome: CodeOutcome
    method: str | None = None  # "totp" or "recovery_code" when accepted
    retry_after: int = 0

    @property
    def accepted(self) -> bool:
        return self.outcome is CodeOutcome.ACCEPTED


def mfa_check_code(*, user: User, code: str, ip: str | None) -> CodeResult:
    """Accept a current authenticator code or an unused recovery code, once.

    Failures count per user and lock like passwords do.
    """
    identifier = str(user.pk)
    wait = mfa_by_user.locked_for(identifier)
    if wait:
        logger.warning("code refused while locked out: user=%s ip=%s", user.pk, ip)
        return CodeResult(CodeOutcome.LOCKED, retry_after=wait)

    normalized = mfa.normalize_code(code)
    method: str | None = None
    if mfa.looks_like_totp(normalized):
        method = "totp" if _use_totp_code(user=user, code=normalized) else None
    elif normalized:
        method = "recovery_code" if _use_recovery_code(user=user, code=normalized, ip=ip) else None
    if method is not None:
        mfa_by_user.reset(identifier)
        return CodeResult(CodeOutcome.ACCEPTED, method=method)

    actor = Actor.for_user(user, ip=ip)
    _audit(actor=actor, action="auth.mfa_failed", user=user)
    if not mfa_by_user.record_failure(identifier):
        return CodeResult(CodeOutcome.INVALID)
    _audit(
        actor=actor,
        action="auth.mfa_locked_out",
        user=user,
        details={"seconds": mfa_by_user.window},
    )
    return CodeResult(CodeOutcome.LOCKED, retry_after=mfa_by_user.window)


def _use_totp_code(*, user: User, code: str) -> bool:
    device = TOTPDevice.objects.filter(user=user, confirmed_at__isnull=False).first()
    if device is None:
        return False
    step = mfa.matching_step(
        secret=mfa.device_secret(device), code=code, after_step=device.last_used_step
    )
    if step is None:
        return False
    # Conditional update: of two requests racing with the same code, only one wins.
    return (
        TOTPDevice.objects.filter(pk=device.pk, last_used_step__lt=step).update(last_used_step=step)
        == 1
    )


def _use_recovery_code(*, user: User, code: str, ip: str | None) -> bool:
    if not mfa.mfa_enrolled(user):
        return False
    used = RecoveryCode.objects.filter(
        user=user, code_hash=mfa.recovery_code_hash(code), used_at__isnull=True
    ).update(used_at=timezone.now())
    if used != 1:
        return False
    _audit(
        actor=Actor.for_user(user, ip=ip),
        action="mfa.recovery_code_used",
        user=user,
        details={"remaining": mfa.recovery_codes_remaining(user)},
    )
    return True


# --- Enrolment ----------------------------------------------------------------------------


@dataclass(frozen=True)
class MfaSetup:
    secret: str
    encrypted_secret: str  # what the session keeps until the code confirms it
    uri: str
    qr_data_uri: str


def mfa_setup_start(*, user: User, encrypted_secret: str | None = None) -> MfaSetup:
    """A secret to add to an authenticator app.

    The caller keeps ``encrypted_secret`` in the session and passes it back, so a reload
    shows the same QR code. It is never stored on the account before it is confirmed:
    a secret shown to another session (say, someone who briefly had the password) can
    never become the one the owner confirms.
    """
    if mfa.mfa_enrolled(user):
        raise MfaChangeError("Two-factor sign-in is already set up.")
    secret = _decrypt_or_none(encrypted_secret)
    if secret is None or encrypted_secret is None:
        secret = mfa.new_totp_secret()
        encrypted_secret = key_ring().encrypt(secret)
    uri = mfa.provisioning_uri(secret=secret, email=user.email)
    return MfaSetup(
        secret=secret,
        encrypted_secret=encrypted_secret,
        uri=uri,
        qr_data_uri=mfa.qr_svg_data_uri(uri),
    )


def _decrypt_or_none(encrypted: str | None) -> str | None:
    if not encrypted:
        return None
    try:
        return key_ring().decrypt(encrypted)
    except InvalidToken:  # written with a key since retired: start over
        return None


def mfa_setup_confirm(
    *, user: User, setup: MfaSetup, code: str, ip: str | None
) -> list[str] | None:
    """Turn on the authenticator of ``setup`` once a code from it matches; return the
    new recovery codes (shown once), or None when the code is wrong."""
    with transaction.atomic():
        # Locks the user row: two confirmations racing cannot both enrol.
        User.objects.select_for_update().filter(pk=user.pk).exists()
        if mfa.mfa_enrolled(user):
            raise MfaChangeError("Two-factor sign-in is already set up.")
        step = mfa.matching_step(secret=setup.secret, code=mfa.normalize_code(code), after_step=0)
        if step is None:
            return None
        TOTPDevice.objects.update_or_create(
            user=user,
            defaults={
                "encrypted_secret": setup.encrypted_secret,
                "confirmed_at": timezone.now(),
                "last_used_step": step,
            },
        )
        codes = _replace_recovery_codes(user)
        _audit(
            actor=Actor.for_user(user, ip=ip),
            action="mfa.enrolled",
            user=user,
            details={"method": "totp", "recovery_codes": len(codes)},
        )
    return codes


def _replace_recovery_codes(user: User) -> list[str]:
    codes = mfa.new_recovery_codes()
    RecoveryCode.objects.filter(user=user).delete()
    RecoveryCode.objects.bulk_create(
        RecoveryCode(user=user, code_hash=mfa.recovery_code_hash(code)) for code in codes
    )
    return codes


def recovery_codes_regenerate(
    *, user: User, code: str, ip: str | None
) -> tuple[CodeResult, list[str]]:
    """Replace every recovery code, after a current code; the old ones stop working."""
    if not mfa.mfa_enrolled(user):
        raise MfaChangeError("Two-factor sign-in is not set up.")
    result = mfa_check_code(user=user, code=code, ip=ip)
    if not result.accepted:
        return result, []
    codes = _replace_recovery_codes(user)
    _audit(
        actor=Actor.for_user(user, ip=ip),
        action="mfa.recovery_codes_regenerated",
        user=user,
        details={"recovery_codes": len(codes)},
    )
    return result, codes


def mfa_disable(*, user: User, code: str, ip: str | None) -> CodeResult:
    """Remove the user's own second factor, after a current code. Refused when their
    role or tenant requires one."""
    if mfa.mfa_required_for(user):
        raise MfaChangeError(
            "Two-factor sign-in is required for your account, so it cannot be turned off."
        )
    if not mfa.mfa_enrolled(user):
        raise MfaChangeError("Two-factor sign-in is not set up.")
    result = mfa_check_code(user=user, code=code, ip=ip)
    if result.accepted:
        _remove_second_factor(user)
        _audit(actor=Actor.for_user(user, ip=ip), action="mfa.disabled", user=user)
    return result


def mfa_reset(*, actor: Actor, user: User) -> None:
    """Remove someone's second factor for them (a lost phone). The caller checks that
    ``actor`` may do this; if MFA is required, they must set it up at next sign-in.
    The person is told by email, so a reset they did not ask for does not go unseen."""
    _remove_second_factor(user)
    _audit(actor=actor, action="mfa.reset", user=user)
    transaction.on_commit(
        lambda: send_mail(
            subject="Your two-factor sign-in was reset",
            message=(
                f"{actor.label} reset the second factor of your Agent Control Plane account "
                f"({user.email}). At your next sign-in you set up an authenticator again.\n\n"
                "If you did not ask for this, tell your administrator at once.\n"
            ),
            from_email=None,
            recipient_list=[user.email],
        )
    )


def _remove_second_factor(user: User) -> None:
    TOTPDevice.objects.filter(user=user).delete()
    RecoveryCode.objects.filter(user=user).delete()


# --- Profile and passwords ----------------------------------------------------------------


def profile_update(*, user: User, full_name: str, ip: str | None) -> User:
    before = snapshot(user, ["full_name"])
    user.full_name = full_name.strip()
    user.full_clean(exclude=["password", "email"])
    user.save(update_fields=["full_name"])
    after = snapshot(user, ["full_name"])
    if after != before:
        _audit(
            actor=Actor.for_user(user, ip=ip),
            action="user.updated",
            user=user,
            before=before,
            details=after,
        )
    return user


def password_change(*, user: User, new_password: str, ip: str | None) -> None:
    """Set a password the user chose (the form has checked the old one and the
    validators). Other sessions of the user end, since the session auth hash changes."""
    user.set_password(new_password)
    user.save(update_fields=["password"])
    _audit(actor=Actor.for_user(user, ip=ip), action="password.changed", user=user)


def password_reset_requested(*, email: str, ip: str | None) -> None:
    user = User.objects.filter(email__iexact=email.strip(), is_active=True).first()
    if user is None:
        logger.info("password reset asked for an unknown email: ip=%s", ip)
        return
    _audit(actor=_anonymous(ip), action="password.reset_requested", user=user)


def password_reset_completed(*, user: User, ip: str | None) -> None:
    """After a reset link set a new password: the owner of the mailbox has proved who
    they are, so the sign-in lockout of the account is lifted."""
    login_by_account.reset(account_identifier(user.email))
    _audit(actor=Actor.for_user(user, ip=ip), action="password.reset", user=user)

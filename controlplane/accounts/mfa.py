"""Who must use a second factor, whether this session has passed it, and the
primitives of TOTP codes and recovery codes.

Sign-in with a second factor happens in two steps. After the password, the session
only holds a *pending* sign-in (user id, the user's session auth hash and a deadline):
the person is not authenticated until the code passes. See
docs/decisions/0004-sign-in-and-mfa.md.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

import pyotp
import segno
from django.http import HttpRequest
from django.utils import timezone

from controlplane.accounts.models import RecoveryCode, TOTPDevice, User
from controlplane.core.crypto import key_ring

SESSION_MFA_VERIFIED_AT = "mfa_verified_at"
SESSION_PENDING_SIGN_IN = "mfa_pending_sign_in"
SESSION_SETUP_SECRET = "mfa_setup_secret"  # encrypted, until the first code confirms it

ISSUER = "Agent Control Plane"
TOTP_STEP_SECONDS = 30
TOTP_DIGITS = 6
# Steps either side of now that are accepted, for clock drift between phone and server.
TOTP_VALID_WINDOW = 1
PENDING_SIGN_IN_SECONDS = 300
RECOVERY_CODE_COUNT = 10
# No 0/o, 1/l/i: codes get read off paper. 16 characters of 32 = 80 bits, so a plain
# SHA-256 is enough to store them (nothing to brute-force offline).
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
_RECOVERY_GROUPS = 4
_RECOVERY_GROUP_LENGTH = 4


def mfa_enrolled(user: User) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed_at__isnull=False).exists()


def mfa_required_for(user: User) -> bool:
    """Staff and outside auditors always; a customer user when their tenant requires it."""
    if user.is_msp_staff or user.is_external_auditor:
        return True
    from tenants.selectors import user_membership

    membership = user_membership(user)
    return bool(membership and membership.tenant.mfa_required)


def is_mfa_verified(request: HttpRequest) -> bool:
    return bool(request.session.get(SESSION_MFA_VERIFIED_AT))


def mark_mfa_verified(request: HttpRequest) -> None:
    request.session[SESSION_MFA_VERIFIED_AT] = timezone.now().isoformat()


def clear_mfa_verified(request: HttpRequest) -> None:
    request.session.pop(SESSION_MFA_VERIFIED_AT, None)


# --- Pending sign-in (password passed, code not yet) ----------------------------------


@dataclass(frozen=True)
class PendingSignIn:
    user: User
    backend: str
    next_url: str


def pending_sign_in_start(request: HttpRequest, *, user: User, next_url: str) -> None:
    request.session[SESSION_PENDING_SIGN_IN] = {
        "user_id": str(user.pk),
        "backend": getattr(user, "backend", ""),
        "auth_hash": user.get_session_auth_hash(),
        "expires": time.time() + PENDING_SIGN_IN_SECONDS,
        "next": next_url,
    }


def pending_sign_in(request: HttpRequest) -> PendingSignIn | None:
    """The pending sign-in of this session, if still valid.

    Invalid once expired, when the account was deactivated, or when its password
    changed since (the auth hash no longer matches): a reset password cancels any
    half-finished sign-in made with the old one.
    """
    data: Any = request.session.get(SESSION_PENDING_SIGN_IN)
    if not isinstance(data, dict) or float(data.get("expires", 0)) < time.time():
        return None
    try:
        user_id = uuid.UUID(str(data.get("user_id")))
    except ValueError:
        return None
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None or not hmac.compare_digest(
        user.get_session_auth_hash(), str(data.get("auth_hash", ""))
    ):
        return None
    return PendingSignIn(user=user, backend=str(data["backend"]), next_url=str(data["next"]))


def pending_sign_in_clear(request: HttpRequest) -> None:
    request.session.pop(SESSION_PENDING_SIGN_IN, None)


# --- TOTP ---------------------------------------------------------------------------


def new_totp_secret() -> str:
    return pyotp.random_base32()


def device_secret(device: TOTPDevice) -> str:
    return key_ring().decrypt(device.encrypted_secret)


def provisioning_uri(*, secret: str, email: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)


def qr_svg_data_uri(uri: str) -> str:
    """The QR code of ``uri`` as an inline SVG (no request leaves the page)."""
    return str(segno.make(uri, error="m").svg_data_uri(scale=5, border=2))


def current_step(now: float | None = None) -> int:
    return int((time.time() if now is None else now) // TOTP_STEP_SECONDS)


def matching_step(*, secret: str, code: str, after_step: int) -> int | None:
    """The accepted step ``code`` belongs to, or None.

    Only steps within the drift window and strictly later than ``after_step`` count:
    a code, once used, is never accepted again.
    """
    if len(code) != TOTP_DIGITS or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    now = current_step()
    for step in range(now - TOTP_VALID_WINDOW, now + TOTP_VALID_WINDOW + 1):
        if step <= after_step:
            continue
        if hmac.compare_digest(totp.at(step * TOTP_STEP_SECONDS), code):
            return step
    return None


def normalize_code(raw: str) -> str:
    return "".join(raw.split()).replace("-", "").lower()


def looks_like_totp(code: str) -> bool:
    return len(code) == TOTP_DIGITS and code.isdigit()


# --- Recovery codes -------------------------------------------------------------------


def new_recovery_codes() -> list[str]:
    return [
        "-".join(
            "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(_RECOVERY_GROUP_LENGTH))
            for _ in range(_RECOVERY_GROUPS)
        )
        for _ in range(RECOVERY_CODE_COUNT)
    ]


def recovery_code_hash(code: str) -> str:
    return hashlib.sha256(normalize_code(code).encode()).hexdigest()


def recovery_codes_remaining(user: User) -> int:
    return RecoveryCode.objects.filter(user=user, used_at__isnull=True).count()

"""Issuing and checking personal API tokens."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import uuid

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from controlplane.accounts.models import User
from controlplane.api.models import ApiToken
from controlplane.audit.services import Actor, audit_record, snapshot
from tenants.selectors import user_membership

TOKEN_PREFIX = "acp"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def api_token_create(
    *,
    actor: Actor,
    user: User,
    name: str,
    read_only: bool = False,
    tenant_id: uuid.UUID | None = None,
    expires_in: dt.timedelta | None = None,
) -> tuple[ApiToken, str]:
    """Create a token for ``user``; return it with the plaintext, which is never stored.
    Outside auditors have none: their access is the web's, read-only and time-boxed."""
    if user.is_external_auditor:
        raise ValidationError("An auditor account has no API tokens.")
    prefix = secrets.token_hex(6)
    plaintext = f"{TOKEN_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user,
            name=name,
            prefix=prefix,
            secret_hash=_hash(plaintext),
            read_only=read_only,
            tenant_id=tenant_id,
            expires_at=timezone.now() + expires_in if expires_in else None,
        )
        audit_record(
            actor=actor,
            action="api_token.created",
            target=token,
            tenant_id=tenant_id or _tenant_of(user),
            after=snapshot(token),
        )
    return token, plaintext


def _tenant_of(user: User) -> uuid.UUID | None:
    membership = user_membership(user)
    return membership.tenant_id if membership is not None else None


def token_prefix(plaintext: str) -> str | None:
    """The public part of a token (``acp_<prefix>_<secret>``), or None if malformed."""
    parts = plaintext.split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX or not parts[1]:
        return None
    return parts[1]


def api_token_authenticate(plaintext: str) -> ApiToken | None:
    """The usable token matching ``plaintext``, or None. Compares in constant time."""
    prefix = token_prefix(plaintext)
    if prefix is None:
        return None
    token = ApiToken.objects.select_related("user").filter(prefix=prefix).first()
    if token is None or not hmac.compare_digest(token.secret_hash, _hash(plaintext)):
        return None
    if not token.is_usable or not token.user.is_active:
        return None
    return token


def api_token_revoke(*, actor: Actor, token: ApiToken) -> ApiToken:
    """Revoke ``token``: it stops working at once. Revoking twice changes nothing."""
    if token.revoked_at is not None:
        return token
    with transaction.atomic():
        before = snapshot(token)
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit_record(
            actor=actor,
            action="api_token.revoked",
            target=token,
            tenant_id=token.tenant_id or _tenant_of(token.user),
            before=before,
            after=snapshot(token),
        )
    return token


def api_token_tenant_for(
    *, user: User, via: ApiToken | None, tenant_id: uuid.UUID | None
) -> uuid.UUID | None:
    """The tenant a new token of ``user`` is limited to, asked for ``tenant_id``.

    A token is never broader than the person or the token that makes it: a customer's
    is limited to their own tenant; one made with a tenant-limited token is limited to
    that tenant. Raises ValidationError (on ``tenant``) for any other tenant.
    """
    own = None if user.is_msp_staff else _tenant_of(user)
    limits = [t for t in (own, via.tenant_id if via else None) if t is not None]
    if tenant_id is None:
        return limits[0] if limits else None
    if any(limit != tenant_id for limit in limits):
        raise ValidationError({"tenant": "You cannot make a token for this tenant."})
    return tenant_id

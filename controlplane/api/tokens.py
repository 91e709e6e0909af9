"""Issuing and checking personal API tokens."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import uuid

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
    """Create a token for ``user``; return it with the plaintext, which is never stored."""
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


def api_token_authenticate(plaintext: str) -> ApiToken | None:
    """The usable token matching ``plaintext``, or None. Compares in constant time."""
    parts = plaintext.split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
        return None
    token = ApiToken.objects.select_related("user").filter(prefix=parts[1]).first()
    if token is None or not hmac.compare_digest(token.secret_hash, _hash(plaintext)):
        return None
    if not token.is_usable or not token.user.is_active:
        return None
    return token

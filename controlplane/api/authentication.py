from __future__ import annotations

from typing import Any

from django.utils import timezone
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from controlplane.accounts.throttle import api_auth_by_ip, api_auth_by_prefix
from controlplane.api.tokens import api_token_authenticate, token_prefix
from controlplane.audit.services import client_ip


class ApiTokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer acp_…`` personal tokens."""

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        keyword, _, value = header.partition(" ")
        if keyword != self.keyword:
            return None
        plaintext = value.strip()
        address = client_ip(request._request) or "unknown"
        prefix = token_prefix(plaintext)
        locked = max(
            api_auth_by_ip.locked_for(address),
            api_auth_by_prefix.locked_for(prefix) if prefix else 0,
        )
        if locked:
            raise exceptions.Throttled(
                wait=locked,
                detail=f"Too many failed authentication attempts; try again in {locked} s.",
            )
        token = api_token_authenticate(plaintext)
        if token is None:
            api_auth_by_ip.record_failure(address)
            if prefix:
                api_auth_by_prefix.record_failure(prefix)
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked API token.")
        if token.last_used_at is None or (timezone.now() - token.last_used_at).total_seconds() > 60:
            type(token).objects.filter(pk=token.pk).update(last_used_at=timezone.now())
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return self.keyword

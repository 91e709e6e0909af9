from __future__ import annotations

from typing import cast

from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from controlplane.accounts.models import User
from controlplane.api.models import ApiToken
from tenants.selectors import user_membership


@api_view(["GET"])
def me(request: Request) -> Response:
    """The person the token acts for, and what the token allows."""
    user = cast(User, request.user)  # IsAuthenticated ran first
    token = cast(ApiToken, request.auth)
    membership = user_membership(user)
    return Response(
        {
            "id": str(user.pk),
            "email": user.email,
            "staff_role": user.staff_role or None,
            "tenant": membership.tenant.slug if membership else None,
            "tenant_role": membership.role if membership else None,
            "token": {
                "name": token.name,
                "read_only": token.read_only,
                "expires_at": token.expires_at,
            },
        }
    )

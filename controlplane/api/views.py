from __future__ import annotations

from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response


@api_view(["GET"])
def me(request: Request) -> Response:
    """The person the token acts for, and what the token allows."""
    user = request.user
    token = request.auth
    membership = getattr(user, "membership", None)
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

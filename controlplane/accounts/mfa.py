"""Who must use a second factor, and whether this session has passed it."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils import timezone

from controlplane.accounts.models import TOTPDevice, User

SESSION_MFA_VERIFIED_AT = "mfa_verified_at"


def mfa_enrolled(user: User) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed_at__isnull=False).exists()


def mfa_required_for(user: User) -> bool:
    """Staff always; a customer user when their tenant requires it."""
    if user.is_msp_staff:
        return True
    from tenants.services import user_tenant_required_mfa

    return user_tenant_required_mfa(user)


def is_mfa_verified(request: HttpRequest) -> bool:
    return bool(request.session.get(SESSION_MFA_VERIFIED_AT))


def mark_mfa_verified(request: HttpRequest) -> None:
    request.session[SESSION_MFA_VERIFIED_AT] = timezone.now().isoformat()

"""The MSP's own people: inviting staff, changing their role, deactivating them.

Only staff admins call these (the console checks). A new staff member gets a link to
set their password and must set up two-factor sign-in at their first sign-in, like
every staff account. The last active admin can neither be demoted nor deactivated, and
nobody changes their own role or account here, so the MSP can never lock itself out.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from controlplane.accounts.models import StaffRole, User
from controlplane.audit.services import Actor, audit_record, snapshot


def _set_password_link(user: User) -> str:
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    return f"{settings.PUBLIC_URL}{reverse('accounts:password_reset_confirm', args=[uid, token])}"


def staff_invite(*, actor: Actor, email: str, role: str, full_name: str = "") -> User:
    """Create a staff account without a password and email its owner a link to set one
    (valid for ``PASSWORD_RESET_TIMEOUT``)."""
    email = email.strip().lower()
    if role not in StaffRole.values:
        raise ValidationError({"role": f"Unknown staff role {role!r}."})
    if User.objects.filter(email__iexact=email).exists():
        raise ValidationError({"email": "This email already has an account."})
    with transaction.atomic():
        user = User.objects.create_user(
            email=email, password=None, full_name=full_name, staff_role=role
        )
        audit_record(
            actor=actor, action="staff.invited", target=user, tenant_id=None, after=snapshot(user)
        )
    staff_send_password_link(actor=actor, user=user)
    return user


def staff_send_password_link(*, actor: Actor, user: User) -> None:
    """Email ``user`` a link to set their password, valid ``PASSWORD_RESET_TIMEOUT``
    (again, when the first one expired before they used it)."""
    link = _set_password_link(user)
    hours = max(settings.PASSWORD_RESET_TIMEOUT // 3600, 1)
    role = user.get_staff_role_display().lower()
    transaction.on_commit(
        lambda: send_mail(
            subject="Your Agent Control Plane staff account",
            message=(
                f"{actor.label} made you an MSP staff {role} on Agent Control Plane.\n\n"
                f"Set your password within {hours} hours here: {link}\n\n"
                "At your first sign-in you set up an authenticator app (two-factor "
                "sign-in is required for staff).\n"
            ),
            from_email=None,
            recipient_list=[user.email],
        )
    )


def _other_active_admins(user: User) -> bool:
    return (
        User.objects.filter(staff_role=StaffRole.ADMIN, is_active=True).exclude(pk=user.pk).exists()
    )


def _check_change(*, actor: Actor, user: User, losing_admin: bool) -> None:
    if not user.is_msp_staff:
        raise ValidationError("Only staff accounts are managed here.")
    if actor.user_id == user.pk:
        raise ValidationError("You cannot change your own staff account here.")
    if losing_admin and user.staff_role == StaffRole.ADMIN and not _other_active_admins(user):
        raise ValidationError("This is the last active admin: make another admin first.")


def staff_role_change(*, actor: Actor, user: User, role: str) -> User:
    if role not in StaffRole.values:
        raise ValidationError({"role": f"Unknown staff role {role!r}."})
    _check_change(actor=actor, user=user, losing_admin=role != StaffRole.ADMIN)
    if user.staff_role == role:
        return user
    with transaction.atomic():
        before = snapshot(user)
        user.staff_role = role
        user.save(update_fields=["staff_role"])
        audit_record(
            actor=actor,
            action="staff.role_changed",
            target=user,
            tenant_id=None,
            before=before,
            after=snapshot(user),
        )
    return user


def staff_set_active(*, actor: Actor, user: User, active: bool) -> User:
    """Deactivate (sign-in, sessions and API tokens stop working) or reactivate."""
    _check_change(actor=actor, user=user, losing_admin=not active)
    if user.is_active == active:
        return user
    with transaction.atomic():
        before = snapshot(user)
        user.is_active = active
        user.save(update_fields=["is_active"])
        audit_record(
            actor=actor,
            action="staff.reactivated" if active else "staff.deactivated",
            target=user,
            tenant_id=None,
            before=before,
            after=snapshot(user),
        )
    return user

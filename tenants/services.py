"""Changes to tenants, departments, people and roles. Each one is audited."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from controlplane.accounts.models import User
from controlplane.audit.services import Actor, audit_record, snapshot
from controlplane.core.tenancy import all_tenants_context, tenant_context
from controlplane.gateway.services import bump_sites
from tenants.models import Department, Invitation, Membership, Tenant, TenantRole

INVITATION_LIFETIME = dt.timedelta(days=7)
EDGE_FIELDS = frozenset({"body_residency", "retention_days"})
"""Tenant settings the edges enforce (the bundle's ``residency`` section)."""


def tenant_create(*, actor: Actor, slug: str, name: str, mfa_required: bool = False) -> Tenant:
    tenant = Tenant(slug=slug, name=name, mfa_required=mfa_required)
    tenant.full_clean()
    with transaction.atomic():
        tenant.save(force_insert=True)
        audit_record(
            actor=actor,
            action="tenant.created",
            target=tenant,
            tenant_id=tenant.pk,
            after=snapshot(tenant),
        )
    return tenant


def tenant_update(*, actor: Actor, tenant: Tenant, **changes: Any) -> Tenant:
    """Change the given fields of ``tenant`` (any of ``Tenant.AUDIT_FIELDS``)."""
    unknown = set(changes) - set(Tenant.AUDIT_FIELDS)
    if unknown:
        raise ValueError(f"not editable: {', '.join(sorted(unknown))}")
    before = snapshot(tenant)
    for field, value in changes.items():
        setattr(tenant, field, value)
    tenant.full_clean()
    with transaction.atomic():
        tenant.save(update_fields=list(changes))
        after = snapshot(tenant)
        if any(before.get(field) != after.get(field) for field in EDGE_FIELDS):
            bump_sites(tenant_id=tenant.pk)
        if after != before:
            audit_record(
                actor=actor,
                action="tenant.updated",
                target=tenant,
                tenant_id=tenant.pk,
                before=before,
                after=after,
            )
    return tenant


def department_create(*, actor: Actor, tenant: Tenant, name: str, code: str = "") -> Department:
    with tenant_context(tenant):
        department = Department(tenant=tenant, name=name.strip(), code=code.strip())
        department.full_clean()
        department.save(force_insert=True)
        audit_record(
            actor=actor,
            action="department.created",
            target=department,
            tenant_id=tenant.pk,
            after=snapshot(department),
        )
    return department


def department_update(*, actor: Actor, department: Department, name: str, code: str) -> Department:
    with tenant_context(department.tenant_id):
        before = snapshot(department)
        department.name, department.code = name.strip(), code.strip()
        department.full_clean()
        department.save(update_fields=["name", "code"])
        audit_record(
            actor=actor,
            action="department.updated",
            target=department,
            tenant_id=department.tenant_id,
            before=before,
            after=snapshot(department),
        )
    return department


def department_delete(*, actor: Actor, department: Department) -> None:
    with tenant_context(department.tenant_id):
        before = snapshot(department)
        audit_record(
            actor=actor,
            action="department.deleted",
            target=department,
            tenant_id=department.tenant_id,
            before=before,
        )
        department.delete()


def can_manage_owners(acting_role: str | None) -> bool:
    """Whether someone acting with ``acting_role`` may grant, change or remove the owner
    role: owners may, and MSP staff, who act with no tenant role (None)."""
    return acting_role is None or acting_role == TenantRole.OWNER


def grantable_roles(acting_role: str | None) -> list[str]:
    """The roles someone acting with ``acting_role`` may hand out."""
    if can_manage_owners(acting_role):
        return list(TenantRole.values)
    return [role for role in TenantRole.values if role != TenantRole.OWNER]


def may_change_membership(acting_role: str | None, membership: Membership) -> bool:
    """Whether the owner rule lets ``acting_role`` change or remove ``membership``."""
    return can_manage_owners(acting_role) or membership.role != TenantRole.OWNER


def _require_owner_rule(acting_role: str | None, *roles: str) -> None:
    if TenantRole.OWNER in roles and not can_manage_owners(acting_role):
        raise PermissionDenied("Only an owner can grant, change or remove the owner role.")


def _require_owner_left(membership: Membership, *, new_role: str | None) -> None:
    if membership.role != TenantRole.OWNER or new_role == TenantRole.OWNER:
        return
    others = Membership.objects.filter(role=TenantRole.OWNER, user__is_active=True).exclude(
        pk=membership.pk
    )
    if not others.exists():
        raise ValidationError("A tenant must keep at least one owner.")


def membership_change_role(
    *, actor: Actor, membership: Membership, role: str, acting_role: str | None = None
) -> Membership:
    """Give ``membership`` another role. ``acting_role`` is the tenant role of the person
    making the change, None for MSP staff: only owners and staff touch the owner role."""
    if role not in TenantRole.values:
        raise ValidationError({"role": f"Unknown role {role!r}."})
    _require_owner_rule(acting_role, membership.role, role)
    with tenant_context(membership.tenant_id):
        _require_owner_left(membership, new_role=role)
        before = snapshot(membership)
        membership.role = role
        membership.save(update_fields=["role"])
        audit_record(
            actor=actor,
            action="membership.role_changed",
            target=membership,
            tenant_id=membership.tenant_id,
            before={**before, "email": membership.user.email},
            after={**snapshot(membership), "email": membership.user.email},
        )
    return membership


def membership_set_departments(
    *, actor: Actor, membership: Membership, departments: list[Department]
) -> Membership:
    """Limit what ``membership`` sees of usage, traces and data flows to ``departments``;
    an empty list lifts the limit (the whole tenant). Roles are unchanged."""
    if any(department.tenant_id != membership.tenant_id for department in departments):
        raise ValidationError({"departments": "Every department must be of this tenant."})
    with tenant_context(membership.tenant_id):
        before = sorted(str(pk) for pk in membership.departments.values_list("pk", flat=True))
        membership.departments.set(departments)
        after = sorted(str(department.pk) for department in departments)
        if before != after:
            audit_record(
                actor=actor,
                action="membership.departments_changed",
                target=membership,
                tenant_id=membership.tenant_id,
                before={"email": membership.user.email, "departments": before},
                after={"email": membership.user.email, "departments": after},
            )
    return membership


def membership_remove(
    *, actor: Actor, membership: Membership, acting_role: str | None = None
) -> None:
    """Remove a person from their tenant; their account is deactivated with it.

    ``acting_role`` as for ``membership_change_role``: only owners and staff remove owners.
    """
    _require_owner_rule(acting_role, membership.role)
    with tenant_context(membership.tenant_id):
        _require_owner_left(membership, new_role=None)
        user = membership.user
        audit_record(
            actor=actor,
            action="membership.removed",
            target=membership,
            tenant_id=membership.tenant_id,
            before={**snapshot(membership), "email": user.email},
        )
        membership.delete()
        user.is_active = False
        user.save(update_fields=["is_active"])


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def invitation_create(
    *, actor: Actor, tenant: Tenant, email: str, role: str, acting_role: str | None = None
) -> tuple[Invitation, str]:
    """Invite ``email`` to ``tenant``; send the link and return it too (shown once).

    ``acting_role`` as for ``membership_change_role``: only owners and staff invite owners.
    """
    email = email.strip().lower()
    if role not in TenantRole.values:
        raise ValidationError({"role": f"Unknown role {role!r}."})
    _require_owner_rule(acting_role, role)
    if User.objects.filter(email__iexact=email).exists():
        raise ValidationError({"email": "This email already has an account."})
    token = secrets.token_urlsafe(32)
    with tenant_context(tenant):
        Invitation.objects.filter(
            email=email, accepted_at__isnull=True, revoked_at__isnull=True
        ).update(revoked_at=timezone.now())
        invitation = Invitation(
            tenant=tenant,
            email=email,
            role=role,
            token_hash=_token_hash(token),
            invited_by_id=actor.user_id,
            expires_at=timezone.now() + INVITATION_LIFETIME,
        )
        invitation.full_clean()
        invitation.save(force_insert=True)
        audit_record(
            actor=actor,
            action="invitation.created",
            target=invitation,
            tenant_id=tenant.pk,
            after=snapshot(invitation),
        )
    link = f"{settings.PUBLIC_URL}/invitations/{token}/"
    transaction.on_commit(
        lambda: send_mail(
            subject=f"You are invited to {tenant.name} on Agent Control Plane",
            message=(
                f"{actor.label} invited you to join {tenant.name} as {role}.\n\n"
                f"Accept within 7 days: {link}\n"
            ),
            from_email=None,
            recipient_list=[email],
        )
    )
    return invitation, link


def invitation_revoke(*, actor: Actor, invitation: Invitation) -> None:
    with tenant_context(invitation.tenant_id):
        before = snapshot(invitation)
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at"])
        audit_record(
            actor=actor,
            action="invitation.revoked",
            target=invitation,
            tenant_id=invitation.tenant_id,
            before=before,
            after=snapshot(invitation),
        )


def invitation_find_open(token: str) -> Invitation | None:
    """The invitation a link's token opens, if it can still be accepted."""
    with all_tenants_context():
        invitation = (
            Invitation.unscoped.select_related("tenant")
            .filter(
                token_hash=_token_hash(token), accepted_at__isnull=True, revoked_at__isnull=True
            )
            .first()
        )
    if invitation is None or invitation.expires_at <= timezone.now():
        return None
    return invitation


def invitation_accept(
    *, invitation: Invitation, full_name: str, password: str, ip: str | None
) -> User:
    """Create the invited person's account and membership in one transaction."""
    with tenant_context(invitation.tenant_id):
        locked = Invitation.objects.select_for_update().get(pk=invitation.pk)
        if locked.accepted_at or locked.revoked_at or locked.expires_at <= timezone.now():
            raise ValidationError("This invitation is no longer valid.")
        user = User.objects.create_user(email=locked.email, password=password, full_name=full_name)
        membership = Membership.objects.create(
            tenant_id=locked.tenant_id, user=user, role=locked.role
        )
        locked.accepted_at = timezone.now()
        locked.save(update_fields=["accepted_at"])
        actor = Actor.for_user(user, ip=ip)
        audit_record(
            actor=actor,
            action="invitation.accepted",
            target=locked,
            tenant_id=locked.tenant_id,
            after=snapshot(locked),
        )
        audit_record(
            actor=actor,
            action="membership.created",
            target=membership,
            tenant_id=locked.tenant_id,
            after={**snapshot(membership), "email": user.email},
        )
    return user


def customer_user_create(
    *,
    actor: Actor,
    tenant: Tenant,
    email: str,
    role: str,
    password: str | None,
    full_name: str = "",
) -> User:
    """Create a customer user directly (demo seeding, staff provisioning)."""
    with tenant_context(tenant):
        user = User.objects.create_user(email=email, password=password, full_name=full_name)
        membership = Membership.objects.create(tenant=tenant, user=user, role=role)
        audit_record(
            actor=actor,
            action="membership.created",
            target=membership,
            tenant_id=tenant.pk,
            after={**snapshot(membership), "email": user.email},
        )
    return user


def staff_user_create(
    *, actor: Actor, email: str, role: str, password: str | None, full_name: str = ""
) -> User:
    with transaction.atomic():
        user = User.objects.create_user(
            email=email, password=password, full_name=full_name, staff_role=role
        )
        audit_record(
            actor=actor, action="staff.created", target=user, tenant_id=None, after=snapshot(user)
        )
    return user

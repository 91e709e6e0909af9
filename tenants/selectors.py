"""Reads of tenants, people and departments for the pages that list them.

Functions taking a queryset leave the choice of manager to the caller: the portal
passes ``Model.objects`` (scoped to the active tenant), the staff console passes
``Model.unscoped`` filtered by the tenant it shows.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Exists, IntegerField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from controlplane.accounts.models import TOTPDevice, User
from controlplane.core.tenancy import all_tenants_context
from tenants.models import Department, Invitation, Membership, Tenant


def user_membership(user: User) -> Membership | None:
    """A customer user's membership (with its tenant); None for MSP staff.

    Read across tenants on purpose: it is how a signed-in person's tenant is found.
    """
    with all_tenants_context():
        return Membership.unscoped.select_related("tenant").filter(user=user).first()


def tenants_with_counts(query: str = "") -> QuerySet[Tenant]:
    """Tenants matching ``query`` (name or slug), each with ``member_count``.

    Counting memberships reads every tenant's rows: call it under all_tenants_context.
    """
    members = (
        Membership.unscoped.filter(tenant=OuterRef("pk"))
        .order_by()
        .values("tenant")
        .annotate(n=Count("pk"))
        .values("n")
    )
    tenants = Tenant.objects.annotate(
        member_count=Coalesce(Subquery(members, output_field=IntegerField()), Value(0))
    )
    query = query.strip()
    if query:
        tenants = tenants.filter(Q(name__icontains=query) | Q(slug__icontains=query))
    return tenants.order_by("name")


def members(memberships: QuerySet[Membership]) -> QuerySet[Membership]:
    return memberships.select_related("user").order_by("user__email")


def pending_invitations(invitations: QuerySet[Invitation]) -> QuerySet[Invitation]:
    """Invitations that can still be accepted, newest first."""
    return (
        invitations.filter(
            accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now()
        )
        .select_related("invited_by")
        .order_by("-created_at")
    )


def departments(queryset: QuerySet[Department]) -> QuerySet[Department]:
    return queryset.order_by("name")


@dataclass(frozen=True)
class TenantCounts:
    members: int
    departments: int
    pending_invitations: int


def tenant_counts(
    memberships: QuerySet[Membership],
    department_rows: QuerySet[Department],
    invitations: QuerySet[Invitation],
) -> TenantCounts:
    return TenantCounts(
        members=memberships.count(),
        departments=department_rows.count(),
        pending_invitations=pending_invitations(invitations).count(),
    )


def staff_members() -> QuerySet[User]:
    """MSP staff, each with ``has_mfa``: whether their authenticator is confirmed."""
    enrolled = TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed_at__isnull=False)
    return User.objects.exclude(staff_role="").annotate(has_mfa=Exists(enrolled)).order_by("email")


def membership_of(user: User) -> Membership | None:
    """The customer user's membership with its tenant, read across tenants: call it
    under all_tenants_context."""
    return Membership.unscoped.select_related("tenant").filter(user=user).first()

"""Who a token acts for, which tenants it may see, and what it may change.

A token carries its user's rights, never more, and may narrow them: a read-only token
cannot write, a token restricted to one tenant sees no other. MSP staff see every
tenant; the admin and operator staff roles write, the auditor reads. A customer sees
only their own (active) tenant; owners and admins write, members, billing and viewers
read. A tenant a token cannot see answers 404, exactly like one that does not exist.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from django.db.models import QuerySet
from rest_framework import exceptions
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from controlplane.accounts.models import StaffRole, User
from controlplane.api.models import ApiToken
from controlplane.telemetry.body_access import can_read_bodies
from tenants.models import Membership, Tenant, TenantRole
from tenants.selectors import user_membership

if TYPE_CHECKING:
    from controlplane.api.base import ApiMixin

STAFF_WRITERS: frozenset[str] = frozenset({StaffRole.ADMIN, StaffRole.OPERATOR})
STAFF_ALL: frozenset[str] = frozenset(StaffRole.values)
TENANT_ADMINS: frozenset[str] = frozenset({TenantRole.OWNER, TenantRole.ADMIN})
TENANT_ALL: frozenset[str] = frozenset(TenantRole.values)


@dataclass(frozen=True)
class Principal:
    """The user a request's token acts for, with the token's narrowing."""

    user: User
    token: ApiToken
    membership: Membership | None

    @classmethod
    def of(cls, request: Request) -> Principal:
        user = cast(User, request.user)
        token = cast(ApiToken, request.auth)
        membership = None if user.is_msp_staff else user_membership(user)
        return cls(user=user, token=token, membership=membership)

    @property
    def is_staff(self) -> bool:
        return self.user.is_msp_staff

    @property
    def read_only(self) -> bool:
        return self.token.read_only

    @property
    def restricted_tenant_id(self) -> uuid.UUID | None:
        """The one tenant this token may address, or None for a staff token on all."""
        if self.is_staff:
            return self.token.tenant_id
        return self.membership.tenant_id if self.membership else None

    def visible_tenants(self) -> QuerySet[Tenant]:
        """The tenants this token may address."""
        tenants = Tenant.objects.all()
        if self.is_staff:
            if self.token.tenant_id is not None:
                tenants = tenants.filter(pk=self.token.tenant_id)
            return tenants
        if self.membership is None:
            return tenants.none()
        tenants = tenants.filter(pk=self.membership.tenant_id, status=Tenant.Status.ACTIVE)
        if self.token.tenant_id is not None:
            tenants = tenants.filter(pk=self.token.tenant_id)
        return tenants

    def tenant(self, slug: str) -> Tenant:
        """The tenant named ``slug`` if this token may address it; 404 otherwise."""
        tenant = self.visible_tenants().filter(slug=slug).first()
        if tenant is None:
            raise exceptions.NotFound()
        return tenant

    @property
    def role(self) -> str | None:
        """``staff:<role>`` for MSP staff, the tenant role for customers."""
        if self.is_staff:
            return f"staff:{self.user.staff_role}"
        return self.membership.role if self.membership else None

    def departments(self) -> frozenset[uuid.UUID] | None:
        """The departments a department-scoped member's usage and traces are limited to;
        None: the whole tenant (staff, and members without a limit). Call it in the
        tenant's context."""
        if self.membership is None:
            return None
        return frozenset(self.membership.departments.values_list("pk", flat=True)) or None

    @property
    def can_read_bodies(self) -> bool:
        """Whether this token may read prompts and responses (telemetry.body_access)."""
        return can_read_bodies(
            staff_role=self.user.staff_role if self.is_staff else None,
            tenant_role=self.membership.role if self.membership else None,
        )

    @property
    def acting_role(self) -> str | None:
        """The role tenants.services applies the owner rule to: None for MSP staff."""
        return None if self.is_staff else (self.membership.role if self.membership else "")

    def has_role(self, *, staff: Collection[str], tenant: Collection[str]) -> bool:
        if self.is_staff:
            return self.user.staff_role in staff
        return self.membership is not None and self.membership.role in tenant


class ApiAccess(BasePermission):
    """Reads need one of the view's read roles; writes one of its write roles and a token
    that is not read-only. Views declare the roles (``ApiMixin.read_roles``)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.user is None or not request.user.is_authenticated:
            return False
        api_view = cast("ApiMixin", view)
        principal = api_view.principal
        if request.method in SAFE_METHODS:
            staff, tenant = api_view.read_roles()
            if not principal.has_role(staff=staff, tenant=tenant):
                raise exceptions.PermissionDenied("Your role cannot read this.")
            return True
        if principal.read_only:
            raise exceptions.PermissionDenied("This API token is read-only.")
        staff, tenant = api_view.write_roles()
        if not principal.has_role(staff=staff, tenant=tenant):
            raise exceptions.PermissionDenied("Your role cannot change this.")
        return True

"""Tenants, and each tenant's departments, people and roles, and invitations."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, ClassVar

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from controlplane.api.base import TENANT_SLUG, ApiViewSet, TenantScopedViewSet
from controlplane.api.filtering import Filter
from controlplane.api.permissions import STAFF_ALL, TENANT_ADMINS
from controlplane.api.problems import Conflict
from controlplane.api.serializers.tenants import (
    DepartmentSerializer,
    InvitationCreatedSerializer,
    InvitationCreateSerializer,
    InvitationSerializer,
    MembershipSerializer,
    MembershipUpdateSerializer,
    TenantCreateSerializer,
    TenantSerializer,
    TenantUpdateSerializer,
)
from tenants import services
from tenants.models import Department, Invitation, Membership, Tenant, TenantRole

NOBODY: frozenset[str] = frozenset()
OWNERS: frozenset[str] = frozenset({TenantRole.OWNER})
# What a customer's owner may change of their own tenant; the rest is for MSP staff.
OWNER_EDITABLE = frozenset({"mfa_required"})


class TenantViewSet(ApiViewSet):
    """The MSP's customers. Staff see all (a token limited to one tenant sees that one),
    customers their own."""

    serializer_class = TenantSerializer
    lookup_field = "slug"
    lookup_url_kwarg = TENANT_SLUG
    lookup_value_converter = "slug"
    tenant: Tenant | None = None
    ordering = "slug"
    ordering_fields: ClassVar[list[str]] = ["slug", "name", "created_at"]
    filters: ClassVar[list[Filter]] = [
        Filter("status", "status", choices=Tenant.Status.values),
        Filter("q", "name__icontains", description="Only tenants whose name contains this."),
    ]

    def write_roles(self) -> tuple[Collection[str], Collection[str]]:
        staff, _ = super().write_roles()
        return staff, OWNERS if self.action == "partial_update" else NOBODY

    def resolve_scope(self, request: Request, **kwargs: Any) -> None:
        # A tenant the token cannot see is a 404 before any question of rights.
        self.tenant = self.principal.tenant(str(kwargs[TENANT_SLUG])) if kwargs else None

    def get_queryset(self) -> QuerySet[Tenant]:
        if getattr(self, "swagger_fake_view", False):
            return Tenant.objects.none()
        return self.principal.visible_tenants()

    def get_object(self) -> Tenant:
        if self.tenant is None:
            raise exceptions.NotFound()
        return self.tenant

    @extend_schema(
        summary="List tenants",
        description="Tenants this token may address: every tenant for MSP staff (or the one "
        "a restricted token is limited to), the own tenant for a customer.",
    )
    def list(self, request: Request) -> Response:
        return self.list_response(self.get_queryset())

    @extend_schema(
        summary="Create a tenant",
        description="MSP staff (admin, operator) with a token not limited to one tenant. "
        "Then invite the tenant's first owner (POST .../invitations).",
        request=TenantCreateSerializer,
        responses={201: TenantSerializer},
    )
    def create(self, request: Request) -> Response:
        if self.principal.token.tenant_id is not None:
            raise exceptions.PermissionDenied("This token is limited to one tenant.")
        data = self._valid(TenantCreateSerializer, request.data)
        tenant = services.tenant_create(actor=self.actor, **data)
        return Response(TenantSerializer(tenant).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Get a tenant", description="One tenant, by slug.")
    def retrieve(self, request: Request, **kwargs: Any) -> Response:
        return Response(TenantSerializer(self.get_object()).data)

    @extend_schema(
        summary="Change a tenant",
        description="MSP staff change any field; a tenant's owner may change `mfa_required` only.",
        request=TenantUpdateSerializer,
        responses={200: TenantSerializer},
    )
    def partial_update(self, request: Request, **kwargs: Any) -> Response:
        tenant = self.get_object()
        changes = self._valid(TenantUpdateSerializer, request.data)
        if not self.principal.is_staff and set(changes) - OWNER_EDITABLE:
            fields = ", ".join(sorted(set(changes) - OWNER_EDITABLE))
            raise exceptions.PermissionDenied(f"Only MSP staff can change {fields}.")
        tenant = services.tenant_update(actor=self.actor, tenant=tenant, **changes)
        return Response(TenantSerializer(tenant).data)

    def _valid(self, serializer_class: type[Any], data: Any) -> dict[str, Any]:
        serializer = serializer_class(data=data)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)


class DepartmentViewSet(TenantScopedViewSet):
    """Cost centres of the tenant."""

    queryset_model = Department
    serializer_class = DepartmentSerializer
    ordering = "name"
    ordering_fields: ClassVar[list[str]] = ["name", "code", "created_at"]
    filters: ClassVar[list[Filter]] = [
        Filter("q", "name__icontains", description="Only departments whose name contains this."),
        Filter("code", "code"),
    ]

    @extend_schema(summary="List departments", description="The tenant's departments.")
    def list(self, request: Request, **kwargs: Any) -> Response:
        return self.list_response(self.get_queryset())

    @extend_schema(
        summary="Create a department",
        description="Add a cost centre. Names are unique within the tenant.",
        responses={201: DepartmentSerializer},
    )
    def create(self, request: Request, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        department = services.department_create(
            actor=self.actor, tenant=self.tenant, **serializer.validated_data
        )
        return Response(self.get_serializer(department).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Get a department", description="One department, by id.")
    def retrieve(self, request: Request, **kwargs: Any) -> Response:
        return Response(self.get_serializer(self.get_object()).data)

    @extend_schema(
        summary="Change a department", description="Rename it or change its cost-centre code."
    )
    def partial_update(self, request: Request, **kwargs: Any) -> Response:
        department = self.get_object()
        serializer = self.get_serializer(department, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        department = services.department_update(
            actor=self.actor,
            department=department,
            name=data.get("name", department.name),
            code=data.get("code", department.code),
        )
        return Response(self.get_serializer(department).data)

    @extend_schema(
        summary="Delete a department",
        description="Its agents stay, with no department; past usage keeps its id.",
        responses={204: None},
    )
    def destroy(self, request: Request, **kwargs: Any) -> Response:
        services.department_delete(actor=self.actor, department=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class MembershipViewSet(TenantScopedViewSet):
    """People of the tenant and their roles. New people join through invitations."""

    queryset_model = Membership
    serializer_class = MembershipSerializer
    ordering = "created_at"
    ordering_fields: ClassVar[list[str]] = ["created_at", "role"]
    filters: ClassVar[list[Filter]] = [
        Filter("role", "role", choices=TenantRole.values),
        Filter("email", "user__email__iexact", description="Only the person with this email."),
    ]

    def get_queryset(self) -> QuerySet[Any]:
        return super().get_queryset().select_related("user").prefetch_related("departments")

    @extend_schema(summary="List people", description="The tenant's people and their roles.")
    def list(self, request: Request, **kwargs: Any) -> Response:
        return self.list_response(self.get_queryset())

    @extend_schema(summary="Get a person", description="One membership, by id.")
    def retrieve(self, request: Request, **kwargs: Any) -> Response:
        return Response(self.get_serializer(self.get_object()).data)

    @extend_schema(
        summary="Change a person's role or departments",
        description="Owners and admins change roles; only owners (and MSP staff) grant, "
        "change or take away the owner role (403 otherwise). A tenant keeps one owner. "
        "`departments` limits what the person sees of usage, traces and data flows to "
        "those departments (an empty list: the whole tenant).",
        request=MembershipUpdateSerializer,
        responses={200: MembershipSerializer},
    )
    def partial_update(self, request: Request, **kwargs: Any) -> Response:
        membership = self.get_object()
        serializer = MembershipUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        # One request, one transaction (ATOMIC_REQUESTS): both changes or neither.
        if "role" in data:
            membership = services.membership_change_role(
                actor=self.actor,
                membership=membership,
                role=data["role"],
                acting_role=self.acting_role,
            )
        if "departments" in data:
            if not services.may_change_membership(self.acting_role, membership):
                raise exceptions.PermissionDenied("Only an owner can change an owner's access.")
            membership = services.membership_set_departments(
                actor=self.actor, membership=membership, departments=data["departments"]
            )
        return Response(self.get_serializer(self.get_object()).data)

    @extend_schema(
        summary="Remove a person",
        description="They leave the tenant and can no longer sign in or use their tokens. "
        "Only owners (and MSP staff) remove owners; the last owner cannot be removed.",
        responses={204: None},
    )
    def destroy(self, request: Request, **kwargs: Any) -> Response:
        services.membership_remove(
            actor=self.actor, membership=self.get_object(), acting_role=self.acting_role
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class InvitationViewSet(TenantScopedViewSet):
    """Emailed links that let a new person join with a role. Owners, admins and staff."""

    queryset_model = Invitation
    serializer_class = InvitationSerializer
    tenant_read_roles = TENANT_ADMINS
    staff_read_roles = STAFF_ALL
    filters: ClassVar[list[Filter]] = [
        Filter("email", "email__iexact", description="Only invitations of this email."),
    ]

    def get_queryset(self) -> QuerySet[Any]:
        return super().get_queryset().select_related("invited_by")

    @extend_schema(summary="List invitations", description="Newest first, in every state.")
    def list(self, request: Request, **kwargs: Any) -> Response:
        return self.list_response(self.get_queryset())

    @extend_schema(
        summary="Invite a person",
        description="Emails a link valid for 7 days and returns it once. An open "
        "invitation of the same email is replaced. Only owners (and MSP staff) invite owners.",
        request=InvitationCreateSerializer,
        responses={201: InvitationCreatedSerializer},
    )
    def create(self, request: Request, **kwargs: Any) -> Response:
        serializer = InvitationCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        invitation, link = services.invitation_create(
            actor=self.actor,
            tenant=self.tenant,
            acting_role=self.acting_role,
            **serializer.validated_data,
        )
        data = InvitationCreatedSerializer(invitation, context={"secret": link}).data
        return Response(data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Get an invitation", description="One invitation, by id.")
    def retrieve(self, request: Request, **kwargs: Any) -> Response:
        return Response(self.get_serializer(self.get_object()).data)

    @extend_schema(
        summary="Revoke an invitation",
        description="Its link stops working. 409 if it was already accepted or revoked.",
        request=None,
        responses={200: InvitationSerializer},
    )
    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, **kwargs: Any) -> Response:
        invitation = self.get_object()
        if invitation.accepted_at or invitation.revoked_at:
            raise Conflict("This invitation is already closed.")
        services.invitation_revoke(actor=self.actor, invitation=invitation)
        return Response(self.get_serializer(invitation).data)

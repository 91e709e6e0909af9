"""Evidence packages of a tenant, and outside auditors' accounts (docs/compliance-auditors.md).

Packages: MSP staff read every tenant's, admins and operators request them; a customer's
owner reads and requests their own tenant's (other roles: 403). Auditor accounts: MSP
staff only, across tenants (so not a token limited to one tenant); admins change them.
Outside auditors themselves have no API tokens: their access is the web's.
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from django.db.models import QuerySet
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from compliance.models import EvidencePackage
from compliance.packages import selectors
from compliance.packages.services import package_downloaded, package_request
from compliance.periods import Period
from controlplane.accounts.auditors import auditor_create, auditor_revoke, auditor_update
from controlplane.accounts.models import AuditorAccount, AuditorTenant, StaffRole, User
from controlplane.api.base import ApiViewSet, TenantScopedViewSet
from controlplane.api.filtering import Filter
from controlplane.api.serializers.auditors import (
    AuditorCreateSerializer,
    AuditorSerializer,
    AuditorUpdateSerializer,
    PackageCreateSerializer,
    PackageSerializer,
)
from controlplane.core.tenancy import all_tenants_context
from tenants.models import Tenant, TenantRole

OWNERS = frozenset({TenantRole.OWNER})
NOBODY: frozenset[str] = frozenset()


class EvidencePackageViewSet(TenantScopedViewSet):
    """The tenant's evidence packages: signed ZIPs of one period's evidence."""

    queryset_model = EvidencePackage
    serializer_class = PackageSerializer
    tenant_read_roles = OWNERS
    tenant_write_roles = OWNERS
    http_method_names = ["get", "post", "head", "options"]
    ordering = "-requested_at"
    ordering_fields: ClassVar[list[str]] = ["requested_at", "period_start"]
    filters: ClassVar[list[Filter]] = [
        Filter("status", "status", choices=EvidencePackage.Status.values),
    ]

    def get_queryset(self) -> QuerySet[EvidencePackage]:
        return selectors.packages(super().get_queryset())

    @extend_schema(summary="List evidence packages", description="Newest first; no content.")
    def list(self, request: Request, **kwargs: Any) -> Response:
        return self.list_response(self.get_queryset())

    @extend_schema(summary="Get an evidence package", description="Its status, hashes and key.")
    def retrieve(self, request: Request, **kwargs: Any) -> Response:
        return Response(PackageSerializer(self.get_object()).data)

    @extend_schema(
        summary="Request an evidence package",
        description="A worker makes it (status `pending`, then `ready` or `failed`): every "
        "evidence record of the period, CSV populations, a PDF per category, the data-flow "
        "diagrams and the audit-chain head, with a manifest signed with Ed25519.",
        request=PackageCreateSerializer,
        responses={201: PackageSerializer},
    )
    def create(self, request: Request, **kwargs: Any) -> Response:
        body = PackageCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        user = self.principal.user
        package = package_request(
            actor=self.actor,
            tenant=self.tenant,
            period=body.validated_data["period"],
            requested_by=user if isinstance(user, User) else None,
        )
        return Response(PackageSerializer(package).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Download an evidence package",
        description="The ZIP (404 until it is ready). Check it offline with "
        "`manage.py verify_evidence_package FILE --public-key KEYS` (keys at "
        "`/compliance/signing-keys`). Every download is audited.",
        responses={
            (200, "application/zip"): OpenApiResponse(
                OpenApiTypes.BINARY,
                examples=[
                    OpenApiExample("ZIP", value="PK\\u0003\\u0004...", media_type="application/zip")
                ],
            )
        },
    )
    @action(detail=True, methods=["get"])
    def download(self, request: Request, **kwargs: Any) -> HttpResponse:
        found = self.get_object()
        if found.status != EvidencePackage.Status.READY:
            raise exceptions.NotFound("The package is not ready.")
        package = EvidencePackage.objects.select_related("tenant").get(pk=found.pk)
        data = package_downloaded(actor=self.actor, package=package)
        response = HttpResponse(data, content_type="application/zip")
        response["Content-Disposition"] = f'attachment; filename="{package.file_name}"'
        return response


def _tenants(slugs: list[str]) -> list[Tenant]:
    tenants = list(Tenant.objects.filter(slug__in=slugs))
    missing = sorted(set(slugs) - {t.slug for t in tenants})
    if missing:
        raise exceptions.ValidationError({"tenants": [f"No tenant {', '.join(missing)}."]})
    return tenants


class AuditorViewSet(ApiViewSet):
    """Outside auditors' accounts: time-boxed, read-only, some tenants, one period."""

    serializer_class = AuditorSerializer
    tenant_read_roles = NOBODY
    tenant_write_roles = NOBODY
    staff_write_roles = frozenset({StaffRole.ADMIN})
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    ordering = "-created_at"
    ordering_fields: ClassVar[list[str]] = ["created_at", "expires_at"]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        # Accounts span tenants: not for a token limited to one tenant.
        if self.principal.restricted_tenant_id is not None:
            raise exceptions.PermissionDenied("This token is limited to one tenant.")

    def get_queryset(self) -> QuerySet[AuditorAccount]:
        return AuditorAccount.objects.select_related("user")

    def get_object(self) -> AuditorAccount:
        pk = self.kwargs.get("pk")
        account = self.get_queryset().filter(pk=pk).first() if isinstance(pk, uuid.UUID) else None
        if account is None:
            raise exceptions.NotFound()
        return account

    def get_serializer_context(self) -> dict[str, Any]:
        context = super().get_serializer_context()
        with all_tenants_context():
            grants = AuditorTenant.unscoped.select_related("tenant").order_by("tenant__slug")
            tenants: dict[Any, list[str]] = {}
            for grant in grants:
                tenants.setdefault(grant.account_id, []).append(grant.tenant.slug)
        context["tenants"] = tenants
        return context

    @extend_schema(
        summary="List auditor accounts",
        description="Newest first, revoked and ended ones included (`active` says which "
        "may still sign in).",
    )
    def list(self, request: Request) -> Response:
        return self.list_response(self.get_queryset())

    @extend_schema(
        summary="Get an auditor account",
        description="Its tenants, evidence period and when the access ends.",
    )
    def retrieve(self, request: Request, **kwargs: Any) -> Response:
        return Response(self.get_serializer(self.get_object()).data)

    @extend_schema(
        summary="Give an auditor access",
        description="Admins. Creates the account (no password: its owner is emailed a link "
        "to set one, and must set up two-factor sign-in) and queues each tenant's evidence "
        "package of the period. The access ends at `expires_at` (at most 366 days away).",
        request=AuditorCreateSerializer,
        responses={201: AuditorSerializer},
    )
    def create(self, request: Request) -> Response:
        body = AuditorCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        user = self.principal.user
        account = auditor_create(
            actor=self.actor,
            email=data["email"],
            full_name=data["full_name"],
            organization=data["organization"],
            tenants=_tenants(data["tenants"]),
            period=data["period"],
            expires_at=data["expires_at"],
            created_by=user if isinstance(user, User) else None,
        )
        return Response(self.get_serializer(account).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Change an auditor's access",
        description="Admins: a new end, tenants or period.",
        request=AuditorUpdateSerializer,
        responses={200: AuditorSerializer},
    )
    def partial_update(self, request: Request, **kwargs: Any) -> Response:
        account = self.get_object()
        body = AuditorUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        period: Period | None = data.get("period")
        tenants = _tenants(data["tenants"]) if "tenants" in data else None
        account = auditor_update(
            actor=self.actor,
            account=account,
            expires_at=data.get("expires_at"),
            tenants=tenants,
            period=period,
        )
        return Response(self.get_serializer(account).data)

    @extend_schema(
        summary="Revoke an auditor's access",
        description="Admins. They can no longer sign in; open sessions end at once. The "
        "account stays, for the record.",
        responses={200: AuditorSerializer},
    )
    def destroy(self, request: Request, **kwargs: Any) -> Response:
        account = auditor_revoke(actor=self.actor, account=self.get_object())
        return Response(self.get_serializer(account).data)

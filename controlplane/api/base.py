"""The one base of every API view: authentication, rate limit, tenant scope, rights,
idempotency and problem responses, in that order.

``TenantScopedViewSet`` serves ``/api/v1/tenants/{tenant_slug}/...``: it resolves the
tenant from the URL and the token (404 for a tenant the token cannot see, exactly as for
one that does not exist), then runs the whole handler inside ``tenant_context``, so
every ``Model.objects`` query is filtered to that tenant and PostgreSQL's row-level
security sees only its rows. Anything that forgets the tenant fails closed.

A new tenant-owned resource (provider credentials, policies, budgets, ...) is one more
subclass: ``queryset_model``, serializers, and handlers that call a service with
``self.actor``.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Collection, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponseBase
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, filters, viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from controlplane.api.filtering import QueryFilter
from controlplane.api.idempotency import idempotency_key, run_idempotently
from controlplane.api.parsers import refuse_oversized
from controlplane.api.permissions import (
    STAFF_ALL,
    STAFF_WRITERS,
    TENANT_ADMINS,
    TENANT_ALL,
    ApiAccess,
    Principal,
)
from controlplane.api.throttling import TokenRateThrottle
from controlplane.audit.services import Actor
from controlplane.core.tenancy import tenant_context
from tenants.models import Tenant

M = TypeVar("M", bound=Model)

if TYPE_CHECKING:
    from rest_framework.permissions import _PermissionClass

TENANT_SLUG = "tenant_slug"


class ApiMixin:
    """Behaviour shared by every API view. Subclasses set the roles that may read and
    write (see controlplane.api.permissions)."""

    permission_classes: Sequence[_PermissionClass] = (ApiAccess,)
    throttle_classes: Sequence[type[BaseThrottle]] = (TokenRateThrottle,)

    staff_read_roles: Collection[str] = STAFF_ALL
    tenant_read_roles: Collection[str] = TENANT_ALL
    staff_write_roles: Collection[str] = STAFF_WRITERS
    tenant_write_roles: Collection[str] = TENANT_ADMINS

    principal: Principal

    def read_roles(self) -> tuple[Collection[str], Collection[str]]:
        """(staff roles, tenant roles) that may read; by action if need be."""
        return self.staff_read_roles, self.tenant_read_roles

    def write_roles(self) -> tuple[Collection[str], Collection[str]]:
        """(staff roles, tenant roles) that may write; by action if need be."""
        return self.staff_write_roles, self.tenant_write_roles

    # --- the request pipeline ---------------------------------------------------------

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        """As DRF's, but throttles count before the rights are checked (refused requests
        cost too), and the principal and scope are resolved in between."""
        view: APIView = self  # type: ignore[assignment]
        refuse_oversized(request)
        view.format_kwarg = view.get_format_suffix(**kwargs)
        neg = view.perform_content_negotiation(request)
        request.accepted_renderer, request.accepted_media_type = neg
        version, scheme = view.determine_version(request, *args, **kwargs)
        request.version, request.versioning_scheme = version, scheme
        view.perform_authentication(request)
        view.check_throttles(request)
        if request.user is None or not request.user.is_authenticated:
            view.permission_denied(request)  # 401 with WWW-Authenticate
        self.principal = Principal.of(request)
        self.resolve_scope(request, **kwargs)
        view.check_permissions(request)

    def resolve_scope(self, request: Request, **kwargs: Any) -> None:
        """Hook: find what the URL addresses (and 404 if the token may not see it)."""

    def scope(self) -> AbstractContextManager[None]:
        """The context the handler runs in."""
        return contextlib.nullcontext()

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        """DRF's dispatch with the handler run inside ``scope()`` and, for a POST with an
        Idempotency-Key, at most once per key."""
        view: APIView = self  # type: ignore[assignment]
        view.args = args
        view.kwargs = kwargs
        drf_request = view.initialize_request(request, *args, **kwargs)
        view.request = drf_request
        view.headers = view.default_response_headers
        try:
            view.initial(drf_request, *args, **kwargs)
            method = (drf_request.method or "").lower()
            if method in view.http_method_names:
                handler = getattr(view, method, view.http_method_not_allowed)
            else:
                handler = view.http_method_not_allowed
            key = idempotency_key(drf_request) if method == "post" else None
            with self.scope():
                if key is not None:
                    response = run_idempotently(
                        drf_request,
                        self.principal.token,
                        key,
                        lambda: handler(drf_request, *args, **kwargs),
                    )
                else:
                    response = handler(drf_request, *args, **kwargs)
        except Exception as exc:
            response = view.handle_exception(exc)
        view.response = view.finalize_response(drf_request, response, *args, **kwargs)
        limit = getattr(drf_request, "rate_limit", None)
        if limit is not None:
            view.response.headers["X-RateLimit-Limit"] = str(limit[0])
            view.response.headers["X-RateLimit-Remaining"] = str(limit[1])
        return view.response

    # --- helpers for handlers ------------------------------------------------------------

    @property
    def actor(self) -> Actor:
        request: Request = self.request  # type: ignore[attr-defined]
        return Actor.from_request(request._request)


class ApiView(ApiMixin, APIView):
    """A single-purpose API view (``/me``)."""


class ApiViewSet(ApiMixin, viewsets.GenericViewSet):
    """A resource that is not inside one tenant (tenants, tokens, model prices)."""

    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    filter_backends = (QueryFilter, filters.OrderingFilter)
    lookup_value_converter = "uuid"

    def get_serializer_context(self) -> dict[str, Any]:
        context: dict[str, Any] = super().get_serializer_context()
        context["principal"] = getattr(self, "principal", None)
        return context

    def list_response(self, queryset: QuerySet[Any]) -> Response:
        """A cursor-paginated, filtered and ordered list."""
        queryset = self.filter_queryset(queryset)
        page = self.paginate_queryset(queryset)
        serializer = self.get_serializer(page, many=True)
        return self.get_paginated_response(serializer.data)


@extend_schema(
    parameters=[
        OpenApiParameter(
            TENANT_SLUG,
            OpenApiTypes.STR,
            OpenApiParameter.PATH,
            pattern=r"^[a-z0-9](?:[a-z0-9-]{0,48}[a-z0-9])?$",
            description="The tenant's slug.",
        )
    ]
)
class TenantScopedViewSet(ApiViewSet):
    """A resource of one tenant, at ``/api/v1/tenants/{tenant_slug}/...``.

    Subclasses set ``queryset_model`` (a TenantOwnedModel); ``get_queryset`` reads it
    through the scoped manager, so objects of another tenant are simply not found.
    """

    queryset_model: ClassVar[type[Model]]
    tenant: Tenant

    def resolve_scope(self, request: Request, **kwargs: Any) -> None:
        self.tenant = self.principal.tenant(str(kwargs.get(TENANT_SLUG, "")))

    def scope(self) -> AbstractContextManager[None]:
        return tenant_context(self.tenant)

    def get_queryset(self) -> QuerySet[Any]:
        if getattr(self, "swagger_fake_view", False):  # schema generation: no tenant
            return QuerySet(model=self.queryset_model).none()
        manager = self.queryset_model.objects  # type: ignore[attr-defined]
        return manager.all()

    def get_object(self) -> Any:
        lookup = self.kwargs.get(self.lookup_url_kwarg or self.lookup_field)
        if not isinstance(lookup, uuid.UUID):
            raise exceptions.NotFound()
        obj = self.get_queryset().filter(pk=lookup).first()
        if obj is None:
            raise exceptions.NotFound()
        self.check_object_permissions(self.request, obj)
        return obj

    @property
    def acting_role(self) -> str | None:
        """For tenants.services' owner rule: None for MSP staff, the tenant role else."""
        return self.principal.acting_role

"""The caller (``/me``), their personal API tokens, and the model price list."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from typing import Any, ClassVar

from django.conf import settings
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from billing.models import ModelPrice
from billing.services import model_price_create
from controlplane.api.base import ApiView, ApiViewSet
from controlplane.api.filtering import Filter
from controlplane.api.models import ApiToken
from controlplane.api.permissions import STAFF_ALL, STAFF_WRITERS, TENANT_ADMINS, TENANT_ALL
from controlplane.api.serializers.accounts import (
    ApiTokenCreatedSerializer,
    ApiTokenCreateSerializer,
    ApiTokenSerializer,
    MeSerializer,
    ModelPriceSerializer,
)
from controlplane.api.tokens import api_token_create, api_token_revoke, api_token_tenant_for
from tenants.models import Tenant


class MeView(ApiView):
    @extend_schema(
        summary="Who am I",
        description="The person the token acts for, their role, and what the token allows.",
        responses={200: MeSerializer},
        operation_id="me_retrieve",
    )
    def get(self, request: Request) -> Response:
        principal = self.principal
        token = principal.token
        membership = principal.membership
        data = {
            "id": principal.user.pk,
            "email": principal.user.email,
            "full_name": principal.user.full_name,
            "staff_role": principal.user.staff_role or None,
            "tenant": membership.tenant.slug if membership else None,
            "tenant_role": membership.role if membership else None,
            "can_write": not token.read_only
            and principal.has_role(staff=STAFF_WRITERS, tenant=TENANT_ADMINS),
            "token": {
                "id": token.pk,
                "name": token.name,
                "prefix": token.prefix,
                "read_only": token.read_only,
                "tenant": token.tenant.slug if token.tenant else None,
                "expires_at": token.expires_at,
            },
        }
        return Response(MeSerializer(data).data)


class ApiTokenViewSet(ApiViewSet):
    """The caller's own personal API tokens. Any role manages its own tokens; a new token
    is never broader than the person, or the token, that makes it."""

    serializer_class = ApiTokenSerializer
    staff_write_roles = STAFF_ALL
    tenant_write_roles = TENANT_ALL
    ordering_fields: ClassVar[list[str]] = ["created_at", "name", "expires_at"]
    filters: ClassVar[list[Filter]] = [
        Filter(
            "revoked", "revoked_at__isnull", kind="bool", description="Only (not) revoked ones."
        ),
    ]

    def get_queryset(self) -> QuerySet[ApiToken]:
        if getattr(self, "swagger_fake_view", False):
            return ApiToken.objects.none()
        return ApiToken.objects.filter(user=self.principal.user).select_related("tenant")

    def get_object(self) -> ApiToken:
        token = self.get_queryset().filter(pk=self.kwargs["pk"]).first()
        if token is None:
            raise exceptions.NotFound()
        return token

    @extend_schema(summary="List my API tokens", description="Newest first; no secrets.")
    def list(self, request: Request) -> Response:
        return self.list_response(self.get_queryset())

    @extend_schema(
        summary="Create an API token",
        description="A personal token acting as you, shown only this once (only its "
        "SHA-256 is stored). Optionally read-only, limited to one tenant, with an expiry.",
        request=ApiTokenCreateSerializer,
        responses={201: ApiTokenCreatedSerializer},
    )
    def create(self, request: Request) -> Response:
        serializer = ApiTokenCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        tenant_id = None
        if data["tenant"] is not None:
            tenant = self.principal.visible_tenants().filter(slug=data["tenant"]).first()
            if tenant is None:
                raise exceptions.ValidationError({"tenant": ["No tenant you can see has it."]})
            tenant_id = tenant.pk
        user = self.principal.user
        tenant_id = api_token_tenant_for(user=user, via=self.principal.token, tenant_id=tenant_id)
        days = data.get("expires_in_days") or settings.API_TOKEN_DEFAULT_DAYS
        token, plaintext = api_token_create(
            actor=self.actor,
            user=user,
            name=data["name"],
            read_only=data["read_only"],
            tenant_id=tenant_id,
            expires_in=dt.timedelta(days=days),
        )
        token.tenant = Tenant.objects.filter(pk=tenant_id).first() if tenant_id else None
        body = ApiTokenCreatedSerializer(token, context={"secret": plaintext}).data
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Get an API token", description="One of your tokens; no secret.")
    def retrieve(self, request: Request, **kwargs: Any) -> Response:
        return Response(self.get_serializer(self.get_object()).data)

    @extend_schema(
        summary="Revoke an API token",
        description="It stops working at once. Revoking a revoked token changes nothing.",
        request=None,
        responses={200: ApiTokenSerializer},
    )
    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, **kwargs: Any) -> Response:
        token = api_token_revoke(actor=self.actor, token=self.get_object())
        return Response(self.get_serializer(token).data)


class ModelPriceViewSet(ApiViewSet):
    """The MSP's price list of model tokens: read by everyone, written by MSP staff."""

    serializer_class = ModelPriceSerializer
    ordering = "-effective_from"
    ordering_fields: ClassVar[list[str]] = ["effective_from", "created_at", "provider", "model"]
    filters: ClassVar[list[Filter]] = [
        Filter("provider", "provider", description="Only prices of this provider."),
        Filter("model", "model", description="Only prices of this model."),
    ]

    def write_roles(self) -> tuple[Collection[str], Collection[str]]:
        return STAFF_WRITERS, frozenset()

    def get_queryset(self) -> QuerySet[ModelPrice]:
        return ModelPrice.objects.all()

    def get_object(self) -> ModelPrice:
        price = self.get_queryset().filter(pk=self.kwargs["pk"]).first()
        if price is None:
            raise exceptions.NotFound()
        return price

    @extend_schema(summary="List model prices", description="Every price, newest first.")
    def list(self, request: Request) -> Response:
        return self.list_response(self.get_queryset())

    @extend_schema(
        summary="Add a model price",
        description="MSP staff (admin, operator), with a token not limited to a tenant. "
        "Prices are never edited: a correction is a new price from a later moment.",
        responses={201: ModelPriceSerializer},
    )
    def create(self, request: Request) -> Response:
        if self.principal.token.tenant_id is not None:
            raise exceptions.PermissionDenied("This token is limited to one tenant.")
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        price = model_price_create(actor=self.actor, **serializer.validated_data)
        return Response(self.get_serializer(price).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Get a model price", description="One price, by id.")
    def retrieve(self, request: Request, **kwargs: Any) -> Response:
        return Response(self.get_serializer(self.get_object()).data)

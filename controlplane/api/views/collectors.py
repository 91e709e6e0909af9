"""Site collector keys of one site: issue (shown once), rotate, revoke."""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from controlplane.agents import collectors
from controlplane.agents.models import Site, SiteCollectorKey
from controlplane.api.base import TenantScopedViewSet
from controlplane.api.filtering import Filter
from controlplane.api.problems import Conflict
from controlplane.api.serializers.collectors import (
    CollectorKeyCreateSerializer,
    CollectorKeyIssuedSerializer,
    CollectorKeySerializer,
)

SITE_ID = "site_id"


@extend_schema(parameters=[OpenApiParameter(SITE_ID, OpenApiTypes.UUID, OpenApiParameter.PATH)])
class CollectorKeyViewSet(TenantScopedViewSet):
    """Credentials of the OpenTelemetry Collectors at one site. A collector key may send
    the spans of any agent registered at the site; each change reaches the site's edges
    at their next pull."""

    queryset_model = SiteCollectorKey
    serializer_class = CollectorKeySerializer
    filters: ClassVar[list[Filter]] = [
        Filter(
            "revoked", "revoked_at__isnull", kind="bool", description="Only (not) revoked ones."
        ),
    ]

    def site(self) -> Site:
        site_id = self.kwargs.get(SITE_ID)
        site = None
        if isinstance(site_id, uuid.UUID):
            site = Site.objects.filter(pk=site_id).first()
        if site is None:
            raise exceptions.NotFound()
        return site

    def get_queryset(self) -> QuerySet[Any]:
        queryset = super().get_queryset()
        if getattr(self, "swagger_fake_view", False):
            return queryset
        return queryset.filter(site=self.site())

    @extend_schema(summary="List a site's collector keys", description="Newest first; no secrets.")
    def list(self, request: Request, **kwargs: Any) -> Response:
        return self.list_response(self.get_queryset())

    @extend_schema(
        summary="Issue a site collector key",
        description="A new key for a collector at the site, shown only this once.",
        request=CollectorKeyCreateSerializer,
        responses={201: CollectorKeyIssuedSerializer},
    )
    def create(self, request: Request, **kwargs: Any) -> Response:
        serializer = CollectorKeyCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        key, plaintext = collectors.collector_key_issue(
            actor=self.actor, site=self.site(), **serializer.validated_data
        )
        data = CollectorKeyIssuedSerializer(key, context={"secret": plaintext}).data
        return Response(data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Get a site collector key", description="One key, by id; no secret.")
    def retrieve(self, request: Request, **kwargs: Any) -> Response:
        return Response(self.get_serializer(self.get_object()).data)

    @extend_schema(
        summary="Rotate a site collector key",
        description="A new secret (shown only this once) for the same collector; the old one "
        "stops working when the site's edges take the next configuration. 409 if revoked.",
        request=None,
        responses={200: CollectorKeyIssuedSerializer},
    )
    @action(detail=True, methods=["post"])
    def rotate(self, request: Request, **kwargs: Any) -> Response:
        key = self.get_object()
        try:
            plaintext = collectors.collector_key_rotate(actor=self.actor, key=key)
        except ValidationError as error:
            raise Conflict(" ".join(error.messages)) from None
        return Response(CollectorKeyIssuedSerializer(key, context={"secret": plaintext}).data)

    @extend_schema(
        summary="Revoke a site collector key",
        description="The key stops working at the site's next config. 409 if it already is "
        "revoked.",
        request=None,
        responses={200: CollectorKeySerializer},
    )
    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, **kwargs: Any) -> Response:
        key = self.get_object()
        if key.revoked_at is not None:
            raise Conflict("This key is already revoked.")
        collectors.collector_key_revoke(actor=self.actor, key=key)
        return Response(self.get_serializer(key).data)

"""Sites, edge nodes, devices, agents and agent keys of a tenant."""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from controlplane.agents import services
from controlplane.agents.models import Agent, AgentKey, Device, EdgeNode, Site
from controlplane.api.base import TenantScopedViewSet
from controlplane.api.filtering import Filter
from controlplane.api.problems import Conflict
from controlplane.api.serializers.registry import (
    AgentKeyIssuedSerializer,
    AgentKeySerializer,
    AgentSerializer,
    AgentUpdateSerializer,
    AgentWriteSerializer,
    DeviceRegisterSerializer,
    DeviceSerializer,
    DeviceWithKeySerializer,
    EdgeNodeCreatedSerializer,
    EdgeNodeCreateSerializer,
    EdgeNodeSerializer,
    SiteSerializer,
    SiteUpdateSerializer,
)


class SiteViewSet(TenantScopedViewSet):
    """Customer locations. Edge nodes and devices belong to a site."""

    queryset_model = Site
    serializer_class = SiteSerializer
    ordering = "name"
    ordering_fields: ClassVar[list[str]] = ["name", "created_at"]
    filters: ClassVar[list[Filter]] = [
        Filter("q", "name__icontains", description="Only sites whose name contains this."),
    ]

    @extend_schema(summary="List sites", description="The tenant's sites.")
    def list(self, request: Request, **kwargs: Any) -> Response:
        return self.list_response(self.get_queryset())

    @extend_schema(
        summary="Create a site",
        description="Add a location. Names are unique within the tenant.",
        responses={201: SiteSerializer},
    )
    def create(self, request: Request, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        site = services.site_create(
            actor=self.actor, tenant=self.tenant, **serializer.validated_data
        )
        return Response(self.get_serializer(site).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Get a site", description="One site, by id.")
    def retrieve(self, request: Request, **kwargs: Any) -> Response:
        return Response(self.get_serializer(self.get_object()).data)

    @extend_schema(
        summary="Change a site",
        description="Its name, location, or whether its collectors may register agents.",
        request=SiteUpdateSerializer,
        responses={200: SiteSerializer},
    )
    def partial_update(self, request: Request, **kwargs: Any) -> Response:
        site = self.get_object()
        serializer = SiteUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        if serializer.validated_data:
            site = services.site_update(actor=self.actor, site=site, **serializer.validated_data)
        return Response(self.get_serializer(site).data)


class EdgeNodeViewSet(TenantScopedViewSet):
    """The gateway and telemetry collector at a site, and the state of its pulls."""

    queryset_model = EdgeNode
    serializer_class = EdgeNodeSerializer
    ordering = "name"
    ordering_fields: ClassVar[list[str]] = ["name", "created_at", "last_success_at"]
    filters: ClassVar[list[Filter]] = [
        Filter("site", "site_id", kind="uuid", description="Only the nodes of this site."),
    ]

    @extend_schema(summary="List edge nodes", description="The tenant's edge nodes.")
    def list(self, request: Request, **kwargs: Any) -> Response:
        return self.list_response(self.get_queryset())

    @extend_schema(
        summary="Register an edge node",
        description="Register a node at a site. The answer holds the node token, shown "
        "only this once: configure it on the node (EDGE_NODE_TOKEN).",
        request=EdgeNodeCreateSerializer,
        responses={201: EdgeNodeCreatedSerializer},
    )
    def create(self, request: Request, **kwargs: Any) -> Response:
        serializer = EdgeNodeCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        node, token = services.edge_node_create(actor=self.actor, **serializer.validated_data)
        data = EdgeNodeCreatedSerializer(node, context={"secret": token}).data
        return Response(data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Get an edge node", description="One edge node and its pull state.")
    def retrieve(self, request: Request, **kwargs: Any) -> Response:
        return Response(self.get_serializer(self.get_object()).data)


class DeviceViewSet(TenantScopedViewSet):
    """Hardware agents run on. An agent key works only with its device's key."""

    queryset_model = Device
    serializer_class = DeviceSerializer
    ordering = "name"
    ordering_fields: ClassVar[list[str]] = ["name", "created_at"]
    filters: ClassVar[list[Filter]] = [
        Filter("site", "site_id", kind="uuid", description="Only the devices of this site."),
        Filter(
            "revoked", "revoked_at__isnull", kind="bool", description="Only (not) revoked ones."
        ),
    ]

    @extend_schema(summary="List devices", description="The tenant's devices.")
    def list(self, request: Request, **kwargs: Any) -> Response:
        return self.list_response(self.get_queryset())

    @extend_schema(
        summary="Register a device",
        description="Register hardware at a site. The answer holds the device key, shown "
        "only this once: install it on the device.",
        request=DeviceRegisterSerializer,
        responses={201: DeviceWithKeySerializer},
    )
    def create(self, request: Request, **kwargs: Any) -> Response:
        serializer = DeviceRegisterSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        device, key = services.device_register(actor=self.actor, **serializer.validated_data)
        data = DeviceWithKeySerializer(device, context={"secret": key}).data
        return Response(data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Get a device", description="One device, by id.")
    def retrieve(self, request: Request, **kwargs: Any) -> Response:
        return Response(self.get_serializer(self.get_object()).data)

    @extend_schema(
        summary="Rotate a device's key",
        description="Issue a new device key (shown only this once); the old one stops "
        "working when the site's edge nodes take the next config. 409 for a revoked device.",
        request=None,
        responses={200: DeviceWithKeySerializer},
    )
    @action(detail=True, methods=["post"], url_path="rotate-key")
    def rotate_key(self, request: Request, **kwargs: Any) -> Response:
        device = self.get_object()
        if device.revoked_at is not None:
            raise Conflict("This device is revoked.")
        key = services.device_rotate_key(actor=self.actor, device=device)
        return Response(DeviceWithKeySerializer(device, context={"secret": key}).data)

    @extend_schema(
        summary="Revoke a device",
        description="The device key and every agent key used from the device stop "
        "working. 409 if it is already revoked.",
        request=None,
        responses={200: DeviceSerializer},
    )
    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, **kwargs: Any) -> Response:
        device = self.get_object()
        if device.revoked_at is not None:
            raise Conflict("This device is already revoked.")
        services.device_revoke(actor=self.actor, device=device)
        return Response(self.get_serializer(device).data)


class AgentViewSet(TenantScopedViewSet):
    """The tenant's AI agents."""

    queryset_model = Agent
    serializer_class = AgentSerializer
    ordering = "name"
    ordering_fields: ClassVar[list[str]] = ["name", "created_at"]
    filters: ClassVar[list[Filter]] = [
        Filter("status", "status", choices=Agent.Status.values),
        Filter("department", "department_id", kind="uuid", description="Of this department."),
        Filter("device", "device_id", kind="uuid", description="Running on this device."),
        Filter("q", "name__icontains", description="Only agents whose name contains this."),
    ]

    @extend_schema(summary="List agents", description="The tenant's agents.")
    def list(self, request: Request, **kwargs: Any) -> Response:
        return self.list_response(self.get_queryset())

    @extend_schema(
        summary="Register an agent",
        description="Register an agent, optionally on a device, in a department, with an "
        "owner. Then issue it a key (POST .../agents/{id}/keys).",
        request=AgentWriteSerializer,
        responses={201: AgentSerializer},
    )
    def create(self, request: Request, **kwargs: Any) -> Response:
        serializer = AgentWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        agent = services.agent_create(
            actor=self.actor, tenant=self.tenant, **serializer.validated_data
        )
        return Response(self.get_serializer(agent).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Get an agent", description="One agent, by id.")
    def retrieve(self, request: Request, **kwargs: Any) -> Response:
        return Response(self.get_serializer(self.get_object()).data)

    @extend_schema(
        summary="Change an agent",
        description="Change any field; `status: disabled` stops its keys from working.",
        request=AgentUpdateSerializer,
        responses={200: AgentSerializer},
    )
    def partial_update(self, request: Request, **kwargs: Any) -> Response:
        agent = self.get_object()
        serializer = AgentUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        if serializer.validated_data:
            agent = services.agent_update(
                actor=self.actor, agent=agent, **serializer.validated_data
            )
        return Response(self.get_serializer(agent).data)


AGENT_ID = "agent_id"


@extend_schema(parameters=[OpenApiParameter(AGENT_ID, OpenApiTypes.UUID, OpenApiParameter.PATH)])
class AgentKeyViewSet(TenantScopedViewSet):
    """Keys of one agent. A key works only from the agent's device, with its key."""

    queryset_model = AgentKey
    serializer_class = AgentKeySerializer
    filters: ClassVar[list[Filter]] = [
        Filter(
            "revoked", "revoked_at__isnull", kind="bool", description="Only (not) revoked ones."
        ),
    ]

    def agent(self) -> Agent:
        agent_id = self.kwargs.get(AGENT_ID)
        agent = None
        if isinstance(agent_id, uuid.UUID):
            agent = Agent.objects.filter(pk=agent_id).first()
        if agent is None:
            raise exceptions.NotFound()
        return agent

    def get_queryset(self) -> QuerySet[Any]:
        queryset = super().get_queryset()
        if getattr(self, "swagger_fake_view", False):
            return queryset
        return queryset.filter(agent=self.agent())

    @extend_schema(summary="List an agent's keys", description="Newest first; no secrets.")
    def list(self, request: Request, **kwargs: Any) -> Response:
        return self.list_response(self.get_queryset())

    @extend_schema(
        summary="Issue an agent key",
        description="A new key for the agent, shown only this once. Earlier keys keep "
        "working until revoked.",
        request=None,
        responses={201: AgentKeyIssuedSerializer},
    )
    def create(self, request: Request, **kwargs: Any) -> Response:
        key, plaintext = services.agent_key_issue(actor=self.actor, agent=self.agent())
        data = AgentKeyIssuedSerializer(key, context={"secret": plaintext}).data
        return Response(data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Get an agent key", description="One key, by id; no secret.")
    def retrieve(self, request: Request, **kwargs: Any) -> Response:
        return Response(self.get_serializer(self.get_object()).data)

    @extend_schema(
        summary="Revoke an agent key",
        description="The key stops working at the site's next config. 409 if it already is "
        "revoked.",
        request=None,
        responses={200: AgentKeySerializer},
    )
    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, **kwargs: Any) -> Response:
        key = self.get_object()
        if key.revoked_at is not None:
            raise Conflict("This key is already revoked.")
        services.agent_key_revoke(actor=self.actor, key=key)
        return Response(self.get_serializer(key).data)

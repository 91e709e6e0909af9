"""The gateway's control plane of a tenant: providers and their credentials, routes, the
policy, role defaults, budgets, and the config versions published to its edges.

Every write goes through controlplane.gateway.services, which audits it (never with a
secret) and raises the config version of the sites whose edges must learn of it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from django.db.models import Model
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from controlplane.api.base import TenantScopedViewSet
from controlplane.api.filtering import Filter
from controlplane.api.problems import Conflict
from controlplane.api.serializers.gateway import (
    BudgetCreateSerializer,
    BudgetSerializer,
    BudgetUpdateSerializer,
    ConfigChangeSerializer,
    CredentialSerializer,
    CredentialWriteSerializer,
    PolicySerializer,
    ProviderCreateSerializer,
    ProviderSerializer,
    ProviderUpdateSerializer,
    RoleDefaultSerializer,
    RoleDefaultUpdateSerializer,
    RouteSerializer,
)
from controlplane.gateway import services
from controlplane.gateway.models import (
    Budget,
    ConfigChange,
    Policy,
    Provider,
    RoleDefault,
    Route,
)
from controlplane.gateway.selectors import (
    BudgetStatus,
    credential_info,
    period_end,
    period_start,
    scope_spend,
    spend_by_agent,
)

MSP_WIDE = "This is an MSP-wide row, offered to every tenant: only the MSP changes it."


def _valid(serializer_class: type[Any], data: Any, **kwargs: Any) -> dict[str, Any]:
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _own(obj: Model) -> Any:
    """``obj`` if it is the tenant's own (not MSP-wide); 403 otherwise."""
    if getattr(obj, "tenant_id", None) is None:
        raise exceptions.PermissionDenied(MSP_WIDE)
    return obj


class ProviderViewSet(TenantScopedViewSet):
    """Model endpoints: the tenant's own, and the MSP-wide ones (read-only here)."""

    queryset_model = Provider
    serializer_class = ProviderSerializer
    ordering = "name"
    ordering_fields: ClassVar[list[str]] = ["name", "created_at"]
    filters: ClassVar[list[Filter]] = [
        Filter("kind", "kind", choices=Provider.Kind.values),
        Filter("enabled", "enabled", kind="bool"),
        Filter(
            "own",
            "tenant__isnull",
            kind="bool",
            description="true: only the tenant's own; false: only the MSP-wide ones.",
        ),
    ]

    def represent(self, providers: Iterable[Provider], *, many: bool = False) -> Any:
        items = list(providers)
        context = {**self.get_serializer_context(), "credentials": credential_info(items)}
        return ProviderSerializer(items if many else items[0], many=many, context=context).data

    @extend_schema(
        summary="List providers",
        description="The tenant's own providers and the MSP-wide ones (`msp_wide`), with "
        "what may be shown of their credentials (never the key).",
    )
    def list(self, request: Request, **kwargs: Any) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(self.represent(page or [], many=True))

    @extend_schema(
        summary="Add a provider",
        description="One of the tenant's own (its Azure OpenAI resource, say). Then set its "
        "API key (POST .../providers/{id}/credential).",
        request=ProviderCreateSerializer,
        responses={201: ProviderSerializer},
    )
    def create(self, request: Request, **kwargs: Any) -> Response:
        data = _valid(ProviderCreateSerializer, request.data)
        self._staff_only_on_premises(data)
        provider = services.provider_create(actor=self.actor, tenant=self.tenant, **data)
        return Response(self.represent([provider]), status=status.HTTP_201_CREATED)

    def _staff_only_on_premises(self, data: dict[str, Any]) -> None:
        if data.get("on_premises") and not self.principal.is_staff:
            raise exceptions.PermissionDenied("Only MSP staff can mark a provider on-premises.")

    @extend_schema(summary="Get a provider", description="One provider, by id.")
    def retrieve(self, request: Request, **kwargs: Any) -> Response:
        return Response(self.represent([self.get_object()]))

    @extend_schema(
        summary="Change a provider",
        description="Kind, base URL, models, enabled (the name is the catalog key: it does "
        "not change). 403 for an MSP-wide provider.",
        request=ProviderUpdateSerializer,
        responses={200: ProviderSerializer},
    )
    def partial_update(self, request: Request, **kwargs: Any) -> Response:
        provider = _own(self.get_object())
        changes = _valid(ProviderUpdateSerializer, request.data)
        self._staff_only_on_premises(changes)
        if changes:
            provider = services.provider_update(actor=self.actor, provider=provider, **changes)
        return Response(self.represent([provider]))

    @extend_schema(
        summary="Set a provider's API key",
        description="The key is write-only: stored encrypted, never returned; the answer "
        "shows its last four characters, key id and age. 409 if the provider has a key "
        "already (rotate it). 403 for an MSP-wide provider.",
        request=CredentialWriteSerializer,
        responses={201: CredentialSerializer},
    )
    @action(detail=True, methods=["post"], url_path="credential")
    def credential(self, request: Request, **kwargs: Any) -> Response:
        provider = _own(self.get_object())
        secret = _valid(CredentialWriteSerializer, request.data)["secret"]
        if credential_info([provider]):
            raise Conflict("The provider has an API key; rotate it instead.")
        info = services.credential_set(actor=self.actor, provider=provider, secret=secret)
        return Response(CredentialSerializer(info).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Rotate a provider's API key",
        description="Replace the key (write-only, as when set). Edges use the new key from "
        "their next config; revoke the old one at the provider once every edge of the "
        "tenant's sites applied it. 409 if no key is set yet.",
        request=CredentialWriteSerializer,
        responses={200: CredentialSerializer},
    )
    @action(detail=True, methods=["post"], url_path="credential/rotate")
    def rotate_credential(self, request: Request, **kwargs: Any) -> Response:
        provider = _own(self.get_object())
        secret = _valid(CredentialWriteSerializer, request.data)["secret"]
        if not credential_info([provider]):
            raise Conflict("The provider has no API key yet; set one first.")
        info = services.credential_rotate(actor=self.actor, provider=provider, secret=secret)
        return Response(CredentialSerializer(info).data)


class RouteViewSet(TenantScopedViewSet):
    """Which providers serve a tier and model: the tenant's own routes, and the MSP-wide
    ones (read-only here). A tenant's route wins over an MSP-wide one for the same match."""

    queryset_model = Route
    serializer_class = RouteSerializer
    ordering = "name"
    ordering_fields: ClassVar[list[str]] = ["name", "created_at"]
    filters: ClassVar[list[Filter]] = [
        Filter(
            "own",
            "tenant__isnull",
            kind="bool",
            description="true: only the tenant's own; false: only the MSP-wide ones.",
        ),
    ]

    @extend_schema(summary="List routes", description="The tenant's and the MSP-wide routes.")
    def list(self, request: Request, **kwargs: Any) -> Response:
        return self.list_response(self.get_queryset())

    @extend_schema(
        summary="Create a route",
        description="Candidates may name the tenant's own and MSP-wide providers; one route "
        "per tier and model.",
        responses={201: RouteSerializer},
    )
    def create(self, request: Request, **kwargs: Any) -> Response:
        data = _valid(RouteSerializer, request.data)
        route = services.route_create(actor=self.actor, tenant=self.tenant, **_plain(data))
        return Response(self.get_serializer(route).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Get a route", description="One route, by id.")
    def retrieve(self, request: Request, **kwargs: Any) -> Response:
        return Response(self.get_serializer(self.get_object()).data)

    @extend_schema(summary="Change a route", description="Any field. 403 for an MSP-wide route.")
    def partial_update(self, request: Request, **kwargs: Any) -> Response:
        route = _own(self.get_object())
        changes = _valid(RouteSerializer, request.data, partial=True)
        if changes:
            route = services.route_update(actor=self.actor, route=route, **_plain(changes))
        return Response(self.get_serializer(route).data)

    @extend_schema(
        summary="Delete a route",
        description="403 for an MSP-wide route.",
        responses={204: None},
    )
    def destroy(self, request: Request, **kwargs: Any) -> Response:
        services.route_delete(actor=self.actor, route=_own(self.get_object()))
        return Response(status=status.HTTP_204_NO_CONTENT)


def _plain(data: dict[str, Any]) -> dict[str, Any]:
    if "candidates" in data:
        data["candidates"] = [
            {**dict(c), "provider_id": str(c["provider_id"])} for c in data["candidates"]
        ]
    return data


class PolicyViewSet(TenantScopedViewSet):
    """The tenant's one policy, at ``/tenants/{tenant_slug}/policy``."""

    queryset_model = Policy
    serializer_class = PolicySerializer

    def current(self) -> Policy:
        return Policy.objects.filter(tenant=self.tenant).first() or Policy(tenant=self.tenant)

    @extend_schema(
        summary="Get the policy",
        description="Prompt-injection and PII handling and which data classes each tool "
        "touches. A tenant that never set one gets the defaults (`updated_at` null).",
    )
    def retrieve(self, request: Request, **kwargs: Any) -> Response:
        return Response(self.get_serializer(self.current()).data)

    @extend_schema(
        summary="Change the policy",
        description="Set any fields; the others keep their value. Edges apply it from their "
        "next config.",
    )
    def partial_update(self, request: Request, **kwargs: Any) -> Response:
        changes = _valid(PolicySerializer, request.data, partial=True)
        policy = services.policy_set(actor=self.actor, tenant=self.tenant, **changes)
        return Response(self.get_serializer(policy).data)


class RoleDefaultViewSet(TenantScopedViewSet):
    """What agents of one role may do unless the agent says otherwise."""

    queryset_model = RoleDefault
    serializer_class = RoleDefaultSerializer
    ordering = "role"
    ordering_fields: ClassVar[list[str]] = ["role", "updated_at"]
    filters: ClassVar[list[Filter]] = [Filter("role", "role")]

    @extend_schema(summary="List role defaults", description="One per agent role.")
    def list(self, request: Request, **kwargs: Any) -> Response:
        return self.list_response(self.get_queryset())

    @extend_schema(
        summary="Set a role's defaults",
        description="Allowed models and tools, data classes, tier and operating window of "
        "agents with this `role`. One per role (400 on `role` if it exists: change it).",
        responses={201: RoleDefaultSerializer},
    )
    def create(self, request: Request, **kwargs: Any) -> Response:
        data = _valid(RoleDefaultSerializer, request.data)
        role = data.pop("role").strip()
        if RoleDefault.objects.filter(role=role).exists():
            raise exceptions.ValidationError({"role": ["This role has defaults; change them."]})
        default = services.role_default_set(actor=self.actor, tenant=self.tenant, role=role, **data)
        return Response(self.get_serializer(default).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Get a role's defaults", description="By id.")
    def retrieve(self, request: Request, **kwargs: Any) -> Response:
        return Response(self.get_serializer(self.get_object()).data)

    @extend_schema(
        summary="Change a role's defaults",
        description="Any field but the role.",
        request=RoleDefaultUpdateSerializer,
        responses={200: RoleDefaultSerializer},
    )
    def partial_update(self, request: Request, **kwargs: Any) -> Response:
        default = self.get_object()
        changes = _valid(RoleDefaultUpdateSerializer, request.data, partial=True)
        if changes:
            default = services.role_default_set(
                actor=self.actor, tenant=self.tenant, role=default.role, **changes
            )
        return Response(self.get_serializer(default).data)

    @extend_schema(
        summary="Delete a role's defaults",
        description="Agents of the role keep only their own settings.",
        responses={204: None},
    )
    def destroy(self, request: Request, **kwargs: Any) -> Response:
        services.role_default_delete(actor=self.actor, role_default=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class BudgetViewSet(TenantScopedViewSet):
    """Spending limits per day or month (UTC), hard or soft."""

    queryset_model = Budget
    serializer_class = BudgetSerializer
    ordering = "created_at"
    ordering_fields: ClassVar[list[str]] = ["created_at", "name"]
    filters: ClassVar[list[Filter]] = [
        Filter("scope", "scope", choices=Budget.Scope.values),
        Filter("scope_id", "scope_id", kind="uuid", description="Of this agent or department."),
        Filter("kind", "kind", choices=Budget.Kind.values),
    ]

    def represent(self, budgets: Iterable[Budget], *, many: bool = False) -> Any:
        now = timezone.now()
        items = list(budgets)
        by_period: dict[Any, Any] = {}  # one ledger read per period (day, month)
        statuses = {}
        for budget in items:
            start = period_start(budget.period, now)
            if start not in by_period:
                end = period_end(budget.period, start)
                by_period[start] = spend_by_agent(start=start, end=end)
            spend = scope_spend(budget, by_period[start])
            statuses[budget.pk] = BudgetStatus(budget, start, spend)
        context = {**self.get_serializer_context(), "status": statuses}
        return BudgetSerializer(items if many else items[0], many=many, context=context).data

    @extend_schema(
        summary="List budgets",
        description="With each one's spend in its current period, from the ledger.",
    )
    def list(self, request: Request, **kwargs: Any) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(self.represent(page or [], many=True))

    @extend_schema(
        summary="Create a budget",
        description="A hard or soft limit per day or month on an agent, a department or the "
        "tenant; one of each kind and period per scope.",
        request=BudgetCreateSerializer,
        responses={201: BudgetSerializer},
    )
    def create(self, request: Request, **kwargs: Any) -> Response:
        data = _valid(BudgetCreateSerializer, request.data)
        budget = services.budget_create(actor=self.actor, tenant=self.tenant, **data)
        return Response(self.represent([budget]), status=status.HTTP_201_CREATED)

    @extend_schema(summary="Get a budget", description="With its current period's spend.")
    def retrieve(self, request: Request, **kwargs: Any) -> Response:
        return Response(self.represent([self.get_object()]))

    @extend_schema(
        summary="Change a budget",
        description="Its name or limit. A lower hard limit applies to new allowances; what "
        "edges were granted in the current period stands.",
        request=BudgetUpdateSerializer,
        responses={200: BudgetSerializer},
    )
    def partial_update(self, request: Request, **kwargs: Any) -> Response:
        budget = self.get_object()
        changes = _valid(BudgetUpdateSerializer, request.data)
        if changes:
            budget = services.budget_update(actor=self.actor, budget=budget, **changes)
        return Response(self.represent([budget]))

    @extend_schema(summary="Delete a budget", responses={204: None})
    def destroy(self, request: Request, **kwargs: Any) -> Response:
        services.budget_delete(actor=self.actor, budget=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class ConfigChangeViewSet(TenantScopedViewSet):
    """The config versions published to the tenant's edge nodes, newest first."""

    queryset_model = ConfigChange
    serializer_class = ConfigChangeSerializer
    ordering = "-created_at"
    ordering_fields: ClassVar[list[str]] = ["created_at", "version"]
    filters: ClassVar[list[Filter]] = [
        Filter("site", "site_id", kind="uuid", description="Only the versions of this site."),
    ]

    @extend_schema(
        summary="List published config versions",
        description="Each with a summary and the diff against the previous version.",
    )
    def list(self, request: Request, **kwargs: Any) -> Response:
        return self.list_response(self.get_queryset())

    @extend_schema(summary="Get a published config version", description="By id.")
    def retrieve(self, request: Request, **kwargs: Any) -> Response:
        return Response(self.get_serializer(self.get_object()).data)

"""Behavioral security of a tenant: alerts, incidents, the change calendar, quarantines
and settings (docs/security.md). Members read; owners, admins and MSP staff (admin,
operator) triage and change."""

from __future__ import annotations

from typing import Any, ClassVar

from django.core.exceptions import ValidationError
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from controlplane.accounts.models import User
from controlplane.api.base import TenantScopedViewSet
from controlplane.api.filtering import Filter
from controlplane.api.problems import Conflict
from controlplane.api.serializers.security import (
    EXAMPLE_ALERT_ID,
    EXAMPLE_INCIDENT_ID,
    AlertDetailSerializer,
    AlertExportSerializer,
    AlertSerializer,
    BulkStateChangeSerializer,
    CalendarImportSerializer,
    IncidentDetailSerializer,
    IncidentSerializer,
    MaintenanceWindowSerializer,
    QuarantineSerializer,
    SecuritySettingsSerializer,
    StateChangeSerializer,
)
from controlplane.core.tenancy import all_tenants_context
from controlplane.security import alerts as alert_services
from controlplane.security import quarantine as quarantine_services
from controlplane.security import selectors, services
from controlplane.security.models import (
    Alert,
    Incident,
    Kind,
    MaintenanceWindow,
    Quarantine,
    SecuritySettings,
    Severity,
    State,
)
from tenants.models import Membership

EXPORT_EXAMPLE = {
    "tenant": "acme",
    "alert_id": EXAMPLE_ALERT_ID,
    "kind": "volume",
    "severity": "high",
    "state": "resolved",
    "title": "returned rows 14.2x normal",
    "agent_ids": ["0193f0a2-6c1e-7b3a-9f10-2b7c1d5e8a06"],
    "agent_names": ["invoice-triage"],
    "started_at": "2026-11-26T09:10:00+00:00",
    "ended_at": "2026-11-26T09:24:00+00:00",
    "raised_at": "2026-11-26T09:21:03+00:00",
    "incident_id": EXAMPLE_INCIDENT_ID,
}
EXPORT_CSV_EXAMPLE = (
    ",".join(EXPORT_EXAMPLE)
    + "\r\n"
    + ",".join(
        " ".join(value) if isinstance(value, list) else str(value)
        for value in EXPORT_EXAMPLE.values()
    )
    + "\r\n"
)
AGENT_FILTER = Filter("agent", "agent_ids", kind="uuid")
AGENT_PARAMETER = OpenApiParameter(
    "agent", OpenApiTypes.UUID, description="Only the alerts that name this agent."
)


def _valid(serializer_class: type[Any], data: Any) -> dict[str, Any]:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class _Triage(TenantScopedViewSet):
    """State changes shared by alerts and incidents."""

    def _assignee(self, email: str | None) -> User | None:
        """Staff, or a member of this tenant; anyone else is a 400 naming the field."""
        if not email:
            return None
        with all_tenants_context():
            user = User.objects.filter(email__iexact=email).first()
            member = user is not None and (
                user.is_msp_staff
                or Membership.unscoped.filter(user=user, tenant=self.tenant).exists()
            )
        if not member:
            raise exceptions.ValidationError(
                {"assignee": ["Give a member of this tenant or MSP staff."]}
            )
        return user

    def _transition(self, target: Alert | Incident, data: dict[str, Any]) -> Any:
        changes = {
            "actor": self.actor,
            "state": data["state"],
            "note": data.get("note", ""),
            "assignee": self._assignee(data.get("assignee")),
        }
        try:
            if isinstance(target, Alert):
                return alert_services.alert_transition(alert=target, **changes)
            return alert_services.incident_transition(incident=target, **changes)
        except alert_services.TransitionError as exc:
            raise Conflict(str(exc)) from None


class AlertViewSet(_Triage):
    """Behavioral alerts of the tenant, newest first."""

    queryset_model = Alert
    serializer_class = AlertSerializer
    ordering = "-raised_at"
    ordering_fields: ClassVar[list[str]] = ["raised_at", "started_at", "severity"]
    filters: ClassVar[list[Filter]] = [
        Filter("state", "state", choices=State.values),
        Filter("kind", "kind", choices=Kind.values),
        Filter("severity", "severity", choices=Severity.values),
        Filter("incident", "incident_id", kind="uuid"),
    ]

    def filtered(self) -> Any:
        queryset = self.filter_queryset(self.get_queryset())
        agent = self.request.query_params.get("agent")
        if agent:
            queryset = queryset.filter(agent_ids__contains=[AGENT_FILTER.parse(agent)])
        return queryset

    def _context(self, alerts: list[Alert]) -> dict[str, Any]:
        return {**super().get_serializer_context(), "agent_names": selectors.agent_names(alerts)}

    @extend_schema(
        summary="List alerts",
        description="Filter by state, kind, severity, incident or agent. Each alert has its "
        "evidence: baseline against observed numbers, first-seen items, sample traces.",
        parameters=[AGENT_PARAMETER],
    )
    def list(self, request: Request, **kwargs: Any) -> Response:
        page = self.paginate_queryset(self.filtered()) or []
        return self.get_paginated_response(
            AlertSerializer(page, many=True, context=self._context(page)).data
        )

    @extend_schema(
        summary="Get an alert",
        description="With its notes and state changes.",
        responses=AlertDetailSerializer,
    )
    def retrieve(self, request: Request, **kwargs: Any) -> Response:
        alert = self.get_object()
        return Response(AlertDetailSerializer(alert, context=self._context([alert])).data)

    @extend_schema(
        summary="Change an alert's state",
        description="open → acknowledged → resolved or false_positive (and back to open). "
        "A false positive teaches the agent's baseline. 409 for a change the lifecycle "
        "does not allow.",
        request=StateChangeSerializer,
        responses=AlertDetailSerializer,
    )
    @action(detail=True, methods=["post"], url_path="state")
    def state(self, request: Request, **kwargs: Any) -> Response:
        alert = self._transition(self.get_object(), _valid(StateChangeSerializer, request.data))
        return Response(AlertDetailSerializer(alert, context=self._context([alert])).data)

    @extend_schema(
        summary="Change the state of many alerts",
        description="All or nothing: an unknown id is a 404, a change the lifecycle does "
        "not allow a 409, and then nothing changed.",
        request=BulkStateChangeSerializer,
        responses=AlertSerializer(many=True),
    )
    @action(detail=False, methods=["post"], url_path="bulk-state")
    def bulk_state(self, request: Request, **kwargs: Any) -> Response:
        from django.db import transaction

        data = _valid(BulkStateChangeSerializer, request.data)
        alerts = list(self.get_queryset().filter(pk__in=data["ids"]))
        if len(alerts) != len(set(data["ids"])):
            raise exceptions.NotFound()
        with transaction.atomic():
            changed = [self._transition(alert, data) for alert in alerts]
        return Response(AlertSerializer(changed, many=True, context=self._context(changed)).data)

    @extend_schema(
        summary="Export alerts",
        description="The filtered alerts as CSV or JSON: tenant slug, agent names and ids, "
        "kind, severity, start, end, raised_at.",
        parameters=[
            OpenApiParameter("as", OpenApiTypes.STR, enum=["csv", "json"]),
            AGENT_PARAMETER,
        ],
        responses={
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR,
                description="One row per alert; agent ids and names space-separated.",
                examples=[
                    OpenApiExample(
                        "CSV",
                        value=EXPORT_CSV_EXAMPLE,
                        media_type="text/csv",
                    )
                ],
            ),
            (200, "application/json"): OpenApiResponse(
                AlertExportSerializer(many=True),
                examples=[
                    OpenApiExample("JSON", value=[EXPORT_EXAMPLE], media_type="application/json")
                ],
            ),
        },
    )
    @action(detail=False, methods=["get"], url_path="export", pagination_class=None)
    def export(self, request: Request, **kwargs: Any) -> HttpResponse:
        form = request.query_params.get("as", "csv")
        if form not in ("csv", "json"):
            raise exceptions.ValidationError({"as": ["Give csv or json."]})
        rows = selectors.export_rows(self.filtered().order_by("raised_at"))
        body = selectors.export_csv(rows) if form == "csv" else selectors.export_json(rows)
        response = HttpResponse(
            body, content_type="text/csv" if form == "csv" else "application/json"
        )
        response["Content-Disposition"] = f'attachment; filename="{self.tenant.slug}-alerts.{form}"'
        return response


class IncidentViewSet(_Triage):
    """Incidents: related alerts handled as one."""

    queryset_model = Incident
    serializer_class = IncidentSerializer
    ordering = "-opened_at"
    ordering_fields: ClassVar[list[str]] = ["opened_at", "started_at", "severity"]
    filters: ClassVar[list[Filter]] = [
        Filter("state", "state", choices=State.values),
        Filter("severity", "severity", choices=Severity.values),
    ]

    @extend_schema(summary="List incidents", description="Filter by state or severity.")
    def list(self, request: Request, **kwargs: Any) -> Response:
        return self.list_response(self.get_queryset())

    @extend_schema(
        summary="Get an incident",
        description="With its alerts and timeline.",
        responses=IncidentDetailSerializer,
    )
    def retrieve(self, request: Request, **kwargs: Any) -> Response:
        incident = self.get_object()
        alerts = list(incident.alerts.all())
        context = {**self.get_serializer_context(), "agent_names": selectors.agent_names(alerts)}
        return Response(IncidentDetailSerializer(incident, context=context).data)

    @extend_schema(
        summary="Change an incident's state",
        description="As for alerts; acknowledging or closing an incident does the same to "
        "its alerts that are still open.",
        request=StateChangeSerializer,
        responses=IncidentDetailSerializer,
    )
    @action(detail=True, methods=["post"], url_path="state")
    def state(self, request: Request, **kwargs: Any) -> Response:
        incident = self._transition(self.get_object(), _valid(StateChangeSerializer, request.data))
        return Response(
            IncidentDetailSerializer(incident, context=self.get_serializer_context()).data
        )


class MaintenanceWindowViewSet(TenantScopedViewSet):
    """The change calendar: anomalies inside a window are not raised."""

    queryset_model = MaintenanceWindow
    serializer_class = MaintenanceWindowSerializer
    ordering = "starts_at"
    ordering_fields: ClassVar[list[str]] = ["starts_at"]

    @extend_schema(summary="List maintenance windows", description="Soonest first.")
    def list(self, request: Request, **kwargs: Any) -> Response:
        return self.list_response(self.get_queryset())

    @extend_schema(
        summary="Add a maintenance window",
        description="Anomalies of the listed agents and kinds (empty: all) inside it are not "
        "raised.",
        request=MaintenanceWindowSerializer,
        responses={201: MaintenanceWindowSerializer},
    )
    def create(self, request: Request, **kwargs: Any) -> Response:
        data = _valid(MaintenanceWindowSerializer, request.data)
        window = services.maintenance_window_create(actor=self.actor, tenant=self.tenant, **data)
        return Response(MaintenanceWindowSerializer(window).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Get a maintenance window", description="One window of the calendar.")
    def retrieve(self, request: Request, **kwargs: Any) -> Response:
        return Response(self.get_serializer(self.get_object()).data)

    @extend_schema(
        summary="Delete a maintenance window",
        description="Anomalies in its minutes are raised again from the next detector run on.",
    )
    def destroy(self, request: Request, **kwargs: Any) -> Response:
        services.maintenance_window_delete(actor=self.actor, window=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Import a change calendar",
        description="All windows or none; an error names the entry and field.",
        request=CalendarImportSerializer,
        responses={201: MaintenanceWindowSerializer(many=True)},
    )
    @action(detail=False, methods=["post"], url_path="import")
    def import_calendar(self, request: Request, **kwargs: Any) -> Response:
        import json

        data = _valid(CalendarImportSerializer, request.data)
        windows = services.calendar_load(
            actor=self.actor, tenant=self.tenant, document=json.dumps(data["windows"])
        )
        return Response(
            MaintenanceWindowSerializer(windows, many=True).data, status=status.HTTP_201_CREATED
        )


class QuarantineViewSet(TenantScopedViewSet):
    """Agents, devices or the whole tenant refused at every edge of the tenant."""

    queryset_model = Quarantine
    serializer_class = QuarantineSerializer
    ordering = "-started_at"
    ordering_fields: ClassVar[list[str]] = ["started_at"]
    filters: ClassVar[list[Filter]] = [
        Filter("active", "released_at__isnull", kind="bool", description="true: not released."),
        Filter("scope", "scope", choices=Quarantine.Scope.values),
    ]

    @extend_schema(
        summary="List quarantines",
        description="Newest first; `active=true` for those not released.",
    )
    def list(self, request: Request, **kwargs: Any) -> Response:
        return self.list_response(self.get_queryset())

    @extend_schema(
        summary="Quarantine an agent, a device or the tenant",
        description="Every edge of the tenant gets a new bundle at once and refuses the "
        "target's model calls (403 `security.quarantined`).",
        request=QuarantineSerializer,
        responses={201: QuarantineSerializer},
    )
    def create(self, request: Request, **kwargs: Any) -> Response:
        data = _valid(QuarantineSerializer, request.data)
        alert = data.pop("alert", None)
        quarantine = quarantine_services.quarantine_start(
            actor=self.actor, tenant=self.tenant, alert=alert, **data
        )
        return Response(QuarantineSerializer(quarantine).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Get a quarantine", description="Who started it, why, and its release.")
    def retrieve(self, request: Request, **kwargs: Any) -> Response:
        return Response(self.get_serializer(self.get_object()).data)

    @extend_schema(
        summary="Release a quarantine",
        description="Every edge of the tenant gets a new bundle at once and accepts the "
        "target again. 409 when it was released already.",
        request=None,
        responses=QuarantineSerializer,
    )
    @action(detail=True, methods=["post"], url_path="release")
    def release(self, request: Request, **kwargs: Any) -> Response:
        try:
            quarantine = quarantine_services.quarantine_release(
                actor=self.actor, quarantine=self.get_object()
            )
        except ValidationError as exc:
            raise Conflict("; ".join(exc.messages)) from None
        return Response(QuarantineSerializer(quarantine).data)


class SecuritySettingsViewSet(TenantScopedViewSet):
    """The tenant's sensitivity, learning period, auto-quarantine and notifications."""

    queryset_model = SecuritySettings
    serializer_class = SecuritySettingsSerializer

    @extend_schema(
        summary="Get security settings",
        description="Sensitivity, learning period, auto-quarantine and notifications; the "
        "webhook secret is never returned.",
    )
    def retrieve(self, request: Request, **kwargs: Any) -> Response:
        return Response(SecuritySettingsSerializer(services.settings_for(self.tenant.pk)).data)

    @extend_schema(
        summary="Change security settings",
        description="Only the fields given change. Owners, admins and MSP staff.",
        request=SecuritySettingsSerializer,
    )
    def partial_update(self, request: Request, **kwargs: Any) -> Response:
        serializer = SecuritySettingsSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        secret = data.pop("webhook_secret", None)
        updated = services.security_settings_update(
            actor=self.actor, tenant=self.tenant, webhook_secret=secret, **data
        )
        return Response(SecuritySettingsSerializer(updated).data)

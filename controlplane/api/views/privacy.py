"""Retention and privacy of a tenant (docs/privacy.md): the retention policy, legal
holds, retention runs with what each removed, and data-subject requests.

The tenant's owners and admins read and change them; MSP staff read, and the admin and
operator staff roles change them. An export holds a person's data: only those who may
change things download it (the auditor staff role does not).
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from compliance.privacy import selectors, services
from compliance.privacy.export import export_bytes
from compliance.privacy.models import DataSubjectRequest, LegalHold, RetentionPolicy, RetentionRun
from controlplane.api.base import TenantScopedViewSet
from controlplane.api.filtering import Filter
from controlplane.api.permissions import STAFF_WRITERS, TENANT_ADMINS
from controlplane.api.problems import Conflict
from controlplane.api.serializers.privacy import (
    DataSubjectRequestCreateSerializer,
    DataSubjectRequestSerializer,
    EraseSerializer,
    LegalHoldSerializer,
    RetentionPolicySerializer,
    RetentionPolicySetSerializer,
    RetentionRunSerializer,
    RetentionStateSerializer,
    VerifySerializer,
)


def _valid(serializer_class: type[Any], data: Any) -> dict[str, Any]:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class _Privacy(TenantScopedViewSet):
    tenant_read_roles = TENANT_ADMINS

    def call(self, function: Any, **kwargs: Any) -> Any:
        """A service call, its conflicts as 409 (validation errors are 400 already)."""
        try:
            return function(actor=self.actor, **kwargs)
        except services.PrivacyConflict as error:
            raise Conflict(str(error)) from None


class RetentionPolicyViewSet(_Privacy):
    """The tenant's retention, at ``/tenants/{tenant_slug}/privacy/retention-policy``."""

    queryset_model = RetentionPolicy
    serializer_class = RetentionStateSerializer

    def _state(self) -> dict[str, Any]:
        in_force = selectors.effective_policy(self.tenant, timezone.now().date())
        return {
            "in_force": {kind: effective.as_dict() for kind, effective in in_force.items()},
            "history": RetentionPolicySerializer(
                selectors.policy_history(self.tenant), many=True
            ).data,
        }

    @extend_schema(
        summary="Get the retention policy",
        description="Per kind of data, how many days it is kept now and whether the "
        "tenant's policy, the MSP's default or the built-in says so; and every policy the "
        "tenant set (effective-dated).",
    )
    def retrieve(self, request: Request, **kwargs: Any) -> Response:
        return Response(RetentionStateSerializer(self._state()).data)

    @extend_schema(
        summary="Set the retention of one kind of data",
        description="From `effective_from` (today or later) on; the next retention run "
        "applies it. One per kind and day: setting the same day again changes it. The "
        "ledger keeps at least 62 days (invoices are rated from it).",
        request=RetentionPolicySetSerializer,
        responses={201: RetentionStateSerializer},
    )
    def create(self, request: Request, **kwargs: Any) -> Response:
        data = _valid(RetentionPolicySetSerializer, request.data)
        self.call(services.retention_policy_set, tenant=self.tenant, **data)
        return Response(
            RetentionStateSerializer(self._state()).data, status=status.HTTP_201_CREATED
        )


class LegalHoldViewSet(_Privacy):
    """Legal holds: while one is active, what it covers is neither removed by retention
    nor erased by a data-subject request."""

    queryset_model = LegalHold
    serializer_class = LegalHoldSerializer
    ordering = "-placed_at"
    ordering_fields: ClassVar[list[str]] = ["placed_at"]
    filters: ClassVar[list[Filter]] = [
        Filter(
            "released",
            "released_at__isnull",
            kind="bool",
            description="true: only released holds; false: only active ones.",
        )
    ]

    @extend_schema(summary="List legal holds", description="Newest first, released ones too.")
    def list(self, request: Request, **kwargs: Any) -> Response:
        return self.list_response(self.get_queryset())

    @extend_schema(summary="Get a legal hold", description="By id.")
    def retrieve(self, request: Request, **kwargs: Any) -> Response:
        return Response(LegalHoldSerializer(self.get_object()).data)

    @extend_schema(
        summary="Place a legal hold",
        description="On one agent's data (`agent`) or on the whole tenant's (no `agent`). Audited.",
        responses={201: LegalHoldSerializer},
    )
    def create(self, request: Request, **kwargs: Any) -> Response:
        serializer = LegalHoldSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        hold = self.call(services.legal_hold_place, tenant=self.tenant, **serializer.validated_data)
        return Response(LegalHoldSerializer(hold).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Release a legal hold",
        description="Retention and erasure apply again to what it covered. 409 if it was "
        "already released.",
        request=None,
        responses=LegalHoldSerializer,
    )
    @action(detail=True, methods=["post"])
    def release(self, request: Request, **kwargs: Any) -> Response:
        hold = self.call(services.legal_hold_release, hold=self.get_object())
        return Response(LegalHoldSerializer(hold).data)


class RetentionRunViewSet(_Privacy):
    """Every application of the tenant's retention: the policy and cutoffs it applied,
    what it removed per store (PostgreSQL, ClickHouse per table, each edge node) and
    what legal holds kept."""

    queryset_model = RetentionRun
    serializer_class = RetentionRunSerializer
    ordering = "-started_at"
    ordering_fields: ClassVar[list[str]] = ["started_at"]
    filters: ClassVar[list[Filter]] = [
        Filter("state", "state", choices=RetentionRun.State.values),
    ]

    @extend_schema(summary="List retention runs", description="Newest first.")
    def list(self, request: Request, **kwargs: Any) -> Response:
        return self.list_response(self.get_queryset())

    @extend_schema(summary="Get a retention run", description="With its counts per store.")
    def retrieve(self, request: Request, **kwargs: Any) -> Response:
        return Response(RetentionRunSerializer(self.get_object()).data)

    @extend_schema(
        summary="Apply the retention now",
        description="A run of this tenant's own, besides the daily one; it works in the "
        "background: read it back for its counts.",
        request=None,
        responses={201: RetentionRunSerializer},
    )
    def create(self, request: Request, **kwargs: Any) -> Response:
        run = self.call(services.retention_run_request, tenant=self.tenant)
        return Response(RetentionRunSerializer(run).data, status=status.HTTP_201_CREATED)


class DataSubjectRequestViewSet(_Privacy):
    """Find, export and erase one person's data, by email, phone or customer id."""

    queryset_model = DataSubjectRequest
    serializer_class = DataSubjectRequestSerializer
    ordering = "-created_at"
    ordering_fields: ClassVar[list[str]] = ["created_at"]
    filters: ClassVar[list[Filter]] = [
        Filter("state", "state", choices=DataSubjectRequest.State.values),
    ]

    def read_roles(self) -> tuple[Any, Any]:
        if getattr(self, "action", None) == "export":
            return STAFF_WRITERS, TENANT_ADMINS
        return super().read_roles()

    def get_queryset(self) -> Any:
        return super().get_queryset().defer("export_enc", "identifiers_enc")

    @extend_schema(summary="List data-subject requests", description="Newest first.")
    def list(self, request: Request, **kwargs: Any) -> Response:
        return self.list_response(self.get_queryset())

    @extend_schema(
        summary="Get a data-subject request",
        description="Its state, each step, and what was found, erased and (after erasing) "
        "still found, per store.",
    )
    def retrieve(self, request: Request, **kwargs: Any) -> Response:
        return Response(DataSubjectRequestSerializer(self.get_object()).data)

    @extend_schema(
        summary="Make a data-subject request",
        description="The person's email, phone (international form) and/or customer id. "
        "Every store is searched at once, in the background; the request is `found` when "
        "its export is ready.",
        request=DataSubjectRequestCreateSerializer,
        responses={201: DataSubjectRequestSerializer},
    )
    def create(self, request: Request, **kwargs: Any) -> Response:
        data = _valid(DataSubjectRequestCreateSerializer, request.data)
        dsr = self.call(
            services.dsr_create,
            tenant=self.tenant,
            identifiers=[dict(i) for i in data["identifiers"]],
            reason=data.get("reason", ""),
            user=self.principal.user,
        )
        return Response(DataSubjectRequestSerializer(dsr).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Record the person's identity as checked",
        description="Needed before the export is downloaded or the data erased. 409 if "
        "already verified.",
        request=VerifySerializer,
        responses=DataSubjectRequestSerializer,
    )
    @action(detail=True, methods=["post"])
    def verify(self, request: Request, **kwargs: Any) -> Response:
        dsr = self.get_object()
        data = _valid(VerifySerializer, request.data)
        dsr = self.call(services.dsr_verify, dsr=dsr, note=data["note"])
        return Response(DataSubjectRequestSerializer(dsr).data)

    @extend_schema(
        summary="Download the export",
        description="A ZIP of JSON files: what each store holds of the person, and a "
        "manifest. Only for a verified request that has found the data; 409 before, and "
        "404 once the data is erased (the export goes with it).",
        responses={
            (200, "application/zip"): OpenApiResponse(
                OpenApiTypes.BINARY,
                examples=[OpenApiExample("ZIP", value="PK…", media_type="application/zip")],
            )
        },
    )
    @action(detail=True, methods=["get"])
    def export(self, request: Request, **kwargs: Any) -> HttpResponse:
        dsr = DataSubjectRequest.objects.get(pk=self.get_object().pk)
        if dsr.verified_at is None or dsr.state != DataSubjectRequest.State.FOUND:
            if not dsr.export_enc:
                raise exceptions.NotFound("There is no export (any more).")
            raise Conflict("The export is ready once the request is verified and found.")
        response = HttpResponse(export_bytes(dsr), content_type="application/zip")
        response["Content-Disposition"] = f'attachment; filename="data-subject-{dsr.pk}.zip"'
        return response

    @extend_schema(
        summary="Erase the person's data",
        description="In every store, the edges included; the audit trail keeps its chain "
        "(erased entries become tombstones). `confirm` must be `ERASE`. Only a verified "
        "request that has found the data (409 otherwise, or while a legal hold covers the "
        "whole tenant); the export is deleted with the data.",
        request=EraseSerializer,
        responses=DataSubjectRequestSerializer,
    )
    @action(detail=True, methods=["post"])
    def erase(self, request: Request, **kwargs: Any) -> Response:
        dsr = self.get_object()
        data = _valid(EraseSerializer, request.data)
        dsr = self.call(services.dsr_erase, dsr=dsr, confirm=data["confirm"])
        return Response(DataSubjectRequestSerializer(dsr).data)

    @extend_schema(
        summary="Retry a failed request",
        description="A failed search resumes at the step that failed, a failed erasure "
        "starts over. 409 unless the request failed.",
        request=None,
        responses=DataSubjectRequestSerializer,
    )
    @action(detail=True, methods=["post"])
    def retry(self, request: Request, **kwargs: Any) -> Response:
        dsr = self.call(services.dsr_retry, dsr=self.get_object())
        return Response(DataSubjectRequestSerializer(dsr).data)

"""Compliance of a tenant: its controls with their state, test runs (list, trigger),
evidence (list, detail, download) and exceptions (request; the MSP approves or rejects);
and the MSP's own evidence (``/api/v1/compliance/evidence``, MSP staff only).

Every member who sees the whole tenant reads (a member limited to some departments gets
404: evidence covers every department); owners, admins and MSP staff (admin, operator)
run tests and request exceptions; only MSP staff decide exceptions, never the requester.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Callable, Collection, Iterator
from contextlib import AbstractContextManager
from typing import Any, ClassVar

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import exceptions, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from compliance import status as control_status
from compliance.documents import evidence_document
from compliance.models import Control, ControlException, EvidenceRecord, TestRun
from compliance.reviews import exception_decide, exception_request
from compliance.runs import test_run_request
from controlplane.api.base import ApiViewSet, TenantScopedViewSet
from controlplane.api.filtering import Filter
from controlplane.api.permissions import STAFF_WRITERS
from controlplane.api.problems import Conflict
from controlplane.api.serializers.compliance import (
    EXAMPLE_EVIDENCE_DETAIL,
    ControlSerializer,
    EvidenceDetailSerializer,
    EvidenceSerializer,
    ExceptionCreateSerializer,
    ExceptionDecisionSerializer,
    ExceptionSerializer,
    TestRunCreateSerializer,
    TestRunSerializer,
)
from controlplane.core.tenancy import all_tenants_context, tenant_context

NOBODY: frozenset[str] = frozenset()


def _valid(serializer_class: type[Any], data: Any) -> dict[str, Any]:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _control(code: str | None, field: str = "control") -> Control | None:
    if not code:
        return None
    control = Control.objects.filter(code=code, active=True).first()
    if control is None:
        raise exceptions.ValidationError({field: [f"No control {code!r} in the catalog."]})
    return control


class _Compliance(TenantScopedViewSet):
    @contextlib.contextmanager
    def _whole_tenant(self) -> Iterator[None]:
        with tenant_context(self.tenant):
            membership = self.principal.membership
            if membership is not None and membership.departments.exists():
                raise exceptions.NotFound()
            yield

    def scope(self) -> AbstractContextManager[None]:
        return self._whole_tenant()


class ControlViewSet(_Compliance):
    """The catalog's controls with their state for this tenant, failing first."""

    queryset_model = Control
    serializer_class = ControlSerializer
    lookup_field = "code"
    lookup_url_kwarg = "code"
    lookup_value_converter = "str"
    pagination_class = None  # the catalog is small: one list, failing first

    def _statuses(self) -> list[control_status.ControlStatus]:
        return control_status.tenant_status(
            tenant=self.tenant, category=None, now=timezone.now(), rows=EvidenceRecord.objects.all()
        )

    @staticmethod
    def _as_dict(item: control_status.ControlStatus) -> dict[str, Any]:
        control = item.control
        tests = []
        for test in item.tests:
            latest = test.latest
            tests.append(
                {
                    "key": test.test.key,
                    "title": test.test.title,
                    "version": test.test.version,
                    "scope": test.test.scope,
                    "period_days": test.test.period_days,
                    "state": test.state,
                    "latest": None
                    if latest is None
                    else {
                        "evidence_id": latest.pk if latest.tenant_id else None,
                        "result": latest.result,
                        "recorded_at": latest.recorded_at,
                        "valid_until": latest.valid_until,
                        "summary": latest.summary,
                    },
                }
            )
        return {
            "code": control.code,
            "criterion": control.criterion,
            "family": control.family,
            "category": control.category,
            "title": control.title,
            "description": control.description,
            "owner_email": control.owner_email,
            "validity_days": control.validity_days,
            "catalog_version": control.catalog_version,
            "state": item.state,
            "tests": tests,
        }

    @extend_schema(
        summary="List controls",
        description="Every control of the catalog, failing first, with each test's state "
        "(fail, stale, missing, exception, pass, not_applicable) and latest evidence for "
        "this tenant. Not paginated: the catalog is small.",
        responses=ControlSerializer(many=True),
    )
    def list(self, request: Request, **kwargs: Any) -> Response:
        return Response(
            ControlSerializer([self._as_dict(s) for s in self._statuses()], many=True).data
        )

    @extend_schema(summary="Get a control", description="One control by its code, e.g. CC6.1-MFA.")
    def retrieve(self, request: Request, **kwargs: Any) -> Response:
        code = kwargs.get("code")
        found = next((s for s in self._statuses() if s.control.code == code), None)
        if found is None:
            raise exceptions.NotFound()
        return Response(ControlSerializer(self._as_dict(found)).data)


class TestRunViewSet(_Compliance):
    """Runs of the tenant's tests: hourly on a schedule, or on demand."""

    __test__ = False  # not a pytest class

    queryset_model = TestRun
    serializer_class = TestRunSerializer
    ordering = "-requested_at"
    ordering_fields: ClassVar[list[str]] = ["requested_at"]
    filters: ClassVar[list[Filter]] = [Filter("status", "status", choices=TestRun.Status.values)]

    @extend_schema(summary="List test runs", description="Newest first.")
    def list(self, request: Request, **kwargs: Any) -> Response:
        return self.list_response(self.get_queryset().select_related("control"))

    @extend_schema(
        summary="Get a test run", description="Its status and how much evidence it wrote."
    )
    def retrieve(self, request: Request, **kwargs: Any) -> Response:
        return Response(TestRunSerializer(self.get_object()).data)

    @extend_schema(
        summary="Run the tests now",
        description="Queues a run of every test of the tenant (or of one control's); a "
        "worker executes it and writes one evidence record per test. Poll the run.",
        request=TestRunCreateSerializer,
        responses={202: TestRunSerializer},
    )
    def create(self, request: Request, **kwargs: Any) -> Response:
        data = _valid(TestRunCreateSerializer, request.data)
        run = test_run_request(
            actor=self.actor,
            trigger=TestRun.Trigger.API,
            tenant=self.tenant,
            control=_control(data.get("control")),
            requested_by=self.principal.user,
        )
        return Response(TestRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class _Evidence:
    """Evidence records, newest first: list, detail, download (of the queryset given)."""

    ordering = "-seq"
    ordering_fields: ClassVar[list[str]] = ["seq", "recorded_at"]
    filters: ClassVar[list[Filter]] = [
        Filter("control", "control_code", description="A control's code."),
        Filter("result", "result", choices=EvidenceRecord.Result.values),
        Filter("test_run", "test_run_id", kind="uuid"),
        Filter("since", "recorded_at__date__gte", kind="date", description="Recorded on or after."),
    ]

    get_queryset: Callable[[], QuerySet[EvidenceRecord]]
    get_object: Callable[[], EvidenceRecord]
    list_response: Callable[[QuerySet[EvidenceRecord]], Response]

    @extend_schema(summary="List evidence", description="Filter by control, result, run or date.")
    def list(self, request: Request, **kwargs: Any) -> Response:
        return self.list_response(self.get_queryset().defer("population"))

    @extend_schema(
        summary="Get an evidence record",
        description="With the exact query and parameters, the failing entities and what the "
        "test measured. The population itself is in the download.",
        responses=EvidenceDetailSerializer,
    )
    def retrieve(self, request: Request, **kwargs: Any) -> Response:
        return Response(EvidenceDetailSerializer(self.get_object()).data)

    @extend_schema(
        summary="Download an evidence record",
        description="The whole record as JSON, its population included. Its `hash` is the "
        "SHA-256 of the canonical JSON (sorted keys, no spaces) of every field but `id`, "
        "`hash`, `population` and `erasure` (for `format_version` 2, with "
        "`personal_sha256` in place of `summary`, `failing_entities` and `metrics`: "
        "docs/compliance.md); `data_sha256` is that of `population` as written.",
        responses={
            (200, "application/json"): OpenApiResponse(
                OpenApiTypes.OBJECT,
                examples=[
                    OpenApiExample(
                        "Evidence",
                        value={**EXAMPLE_EVIDENCE_DETAIL, "population": []},
                        response_only=True,
                    )
                ],
            )
        },
    )
    @action(detail=True, methods=["get"], url_path="download")
    def download(self, request: Request, **kwargs: Any) -> HttpResponse:
        record = self.get_object()
        body = json.dumps(evidence_document(record), sort_keys=True, ensure_ascii=False)
        response = HttpResponse(body.encode(), content_type="application/json")
        name = f"evidence-{record.control_code}-{record.seq}-{record.pk}.json"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response


class EvidenceViewSet(_Evidence, _Compliance):
    """The tenant's evidence records: immutable, hash-chained, newest first."""

    queryset_model = EvidenceRecord
    serializer_class = EvidenceSerializer


@extend_schema_view(
    list=extend_schema(
        summary="List the MSP's evidence",
        description="Evidence of the MSP's own chain (the controls it operates for every "
        "tenant). MSP staff, not a token limited to one tenant. Filter by control, result, "
        "run or date.",
    ),
    retrieve=extend_schema(summary="Get an MSP evidence record"),
    download=extend_schema(summary="Download an MSP evidence record"),
)
class MspEvidenceViewSet(_Evidence, ApiViewSet):
    """Evidence of the MSP's own chain: MSP staff only, across tenants."""

    serializer_class = EvidenceSerializer
    tenant_read_roles = NOBODY
    tenant_write_roles = NOBODY
    http_method_names = ["get", "head", "options"]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        if self.principal.restricted_tenant_id is not None:
            raise exceptions.PermissionDenied("This token is limited to one tenant.")

    def scope(self) -> AbstractContextManager[None]:
        return all_tenants_context()

    def get_queryset(self) -> QuerySet[EvidenceRecord]:
        return EvidenceRecord.unscoped.filter(tenant__isnull=True)

    def get_object(self) -> EvidenceRecord:
        pk = self.kwargs.get("pk")
        record = self.get_queryset().filter(pk=pk).first() if isinstance(pk, uuid.UUID) else None
        if record is None:
            raise exceptions.NotFound()
        return record


class ExceptionViewSet(_Compliance):
    """Exceptions to the tenant's controls: requested by its owners and admins or by MSP
    staff, approved or rejected by MSP staff other than the requester."""

    queryset_model = ControlException
    serializer_class = ExceptionSerializer
    ordering = "-requested_at"
    ordering_fields: ClassVar[list[str]] = ["requested_at", "expires_at"]
    filters: ClassVar[list[Filter]] = [
        Filter("status", "status", choices=ControlException.Status.values),
        Filter("control", "control__code", description="A control's code."),
    ]

    def write_roles(self) -> tuple[Collection[str], Collection[str]]:
        if self.action in ("approve", "reject"):
            return STAFF_WRITERS, NOBODY
        return super().write_roles()

    @extend_schema(summary="List exceptions", description="Newest first.")
    def list(self, request: Request, **kwargs: Any) -> Response:
        return self.list_response(self.get_queryset().select_related("control"))

    @extend_schema(summary="Get an exception")
    def retrieve(self, request: Request, **kwargs: Any) -> Response:
        return Response(ExceptionSerializer(self.get_object()).data)

    @extend_schema(
        summary="Request an exception",
        description="To a control, or to one failing entity of it (its key in the "
        "evidence), until `expires_at` (at most 365 days). It counts once approved.",
        request=ExceptionCreateSerializer,
        responses={201: ExceptionSerializer},
    )
    def create(self, request: Request, **kwargs: Any) -> Response:
        data = _valid(ExceptionCreateSerializer, request.data)
        try:
            exception = exception_request(
                actor=self.actor,
                requested_by=self.principal.user,
                tenant=self.tenant,
                control=_control(data["control"]) or Control(),
                entity=data.get("entity", ""),
                justification=data["justification"],
                expires_at=data["expires_at"],
            )
        except ValidationError as error:
            raise exceptions.ValidationError(error.message_dict) from None
        return Response(ExceptionSerializer(exception).data, status=status.HTTP_201_CREATED)

    def _decide(self, request: Request, approve: bool) -> Response:
        data = _valid(ExceptionDecisionSerializer, request.data)
        try:
            exception = exception_decide(
                actor=self.actor,
                decided_by=self.principal.user,
                exception=self.get_object(),
                approve=approve,
                note=data.get("note", ""),
            )
        except ValidationError as error:
            raise Conflict("; ".join(error.messages)) from None
        return Response(ExceptionSerializer(exception).data)

    @extend_schema(
        summary="Approve an exception",
        description="MSP staff (admin, operator) other than the requester; 409 when it is "
        "not pending or you requested it.",
        request=ExceptionDecisionSerializer,
        responses=ExceptionSerializer,
    )
    @action(detail=True, methods=["post"], url_path="approve")
    def approve(self, request: Request, **kwargs: Any) -> Response:
        return self._decide(request, approve=True)

    @extend_schema(
        summary="Reject an exception",
        description="As approving; the failure stays a failure.",
        request=ExceptionDecisionSerializer,
        responses=ExceptionSerializer,
    )
    @action(detail=True, methods=["post"], url_path="reject")
    def reject(self, request: Request, **kwargs: Any) -> Response:
        return self._decide(request, approve=False)

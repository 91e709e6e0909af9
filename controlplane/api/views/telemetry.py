"""Reads of what agents did: usage totals (ledger) and traces (ClickHouse)."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import re
from collections.abc import Iterator, Mapping
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from controlplane.analytics import StoreError
from controlplane.api.base import TenantScopedViewSet
from controlplane.api.problems import ServiceUnavailable
from controlplane.api.serializers.telemetry import (
    MAX_USAGE_DAYS,
    USAGE_DIMENSIONS,
    TraceDetailSerializer,
    TraceListSerializer,
    TraceQuerySerializer,
    UsageQuerySerializer,
    UsageReportSerializer,
)
from controlplane.core.spreadsheet import safe_cell
from controlplane.gateway.models import Policy
from controlplane.telemetry import spans
from controlplane.telemetry.body_access import SEARCH_NOTE
from controlplane.telemetry.models import UsageEvent
from controlplane.telemetry.redaction import Redaction, display_redaction, redact_span
from controlplane.telemetry.residency import EdgeBodies, edge_bodies_fill
from controlplane.telemetry.usage import usage_report

METRICS = ("events", "input_tokens", "output_tokens", "cost")
_DIMENSION_COLUMNS = {
    "agent": ("agent_id", "agent"),
    "department": ("department_id", "department"),
    "provider": ("provider",),
    "model": ("model",),
    "day": ("day",),
}
TRACE_ID = re.compile(r"^[0-9a-f]{32}$")
logger = logging.getLogger(__name__)


class UsageCsvRenderer(BaseRenderer):
    """The report's rows as CSV: one column per grouping, then the totals."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> bytes:
        group_by = data.get("group_by", [])
        columns = [c for name in group_by for c in _DIMENSION_COLUMNS[name]] + list(METRICS)
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(columns)
        for row in data.get("rows", []):
            writer.writerow([safe_cell(row.get(column)) for column in columns])
        return out.getvalue().encode()


_USAGE_PARAMETERS = [
    OpenApiParameter(
        "group_by",
        {"type": "array", "items": {"type": "string", "enum": list(USAGE_DIMENSIONS)}},
        OpenApiParameter.QUERY,
        style="form",
        explode=False,
        description="Group by one or more of these, comma-separated (default `day`).",
        examples=[OpenApiExample("By agent and day", value=["agent", "day"])],
    ),
    OpenApiParameter(
        "since",
        OpenApiTypes.DATETIME,
        description="From this moment (default: 30 days before `until`); at most "
        f"{MAX_USAGE_DAYS} days before `until`.",
    ),
    OpenApiParameter("until", OpenApiTypes.DATETIME, description="Up to (excluding) this."),
    OpenApiParameter("agent", OpenApiTypes.UUID, description="Only this agent's usage."),
    OpenApiParameter("department", OpenApiTypes.UUID, description="Only this department's."),
    OpenApiParameter("provider", OpenApiTypes.STR, description="Only this provider's."),
    OpenApiParameter("model", OpenApiTypes.STR, description="Only this model's."),
    OpenApiParameter(
        "format",
        OpenApiTypes.STR,
        enum=["json", "csv"],
        description="`csv` for a spreadsheet (same as `Accept: text/csv`).",
    ),
]


class UsageViewSet(TenantScopedViewSet):
    """Usage totals of the tenant from the ledger."""

    queryset_model = UsageEvent
    renderer_classes = [JSONRenderer, UsageCsvRenderer]
    pagination_class = None

    @extend_schema(
        summary="Usage report",
        description="Events, tokens and cost of the tenant's agents, grouped by agent, "
        "department, provider, model and/or day, from the billing ledger. JSON, or CSV "
        "with `?format=csv` or `Accept: text/csv`.",
        parameters=_USAGE_PARAMETERS,
        responses={
            (200, "application/json"): UsageReportSerializer,
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR,
                description="The rows as CSV.",
                examples=[
                    OpenApiExample(
                        "CSV",
                        value="agent_id,agent,day,events,input_tokens,output_tokens,cost\r\n"
                        "0193f0a2-6c1e-7b3a-9f10-2b7c1d5e8a06,invoice-triage,2026-11-25,"
                        "412,183004,40211,0.137540000\r\n",
                        media_type="text/csv",
                    )
                ],
            ),
        },
    )
    def list(self, request: Request, **kwargs: Any) -> Response:
        params = {key: value for key, value in request.query_params.items() if key != "format"}
        query = UsageQuerySerializer(data=params)
        query.is_valid(raise_exception=True)
        q = query.validated_data
        rows, totals = usage_report(
            since=q["since"],
            until=q["until"],
            group_by=q["group_by"],
            agent_id=q.get("agent"),
            department_id=q.get("department"),
            provider=q.get("provider"),
            model=q.get("model"),
            departments=self.principal.departments(),
        )
        report = {
            "since": q["since"],
            "until": q["until"],
            "group_by": q["group_by"],
            "rows": rows,
            "totals": totals,
        }
        data = UsageReportSerializer(report).data
        filename = f"usage-{self.tenant.slug}-{q['since']:%Y%m%d}-{q['until']:%Y%m%d}.csv"
        headers = (
            {"Content-Disposition": f'attachment; filename="{filename}"'}
            if request.accepted_renderer.format == "csv"
            else None
        )
        return Response(data, headers=headers)


class TraceViewSet(TenantScopedViewSet):
    """Traces of the tenant's agents, with every span and its bodies (ClickHouse)."""

    queryset_model = UsageEvent
    pagination_class = None
    lookup_url_kwarg = "trace_id"
    lookup_value_converter = "str"

    def _redaction(self) -> Redaction | None:
        """How span text is shown under the tenant's policy (None: as stored)."""
        return display_redaction(Policy.objects.filter(tenant=self.tenant).first())

    @extend_schema(
        summary="List traces",
        description="The tenant's traces, newest first, with the totals of their spans in the "
        "window (`since`, `until`). A trace matches a filter when one of its spans does. "
        "`next` pages to older traces of the same window.",
        parameters=[
            OpenApiParameter("since", OpenApiTypes.DATETIME, description="Default: 7 days ago."),
            OpenApiParameter("until", OpenApiTypes.DATETIME, description="Default: now."),
            OpenApiParameter("agent", OpenApiTypes.UUID, description="Only this agent's."),
            OpenApiParameter(
                "department", OpenApiTypes.UUID, description="Only this department's."
            ),
            OpenApiParameter("provider", OpenApiTypes.STR, description="A span of it used it."),
            OpenApiParameter("model", OpenApiTypes.STR, description="A span of it used it."),
            OpenApiParameter("tool", OpenApiTypes.STR, description="A span of it called it."),
            OpenApiParameter(
                "q",
                OpenApiTypes.STR,
                description="Text in a span's name, status message, tool, model or bodies, "
                "in any case; `%` and `_` are literal. When the tenant's policy redacts "
                "personal data, the text must be in them as redacted. Only for roles that "
                "may read prompts and responses (owner, admin, member; staff admin and "
                "operator): 403 for the others.",
            ),
            OpenApiParameter("status", OpenApiTypes.STR, enum=list(spans.TRACE_STATUSES)),
            OpenApiParameter("limit", OpenApiTypes.INT, description="1-200, default 50."),
            OpenApiParameter(
                "before",
                OpenApiTypes.DATETIME,
                description="Paging cursor, with before_trace: traces that started before "
                "this one. Follow `next` rather than setting it.",
            ),
            OpenApiParameter(
                "before_trace",
                {"type": "string", "pattern": "^[0-9a-f]{32}$"},
                description="Paging cursor, with before: the trace id of the last trace of "
                "the previous page.",
            ),
        ],
        responses={200: TraceListSerializer},
    )
    def list(self, request: Request, **kwargs: Any) -> Response:
        query = TraceQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        q = query.validated_data
        text = q.get("q") or None
        if text and not self.principal.can_read_bodies:
            raise exceptions.PermissionDenied(SEARCH_NOTE)
        redaction = self._redaction() if text else None
        with _trace_store():
            found = spans.trace_list(
                self.tenant.pk,
                since=q["since"],
                until=q["until"],
                limit=q["limit"],
                agent_id=q.get("agent"),
                status=q.get("status"),
                search=spans.TraceSearch(
                    department_id=q.get("department"),
                    provider=q.get("provider") or None,
                    model=q.get("model") or None,
                    tool=q.get("tool") or None,
                    text=text,
                ),
                before=(q["before"], q["before_trace"]) if "before" in q else None,
                departments=self.principal.departments(),
            )
            results = spans.matching_as_shown(
                self.tenant.pk,
                found,
                since=q["since"],
                until=q["until"],
                text=text,
                shown=redaction.apply if redaction else None,
                departments=self.principal.departments(),
            )
        next_url = None
        if len(found) == q["limit"]:  # from the last trace found, shown or not
            next_url = request.build_absolute_uri()
            last = found[-1]
            for name, value in (
                ("since", q["since"].isoformat()),
                ("until", q["until"].isoformat()),  # the same window: the same totals
                ("before", last["started_at"].isoformat()),
                ("before_trace", last["trace_id"]),
            ):
                next_url = replace_query_param(next_url, name, value)
        return Response(TraceListSerializer({"results": results, "next": next_url}).data)

    @extend_schema(
        summary="Get a trace",
        description="Every span of one trace, in start order, with request and response "
        "bodies and attributes. When the tenant's policy redacts or blocks personal data, "
        "bodies, attributes and status messages come with it redacted. Roles that may not "
        "read prompts and responses (billing, viewer; staff auditor) get the spans with "
        "empty bodies and `bodies_withheld: true`. For a tenant whose bodies stay at its "
        "edge (residency), the bodies are read from the edge node that keeps them; an edge "
        "that does not answer is named in `edges_unreachable` and its spans come with "
        "empty bodies.",
        parameters=[
            OpenApiParameter(
                "trace_id",
                {"type": "string", "pattern": "^[0-9a-f]{32}$"},
                OpenApiParameter.PATH,
                description="32 lowercase hex digits (W3C trace id).",
            )
        ],
        responses={200: TraceDetailSerializer},
    )
    def retrieve(self, request: Request, **kwargs: Any) -> Response:
        trace_id = str(kwargs.get("trace_id", ""))
        if not TRACE_ID.match(trace_id):
            raise exceptions.NotFound()
        with _trace_store():
            rows = spans.trace_spans(
                self.tenant.pk, trace_id, departments=self.principal.departments()
            )
        if not rows:
            raise exceptions.NotFound()
        withheld = not self.principal.can_read_bodies
        at_edge = EdgeBodies()
        if not withheld:
            at_edge = edge_bodies_fill(
                tenant_id=self.tenant.pk, trace_id=trace_id, rows=rows, actor=self.actor
            )
        redaction = self._redaction()
        rows = [redact_span(row, redaction) for row in rows]
        for row in rows:
            row["attributes"] = _json_or_text(row.get("attributes"))
            if withheld:
                row["request_body"] = row["response_body"] = ""
        body = {
            "trace_id": trace_id,
            "bodies_withheld": withheld,
            "bodies_at_edge": at_edge.at_edge,
            "edges_unreachable": at_edge.unreachable,
            "spans": rows,
        }
        return Response(TraceDetailSerializer(body).data)


@contextlib.contextmanager
def _trace_store() -> Iterator[None]:
    try:
        yield
    except StoreError as exc:
        logger.warning("trace store error: %s", exc)
        raise ServiceUnavailable("The trace store is not reachable; retry later.") from exc


def _json_or_text(value: Any) -> Any:
    if not isinstance(value, str):
        return value or {}
    try:
        return json.loads(value) if value else {}
    except json.JSONDecodeError:
        return value

"""Traces of one tenant, from ClickHouse: a searchable list and a waterfall per trace.

Every query names the tenant (``controlplane.telemetry.spans`` binds it); the agent
names come from the tenant's own Agent rows. Span text is shown redacted when the
tenant's gateway policy redacts or blocks personal data
(``controlplane.telemetry.redaction``).
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import json
import logging
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from controlplane.agents.models import Agent
from controlplane.analytics import StoreError
from controlplane.core.spreadsheet import safe_cell
from controlplane.gateway.models import Policy
from controlplane.telemetry import spans as span_store
from controlplane.telemetry.body_access import SEARCH_NOTE, WITHHELD_NOTE
from controlplane.telemetry.redaction import Redaction, display_redaction
from controlplane.telemetry.residency import EdgeBodies, edge_bodies_fill
from controlplane.web.formatting import format_duration, format_money, to_decimal
from controlplane.web.forms import TraceFilterForm
from controlplane.web.scope import READ, Scope, tenant_views
from tenants.models import Department

logger = logging.getLogger(__name__)

TRACE_ID = re.compile(r"[0-9a-f]{32}")
LIST_LIMIT = 100
DEFAULT_RANGE = "24h"
CLOCK_SKEW = dt.timedelta(minutes=5)  # edge clocks a little ahead still show up
BODY_LIMIT = 64 * 1024
MIN_BAR_WIDTH = 0.4  # percent: a 0 ms span still shows as a sliver


# --- formatting ------------------------------------------------------------------------


def as_utc(value: Any) -> dt.datetime:
    moment = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def pretty_body(text: Any, redaction: Redaction | None = None) -> str:
    """A request or response body for reading: indented when it is JSON, personal data
    redacted when ``redaction`` says so, cut when long."""
    body = str(text or "")
    if not body:
        return ""
    with contextlib.suppress(ValueError):
        body = json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    if redaction is not None:  # after decoding: JSON escapes no longer hide anything
        body = redaction.apply(body)
    if len(body) > BODY_LIMIT:
        body = body[:BODY_LIMIT] + f"\n… ({len(body) - BODY_LIMIT} more characters not shown)"
    return body


def _attributes(text: Any, redaction: Redaction | None) -> str:
    body = str(text or "")
    return "" if body in ("", "{}") else pretty_body(body, redaction)


def _redaction(scope: Scope) -> Redaction | None:
    return display_redaction(scope.rows(Policy).first())


def _agent_names(scope: Scope) -> dict[str, str]:
    return {str(agent.pk): agent.name for agent in scope.rows(Agent)}


def _agent_label(names: dict[str, str], agent_id: Any) -> str:
    key = str(agent_id or "")
    return names.get(key) or f"unknown agent {key[:8]}"


# --- list ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TraceRow:
    trace_id: str
    started_at: dt.datetime
    agent_id: str
    agent_name: str
    root_name: str
    spans: int
    input_tokens: int
    output_tokens: int
    cost: str
    status: str
    duration: str


def trace_row(row: dict[str, Any], names: dict[str, str]) -> TraceRow:
    started, ended = as_utc(row["started_at"]), as_utc(row["ended_at"])
    return TraceRow(
        trace_id=str(row["trace_id"]),
        started_at=started,
        agent_id=str(row["agent_id"]),
        agent_name=_agent_label(names, row["agent_id"]),
        root_name=str(row.get("root_name") or ""),
        spans=int(row["spans"]),
        input_tokens=int(row["input_tokens"] or 0),
        output_tokens=int(row["output_tokens"] or 0),
        cost=format_money(row["cost"]),
        status=str(row["status"]),
        duration=format_duration(max((ended - started).total_seconds(), 0.0)),
    )


MAX_WINDOW = dt.timedelta(days=31)


def explicit_window(query: Any) -> tuple[dt.datetime, dt.datetime] | None:
    """``?since=&until=`` (ISO 8601, UTC unless an offset is given), as the dashboards
    link a chart point to its minutes; None unless both are valid and in order."""
    try:
        since = parse_datetime(str(query.get("since") or ""))
        until = parse_datetime(str(query.get("until") or ""))
    except ValueError:
        return None
    if since is None or until is None:
        return None
    since, until = as_utc(since), as_utc(until)
    if not since < until or until - since > MAX_WINDOW:
        return None
    return since, until


@dataclass(frozen=True)
class TraceQuery:
    """One trace search: the tenant's spans of ``[since, until)`` and the filters."""

    since: dt.datetime
    until: dt.datetime
    status: str | None
    search: span_store.TraceSearch

    def found(self, scope: Scope, limit: int, before: Any = None) -> list[dict[str, Any]]:
        return span_store.trace_list(
            scope.tenant.pk,
            since=self.since,
            until=self.until,
            limit=limit,
            status=self.status,
            search=self.search,
            before=before,
            departments=scope.departments,
        )

    def as_shown(self, scope: Scope, found: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``found`` less the traces whose only match is text that redaction hides."""
        redaction = _redaction(scope) if self.search.text else None
        return span_store.matching_as_shown(
            scope.tenant.pk,
            found,
            since=self.since,
            until=self.until,
            text=self.search.text,
            shown=redaction.apply if redaction else None,
            departments=scope.departments,
        )

    def totals(self, scope: Scope) -> dict[str, Any] | None:
        """Every page's totals; None for a text search under redaction, whose count
        would include traces that the pages leave out."""
        if self.search.text and _redaction(scope) is not None:
            return None
        found = span_store.trace_totals(
            scope.tenant.pk,
            since=self.since,
            until=self.until,
            status=self.status,
            search=self.search,
            departments=scope.departments,
        )
        return {
            "traces": int(found.get("traces") or 0),
            "spans": int(found.get("spans") or 0),
            "input_tokens": int(found.get("input_tokens") or 0),
            "output_tokens": int(found.get("output_tokens") or 0),
            "cost": format_money(found.get("cost")),
            "not_ok": int(found.get("not_ok") or 0),
        }


EXPORT_LIMIT = 10_000
EXPORT_COLUMNS = (
    "trace_id",
    "started_at",
    "agent",
    "agent_id",
    "root_span",
    "spans",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "status",
    "duration_ms",
)


def _export(scope: Scope, query: TraceQuery, names: dict[str, str]) -> HttpResponse:
    """The newest ``EXPORT_LIMIT`` traces of the search as CSV, cost to the full
    precision the ledger keeps."""
    page = query.as_shown(scope, query.found(scope, EXPORT_LIMIT))
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%dT%H%MZ")
    response["Content-Disposition"] = (
        f'attachment; filename="traces-{scope.tenant.slug}-{stamp}.csv"'
    )
    writer = csv.writer(response)
    writer.writerow(EXPORT_COLUMNS)
    for row in page:
        started, ended = as_utc(row["started_at"]), as_utc(row["ended_at"])
        cells = [
            row["trace_id"],
            started.isoformat(),
            _agent_label(names, row["agent_id"]),
            row["agent_id"],
            row.get("root_name") or "",
            int(row["spans"]),
            int(row["input_tokens"] or 0),
            int(row["output_tokens"] or 0),
            f"{to_decimal(row['cost']):f}",
            row["status"],
            round(max((ended - started).total_seconds(), 0.0) * 1000, 3),
        ]
        writer.writerow([safe_cell(cell) for cell in cells])
    return response


def traces(scope: Scope) -> HttpResponse:
    agents = list(scope.in_departments(scope.rows(Agent)).order_by("name").only("name"))
    departments = list(
        scope.in_departments(scope.rows(Department), "pk").order_by("name").only("name")
    )
    query = scope.request.GET.copy()
    if not query.get("range"):
        query["range"] = DEFAULT_RANGE
    form = TraceFilterForm(
        data=query,
        agents=agents,
        departments=departments,
        text_search=scope.can_read_bodies,
    )
    window = explicit_window(scope.request.GET)
    names = {str(a.pk): a.name for a in agents}
    rows: list[TraceRow] = []
    totals = None
    older_url = ""
    unavailable = False
    if scope.period is not None:  # an auditor: inside the period, its last day unless asked
        last_day = scope.period.until - dt.timedelta(days=1), scope.period.until
        window = scope.clamp(*(window or last_day))
    if form.is_valid():
        now = timezone.now()
        since, until = window or (now - dt.timedelta(hours=form.hours), now + CLOCK_SKEW)
        search = TraceQuery(
            since=since,
            until=until,
            status=form.cleaned_data["status"] or None,
            search=form.search(),
        )
        try:
            if scope.request.GET.get("export") == "csv":
                return _export(scope, search, names)
            found = search.found(scope, LIST_LIMIT + 1, before=form.older_than())
            page = search.as_shown(scope, found[:LIST_LIMIT])
            totals = search.totals(scope)
        except StoreError:  # the trace store is down: say so, keep the page
            logger.exception("listing traces of tenant %s failed", scope.tenant.pk)
            unavailable = True
        else:
            rows = [trace_row(row, names) for row in page]
            if len(found) > LIST_LIMIT:  # from the last trace found, shown or not
                older_url = _page_url(scope, trace_row(found[LIST_LIMIT - 1], names))
    context = {
        "scope": scope,
        "form": form,
        "rows": rows,
        "totals": totals,
        "unavailable": unavailable,
        "limit": LIST_LIMIT,
        "export_limit": EXPORT_LIMIT,
        "window": window,
        "window_ignored": bool(
            not window and (scope.request.GET.get("since") or scope.request.GET.get("until"))
        ),
        "older_url": older_url,
        "newest_url": _page_url(scope, None),
        "export_url": _page_url(scope, None, export=True),
        "paged": form.is_valid() and form.older_than() is not None,
        "filtered": bool(window or (form.is_valid() and form.narrowed)),
        "search_note": "" if scope.can_read_bodies else SEARCH_NOTE,
    }
    return render(scope.request, "traces/list.html", context)


def _page_url(scope: Scope, after: TraceRow | None, *, export: bool = False) -> str:
    """This search from the newest trace, or from the one after ``after`` on; as CSV
    with ``export``."""
    query = scope.request.GET.copy()
    for name in (*TraceFilterForm.PAGING_FIELDS, "export"):
        query.pop(name, None)
    if after is not None:
        query["before"] = after.started_at.isoformat()
        query["before_trace"] = after.trace_id
    if export:
        query["export"] = "csv"
    return f"{scope.request.path}?{query.urlencode()}"


# --- one trace ------------------------------------------------------------------------


@dataclass(frozen=True)
class SpanView:
    span_id: str
    depth: int
    kind: str
    name: str
    provider: str
    model: str
    tool: str
    input_tokens: int
    output_tokens: int
    cost: str
    status: str
    status_message: str
    agent_name: str
    data_classes: list[str]
    start_offset: str
    duration: str
    bar_offset: str
    bar_width: str
    request_body: str
    response_body: str
    attributes: str

    @property
    def has_details(self) -> bool:
        return bool(self.request_body or self.response_body or self.attributes)

    @property
    def indent(self) -> str:
        return str(min(self.depth, 12))


def _tree_order(rows: list[dict[str, Any]]) -> list[tuple[dict[str, Any], int]]:
    """Parents before children, siblings by start time; spans whose parent is missing
    (not captured, or still on its way) are roots."""
    ids = {str(row["span_id"]) for row in rows}
    children: dict[str, list[dict[str, Any]]] = {}
    roots = []
    for row in rows:  # already in start order
        parent = str(row.get("parent_span_id") or "")
        if parent and parent in ids and parent != str(row["span_id"]):
            children.setdefault(parent, []).append(row)
        else:
            roots.append(row)
    ordered: list[tuple[dict[str, Any], int]] = []
    seen: set[str] = set()

    def visit(row: dict[str, Any], depth: int) -> None:
        span_id = str(row["span_id"])
        if span_id in seen:
            return
        seen.add(span_id)
        ordered.append((row, depth))
        for child in children.get(span_id, []):
            visit(child, depth + 1)

    for root in roots:
        visit(root, 0)
    for row in rows:  # a cycle leaves spans unreached: show them anyway
        if str(row["span_id"]) not in seen:
            visit(row, 0)
    return ordered


def _message(text: Any, redaction: Redaction | None) -> str:
    message = str(text or "")
    return redaction.apply(message) if redaction is not None else message


@dataclass(frozen=True)
class TraceView:
    trace_id: str
    started_at: dt.datetime
    duration: str
    spans: list[SpanView]
    agent_names: list[str]
    input_tokens: int
    output_tokens: int
    cost: str
    status: str


def trace_view(
    trace_id: str,
    rows: list[dict[str, Any]],
    names: dict[str, str],
    redaction: Redaction | None = None,
    *,
    bodies: bool = True,
) -> TraceView:
    """``bodies``: whether the viewer may read prompts and responses; without it they
    are left out (telemetry.body_access) and the rest of each span is shown."""
    starts = [as_utc(row["start_time"]) for row in rows]
    ends = [as_utc(row["end_time"]) for row in rows]
    begin, finish = min(starts), max(max(ends), max(starts))
    total = max((finish - begin).total_seconds(), 1e-6)
    spans = []
    for row, depth in _tree_order(rows):
        start, end = as_utc(row["start_time"]), as_utc(row["end_time"])
        length = max((end - start).total_seconds(), 0.0)
        offset = min(max((start - begin).total_seconds() / total * 100, 0.0), 100.0)
        width = min(max(length / total * 100, MIN_BAR_WIDTH), 100.0 - offset)
        spans.append(
            SpanView(
                span_id=str(row["span_id"]),
                depth=depth,
                kind=str(row["kind"]),
                name=str(row["name"]),
                provider=str(row.get("provider") or ""),
                model=str(row.get("model") or ""),
                tool=str(row.get("tool") or ""),
                input_tokens=int(row.get("input_tokens") or 0),
                output_tokens=int(row.get("output_tokens") or 0),
                cost=format_money(row.get("cost")),
                status=str(row.get("status") or "ok"),
                status_message=_message(row.get("status_message"), redaction),
                agent_name=_agent_label(names, row.get("agent_id")),
                data_classes=[str(c) for c in row.get("data_classes") or []],
                start_offset=format_duration((start - begin).total_seconds()),
                duration=format_duration(length),
                bar_offset=f"{offset:.3f}",
                bar_width=f"{max(width, 0.0):.3f}",
                request_body=pretty_body(row.get("request_body"), redaction) if bodies else "",
                response_body=pretty_body(row.get("response_body"), redaction) if bodies else "",
                attributes=_attributes(row.get("attributes"), redaction),
            )
        )
    return TraceView(
        trace_id=trace_id,
        started_at=begin,
        duration=format_duration(total if total > 1e-6 else 0.0),
        spans=spans,
        agent_names=sorted({span.agent_name for span in spans}),
        input_tokens=sum(span.input_tokens for span in spans),
        output_tokens=sum(span.output_tokens for span in spans),
        cost=format_money(sum((to_decimal(row.get("cost")) for row in rows), Decimal(0))),
        status=span_store.trace_status({span.status for span in spans}),
    )


def trace(scope: Scope, trace_id: str) -> HttpResponse:
    if not TRACE_ID.fullmatch(trace_id):
        raise Http404
    rows = span_store.trace_spans(scope.tenant.pk, trace_id, departments=scope.departments)
    if not rows:
        raise Http404
    if scope.period is not None and not scope.period.covers(
        min(as_utc(row["start_time"]) for row in rows)
    ):
        raise Http404  # outside an auditor's period: as if it did not exist
    redaction = _redaction(scope)
    bodies = scope.can_read_bodies
    at_edge = EdgeBodies()
    if bodies:
        at_edge = edge_bodies_fill(
            tenant_id=scope.tenant.pk, trace_id=trace_id, rows=rows, actor=scope.actor
        )
    view = trace_view(trace_id, rows, _agent_names(scope), redaction, bodies=bodies)
    context = {
        "scope": scope,
        "trace": view,
        "redacted": redaction is not None and bodies,
        "withheld_note": "" if bodies else WITHHELD_NOTE,
        "residency_note": at_edge.note,
        "edge_unreachable": bool(at_edge.unreachable),
    }
    return render(scope.request, "traces/detail.html", context)


TRACES = tenant_views(traces, READ)
TRACE = tenant_views(trace, READ)

"""The data-flow diagram of one tenant (portal and console): the current diagram of a
time range, its SVG download, and saved snapshots with their date and hash.

The graph and the SVG come from ``compliance`` (selectors, services, dataflow); these
views only read the input, call them, and answer. The SVG is our own escaped output, so
the page embeds it as markup (no script: the CSP allows none inline).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone

from compliance import selectors, services
from compliance.dataflow import Graph, content_hash, flow_table, render_svg
from compliance.forms import DEFAULT_RANGE, DataFlowRangeForm, SnapshotForm
from compliance.models import DataFlowSnapshot
from controlplane.agents.models import Agent
from controlplane.analytics import StoreError
from controlplane.web.scope import READ, WRITE, Scope, tenant_views

logger = logging.getLogger(__name__)

SVG_TYPE = "image/svg+xml; charset=utf-8"


def _stamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y%m%dT%H%MZ")


def _svg_download(svg: str, filename: str) -> HttpResponse:
    response = HttpResponse(svg.encode("utf-8"), content_type=SVG_TYPE)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "private, no-cache"
    return response


def _range_form(scope: Scope) -> DataFlowRangeForm:
    query = scope.request.GET.copy()
    if not query.get("range"):
        query["range"] = DEFAULT_RANGE
    agents = scope.in_departments(scope.rows(Agent)).order_by("name")
    choices = [(str(pk), name) for pk, name in agents.values_list("pk", "name")]
    return DataFlowRangeForm(data=query, agent_choices=choices)


def _graph(scope: Scope, form: DataFlowRangeForm, since: dt.datetime, until: dt.datetime) -> Graph:
    return selectors.dataflow_graph(
        tenant=scope.tenant,
        since=since,
        until=until,
        departments=scope.departments,
        agent_id=form.agent_id,
        group_agents=form.group_agents,
    )


def _window(scope: Scope, form: DataFlowRangeForm) -> tuple[dt.datetime, dt.datetime]:
    """The form's window; an auditor's lies inside their period (its last week unless
    they give dates: the package holds the diagram of the whole period)."""
    if scope.period is not None and not (form.is_valid() and form.cleaned_data.get("since")):
        return scope.clamp(scope.period.until - dt.timedelta(days=7), scope.period.until)
    return scope.clamp(*form.window(timezone.now()))


def _whole_tenant(scope: Scope) -> bool:
    """Snapshots are the tenant's evidence, of every department: a department-scoped
    person sees the live diagram of their departments only, and no snapshots."""
    return scope.departments is None


def dataflow(scope: Scope) -> HttpResponse:
    form = _range_form(scope)
    since, until = _window(scope, form)
    whole = _whole_tenant(scope)
    snapshots = selectors.dataflow_snapshots(scope.tenant) if whole else []
    context: dict[str, Any] = {
        "scope": scope,
        "form": form,
        "since": since,
        "until": until,
        "snapshots": [s for s in snapshots if scope.in_period(s.since, s.until)],
        "snapshot_form": SnapshotForm(initial={"since": since, "until": until}),
        "svg_url": f"{scope.url('dataflow_svg')}?{scope.request.GET.urlencode()}",
        "can_save": scope.can_edit and whole,
        "departments_only": not whole,
        "unavailable": False,
    }
    try:
        graph = _graph(scope, form, since, until)
    except StoreError:
        logger.exception("data-flow graph of tenant %s failed", scope.tenant.pk)
        context["unavailable"] = True
        return render(scope.request, "compliance/dataflow.html", context)
    context |= {
        "graph": graph,
        # On the page the table of flows below is the legend; the download keeps its own.
        "svg": render_svg(graph, legend=False),
        "content_hash": content_hash(render_svg(graph)),
        "flows": flow_table(graph.as_dict()),
    }
    return render(scope.request, "compliance/dataflow.html", context)


def dataflow_svg(scope: Scope) -> HttpResponse:
    form = _range_form(scope)
    since, until = _window(scope, form)
    try:
        graph = _graph(scope, form, since, until)
    except StoreError:
        logger.exception("data-flow SVG of tenant %s failed", scope.tenant.pk)
        return HttpResponse(
            "The trace store did not answer; try again in a minute.",
            status=503,
            content_type="text/plain; charset=utf-8",
        )
    filename = f"dataflow-{scope.tenant.slug}-{_stamp(since)}-{_stamp(until)}.svg"
    return _svg_download(render_svg(graph), filename)


def dataflow_snapshot_create(scope: Scope) -> HttpResponse:
    if not scope.can_edit or not _whole_tenant(scope):
        raise PermissionDenied("Your role cannot save snapshots.")
    form = SnapshotForm(data=scope.request.POST)
    if not form.is_valid():
        messages.error(scope.request, "The snapshot could not be saved: the range is not valid.")
        return redirect(scope.url("dataflow"))
    try:
        snapshot, created = services.dataflow_snapshot_create(
            tenant=scope.tenant,
            since=form.cleaned_data["since"],
            until=form.cleaned_data["until"],
            actor=scope.actor,
        )
    except ValidationError as error:
        messages.error(scope.request, " ".join(error.messages))
        return redirect(scope.url("dataflow"))
    except StoreError:
        logger.exception("data-flow snapshot of tenant %s failed", scope.tenant.pk)
        messages.error(scope.request, "The trace store did not answer; nothing was saved.")
        return redirect(scope.url("dataflow"))
    if created:
        messages.success(scope.request, "Snapshot saved.")
    else:
        messages.info(
            scope.request,
            "The diagram has not changed since the snapshot of "
            f"{snapshot.created_at.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC; "
            "that snapshot is shown, no copy was made.",
        )
    return redirect(scope.url("dataflow_snapshot", snapshot.pk))


def _snapshot(scope: Scope, pk: uuid.UUID) -> DataFlowSnapshot:
    snapshot = selectors.dataflow_snapshot(tenant=scope.tenant, snapshot_id=pk)
    if snapshot is None or not _whole_tenant(scope):
        raise Http404
    if not scope.in_period(snapshot.since, snapshot.until):
        raise Http404  # outside an auditor's period
    return snapshot


def dataflow_snapshot(scope: Scope, pk: uuid.UUID) -> HttpResponse:
    snapshot = _snapshot(scope, pk)
    range_query = urlencode(
        {
            "since": snapshot.since.astimezone(dt.UTC).date().isoformat(),
            "until": (snapshot.until - dt.timedelta(microseconds=1))
            .astimezone(dt.UTC)
            .date()
            .isoformat(),
        }
    )
    context = {
        "scope": scope,
        "snapshot": snapshot,
        "flows": flow_table(snapshot.graph),
        "spans": snapshot.graph.get("spans", 0),
        "svg_url": scope.url("dataflow_snapshot_svg", snapshot.pk),
        "current_url": f"{scope.url('dataflow')}?{range_query}",
    }
    return render(scope.request, "compliance/snapshot.html", context)


def dataflow_snapshot_svg(scope: Scope, pk: uuid.UUID) -> HttpResponse:
    snapshot = _snapshot(scope, pk)
    filename = (
        f"dataflow-{scope.tenant.slug}-{_stamp(snapshot.since)}-{_stamp(snapshot.until)}"
        f"-snapshot-{snapshot.created_at.astimezone(dt.UTC):%Y%m%d}"
        f"-{snapshot.content_hash[:12]}.svg"
    )
    return _svg_download(snapshot.svg, filename)


DATAFLOW = tenant_views(dataflow, READ)
DATAFLOW_SVG = tenant_views(dataflow_svg, READ)
DATAFLOW_SNAPSHOT_CREATE = tenant_views(dataflow_snapshot_create, WRITE)
DATAFLOW_SNAPSHOT = tenant_views(dataflow_snapshot, READ)
DATAFLOW_SNAPSHOT_SVG = tenant_views(dataflow_snapshot_svg, READ)

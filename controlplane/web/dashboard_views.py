"""The three-domain dashboards of one tenant (portal and console) and the staff fleet view.

Utilization and faults come from ClickHouse's per-minute rollup
(``controlplane.dashboards.queries``), operations from PostgreSQL
(``controlplane.dashboards.operations``). The time range and the filters are GET
parameters, so a view can be shared by its URL. Each panel refreshes itself with htmx:
the page asks ``?panel=<name>`` with the same parameters and swaps in just that panel.
Charts are drawn by static/js/dashboards.js from ``<script type="application/json">``
blocks (the CSP allows no inline script; data blocks are not executed).
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.core.validators import RegexValidator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from billing.models import BillingAccount
from controlplane.agents.models import Agent, EdgeNode, EdgeNodeVersionChange
from controlplane.analytics import StoreError
from controlplane.dashboards import operations, panels
from controlplane.dashboards.panels import PanelData
from controlplane.dashboards.queries import Filters, Window, utc
from controlplane.gateway.models import ConfigChange
from controlplane.tasks_runtime import queue_depths
from controlplane.telemetry.models import DeadLetter
from controlplane.web.edge_status import DOWN, LATE
from controlplane.web.formatting import (
    currency_symbol,
    format_change,
    format_money,
    format_ms,
    format_percent,
)
from controlplane.web.htmx import vary_on_htmx, wants_fragment
from controlplane.web.scope import READ, Scope, tenant_views
from controlplane.web.security_views import faults_slot
from tenants.models import Department

logger = logging.getLogger(__name__)

# range: (label, length, chart bucket)
RANGES: dict[str, tuple[str, dt.timedelta, dt.timedelta]] = {
    "1h": ("Last hour", dt.timedelta(hours=1), dt.timedelta(minutes=1)),
    "24h": ("Last 24 hours", dt.timedelta(hours=24), dt.timedelta(minutes=15)),
    "7d": ("Last 7 days", dt.timedelta(days=7), dt.timedelta(hours=1)),
    "30d": ("Last 30 days", dt.timedelta(days=30), dt.timedelta(hours=6)),
}
DEFAULT_RANGE = "24h"
PANELS = ("utilization", "faults", "operations")
CLICKHOUSE_PANELS = {"utilization", "faults"}
# Dashboard costs are what the providers charge at the MSP's list prices
# (billing.ModelPrice, in US dollars), not what a tenant is invoiced (decision 0038).
COST_CURRENCY = "USD"
REFRESH = {"utilization": "every 10s", "faults": "every 10s", "operations": "every 30s"}
LABEL = RegexValidator(r"^[A-Za-z0-9._:/@-]{1,200}$", "Use a provider or model name as shown.")


MAX_CUSTOM_DAYS = 92


def custom_window(first: dt.date, last: dt.date) -> Window:
    """Whole UTC days ``first`` to ``last``, in buckets that keep a chart readable and
    fit the rollups: 15 minutes up to two days, hours up to two weeks, then 6 hours."""
    since = dt.datetime.combine(first, dt.time(), dt.UTC)
    until = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), dt.UTC)
    days = (until - since).days
    bucket = 900 if days <= 2 else 3600 if days <= 14 else 6 * 3600
    return Window(since=since, until=until, bucket_seconds=bucket)


def window_of(range_key: str, now: dt.datetime) -> Window:
    _, length, bucket = RANGES[range_key]
    seconds = int(bucket.total_seconds())
    # Whole buckets, up to the end of the current one: charts do not shift between refreshes.
    epoch = int(now.timestamp())
    until = dt.datetime.fromtimestamp(epoch - epoch % seconds + seconds, dt.UTC)
    return Window(since=until - length, until=until, bucket_seconds=seconds)


class DashboardFilterForm(forms.Form):
    range = forms.ChoiceField(
        required=False,
        label="Time range",
        choices=[(key, label) for key, (label, _, _) in RANGES.items()],
    )
    since = forms.DateField(
        required=False, label="From (UTC)", widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        required=False, label="To (UTC, included)", widget=forms.DateInput(attrs={"type": "date"})
    )
    agent = forms.ChoiceField(required=False, choices=())
    department = forms.ChoiceField(required=False, choices=())
    provider = forms.CharField(required=False, max_length=200, validators=[LABEL])
    model = forms.CharField(required=False, max_length=200, validators=[LABEL])

    def __init__(
        self,
        *args: Any,
        agents: Callable[[], dict[str, str]],
        departments: Callable[[], dict[str, str]],
        **kwargs: Any,
    ) -> None:
        """``agents`` and ``departments``: their names by id (as text), in the order listed,
        asked for only when the select is drawn or one is chosen."""
        super().__init__(*args, **kwargs)
        agent_field, department_field = self.fields["agent"], self.fields["department"]
        assert isinstance(agent_field, forms.ChoiceField)
        assert isinstance(department_field, forms.ChoiceField)
        # Callables: a tenant's hundreds of agents are made choices only when the select
        # is drawn or an agent is asked for, not for every panel refresh (~1 ms).
        agent_field.choices = lambda: [("", "All agents"), *agents().items()]
        department_field.choices = lambda: [("", "All departments"), *departments().items()]
        for name in ("provider", "model"):
            self.fields[name].widget.attrs["placeholder"] = "Any"

    def clean(self) -> dict[str, Any]:
        """Two dates (whole UTC days, both included) win over the range, as on the
        data-flow page."""
        data = super().clean() or {}
        since, until = data.get("since"), data.get("until")
        if (since is None) != (until is None):
            raise forms.ValidationError("Give both dates, or neither to use the time range.")
        if since is not None and until is not None:
            if since > until:
                self.add_error("until", "The last day comes before the first.")
            elif (until - since).days + 1 > MAX_CUSTOM_DAYS:
                self.add_error("until", f"Choose at most {MAX_CUSTOM_DAYS} days.")
        return data

    @property
    def custom(self) -> bool:
        return self.is_valid() and self.cleaned_data.get("since") is not None

    @property
    def range_key(self) -> str:
        value = self.cleaned_data.get("range") if self.is_valid() else None
        return value or DEFAULT_RANGE

    def window(self, now: dt.datetime) -> Window:
        if not self.custom:
            return window_of(self.range_key, now)
        return custom_window(self.cleaned_data["since"], self.cleaned_data["until"])

    @property
    def range_label(self) -> str:
        if not self.custom:
            return RANGES[self.range_key][0]
        since, until = self.cleaned_data["since"], self.cleaned_data["until"]
        return f"From {since:%Y-%m-%d} to {until:%Y-%m-%d}"

    def filters(self, departments: frozenset[uuid.UUID] | None) -> Filters:
        """The chosen filters, within ``departments`` (a department-scoped person's)."""
        if not self.is_valid():
            return Filters(departments=departments)
        data = self.cleaned_data
        return Filters(
            departments=departments,
            agent_id=uuid.UUID(data["agent"]) if data["agent"] else None,
            department_id=uuid.UUID(data["department"]) if data["department"] else None,
            provider=data["provider"] or None,
            model=data["model"] or None,
        )


# --- presentation ---------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One line of a breakdown table."""

    label: str
    requests: int
    faults: int
    timeouts: int
    fault_rate: str
    input_tokens: int
    output_tokens: int
    cost: str
    p50: str
    p95: str
    traces_url: str


def _names(rows: QuerySet[Any]) -> dict[str, str]:
    """Names by id (as text), in the order of the names."""
    return {str(pk): name for pk, name in rows.order_by("name").values_list("pk", "name")}


class Names:
    """A tenant's agent and department names by id (as text), in the order of the names,
    read when first asked for: a refresh reads them while ClickHouse answers. Names only,
    no model instances: a large tenant has hundreds of agents."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope

    @functools.cached_property
    def agents(self) -> dict[str, str]:
        return _names(self.scope.in_departments(self.scope.rows(Agent)))

    @functools.cached_property
    def departments(self) -> dict[str, str]:
        return _names(self.scope.in_departments(self.scope.rows(Department), "pk"))


@dataclass
class Context:
    scope: Scope
    window: Window
    filters: Filters
    names: Names

    @functools.cached_property
    def traces_page(self) -> str:
        return self.scope.url("traces")

    @functools.cached_property
    def buckets(self) -> tuple[list[str], list[str]]:
        """Every chart bucket of the range: its start, and the URL of its traces (made
        once for all the page's charts)."""
        step = dt.timedelta(seconds=self.window.bucket_seconds)
        count = max(int((self.window.until - self.window.since) / step), 1)
        starts = [self.window.since + step * i for i in range(count)]
        x = [start.isoformat() for start in starts]
        return x, [self.traces_url(since=start, until=start + step) for start in starts]

    @functools.cached_property
    def nodes(self) -> list[operations.NodeVersion]:
        """The tenant's edge nodes (read once for every panel of the request)."""
        return operations.node_versions(self.scope.rows(EdgeNode), timezone.now())

    def traces_url(
        self,
        *,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        agent: str | None = None,
    ) -> str:
        """The trace list of these minutes (the whole range by default), agent and the
        page's other filters."""
        params = {
            "since": (since or self.window.since).isoformat(),
            "until": (until or self.window.until).isoformat(),
        }
        agent = agent or (str(self.filters.agent_id) if self.filters.agent_id else None)
        if agent:
            params["agent"] = agent
        if self.filters.department_id:
            params["department"] = str(self.filters.department_id)
        for name in ("provider", "model"):
            if value := getattr(self.filters, name):
                params[name] = value
        return f"{self.traces_page}?{urlencode(params)}"

    def label(self, dimension: str, key: Any) -> str:
        text = str(key or "")
        if dimension == "agent":
            return self.names.agents.get(text) or f"unknown agent {text[:8]}"
        if dimension == "department":
            if text in ("", str(uuid.UUID(int=0))):
                return "No department"
            return self.names.departments.get(text) or f"unknown department {text[:8]}"
        return text or "—"


def _rows(ctx: Context, dimension: str, found: list[dict[str, Any]]) -> list[Row]:
    rows = []
    for item in found:
        requests, faults = int(item.get("requests") or 0), int(item.get("faults") or 0)
        agent = str(item["key"]) if dimension == "agent" else None
        rows.append(
            Row(
                label=ctx.label(dimension, item["key"]),
                requests=requests,
                faults=faults,
                timeouts=int(item.get("timeouts") or 0),
                fault_rate=format_percent(faults, requests),
                input_tokens=int(item.get("input_tokens") or 0),
                output_tokens=int(item.get("output_tokens") or 0),
                cost=format_money(item.get("cost")),
                p50=format_ms(item.get("p50_ms")),
                p95=format_ms(item.get("p95_ms")),
                traces_url=ctx.traces_url(agent=agent) if agent else "",
            )
        )
    return rows


def _series_chart(
    ctx: Context,
    series: list[dict[str, Any]],
    fields: list[tuple[str, str]],
    *,
    unit: str,
    money: bool = False,
) -> dict[str, Any]:
    """Plotly traces of ``series`` (one per ``(column, name)``: the first as bars, the
    others as lines), every bucket of the range present (zero without data). The
    buckets' starts (``x``) and the URLs of their traces (``links``, which a click on a
    point opens) are given once for the chart's traces. ``unit`` labels the axis and
    the hovers; money gets the currency symbol and cents (tenths of a cent below ten
    cents) instead of SI prefixes, which wrote four cents as "40m"."""
    step = dt.timedelta(seconds=ctx.window.bucket_seconds)
    x, links = ctx.buckets
    count = len(x)
    values = {column: [0.0] * count for column, _ in fields}
    for item in series:
        index = int((bucket_start(item["bucket"]) - ctx.window.since) / step)
        if 0 <= index < count:
            for column, _ in fields:
                values[column][index] += float(item.get(column) or 0)
    return {
        "x": x,
        "links": links,
        "traces": [
            {
                "type": "bar" if index == 0 else "scatter",
                "name": name,
                "y": values[column],
                **({} if index == 0 else {"mode": "lines"}),
            }
            for index, (column, name) in enumerate(fields)
        ],
        "range": [ctx.window.since.isoformat(), ctx.window.until.isoformat()],
        "axis": _axis(unit, money, max((max(v, default=0.0) for v in values.values()), default=0)),
    }


def _axis(unit: str, money: bool, largest: float) -> dict[str, str]:
    if not money:
        return {"title": unit, "tickformat": "~s", "hoverformat": ",.0f", "prefix": ""}
    places = 2 if largest >= 0.1 else 4
    return {
        "title": unit,
        "tickformat": f",.{places}f",
        "hoverformat": f",.{places}f",
        "prefix": currency_symbol(COST_CURRENCY),
    }


bucket_start = utc

# --- panels -----------------------------------------------------------------------------


def utilization_panel(ctx: Context, data: PanelData) -> dict[str, Any]:
    totals, before = data.overview.totals, data.overview.before
    series, usage = data.overview.series, data.breakdowns.usage
    tokens = totals["input_tokens"] + totals["output_tokens"]
    return {
        "totals": {**totals, "cost_text": format_money(totals["cost"]), "tokens": tokens},
        "changes": {
            "requests": format_change(totals["requests"], before["requests"]),
            "tokens": format_change(tokens, before["input_tokens"] + before["output_tokens"]),
            "cost": format_change(totals["cost"], before["cost"]),
        },
        "requests_chart": _series_chart(
            ctx,
            series,
            [("requests", "Requests"), ("faults", "Errors and timeouts")],
            unit="requests",
        ),
        "tokens_chart": _series_chart(
            ctx,
            series,
            [("input_tokens", "Input tokens"), ("output_tokens", "Output tokens")],
            unit="tokens",
        ),
        "cost_chart": _series_chart(
            ctx, series, [("cost", "Provider cost")], unit=COST_CURRENCY, money=True
        ),
        "has_data": totals["requests"] > 0,
        "by_provider": _rows(ctx, "provider", usage["provider"]),
        "by_model": _rows(ctx, "model", usage["model"]),
        "by_agent": _rows(ctx, "agent", usage["agent"]),
        "by_department": _rows(ctx, "department", usage["department"]),
        "edges": ctx.nodes,
        # The MSP's own task queues, shared by every tenant: staff only.
        "queues": queue_depths() if ctx.scope.area == "console" else None,
    }


def faults_panel(ctx: Context, data: PanelData) -> dict[str, Any]:
    totals, before, hotspots = data.overview.totals, data.overview.before, data.breakdowns.hotspots
    return {
        "totals": {**totals, "fault_rate": format_percent(totals["faults"], totals["requests"])},
        "changes": {"faults": format_change(totals["faults"], before["faults"])},
        "has_data": totals["requests"] > 0,
        "faults_chart": _series_chart(
            ctx,
            data.overview.series,
            [("faults", "Errors and timeouts"), ("timeouts", "Timeouts"), ("refused", "Refused")],
            unit="requests",
        ),
        "by_agent": _rows(ctx, "agent", hotspots["agent"]),
        "by_tool": _rows(ctx, "tool", hotspots["tool"]),
        "by_provider": _rows(ctx, "provider", hotspots["provider"]),
        "providers": _provider_rows(data.breakdowns.availability or [], data.attempts or []),
        "troubled_edges": [node for node in ctx.nodes if node.state in (DOWN, LATE)],
        "security": faults_slot(ctx.scope, ctx.window.since, ctx.window.until, ctx.filters),
    }


def _provider_rows(
    availability: list[dict[str, Any]], attempts: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Provider availability (model calls) beside the gateway's attempts at it; a
    provider the gateway only failed over from still gets its row."""
    tried = {str(item["provider"]): item for item in attempts}
    rows = []
    for item in availability:
        requests, faults = int(item["requests"] or 0), int(item["faults"] or 0)
        gateway = tried.pop(str(item["provider"]), {})
        rows.append(
            {
                "provider": str(item["provider"]),
                "requests": requests,
                "faults": faults,
                "timeouts": int(item["timeouts"] or 0),
                "success": format_percent(requests - faults, requests),
                "p50": format_ms(item.get("p50_ms")),
                "p95": format_ms(item.get("p95_ms")),
                "failovers": int(gateway.get("failovers") or 0),
                "breaker_trips": int(gateway.get("breaker_trips") or 0),
            }
        )
    for name, gateway in tried.items():
        attempted, failures = int(gateway["attempts"] or 0), int(gateway["failures"] or 0)
        rows.append(
            {
                "provider": name,
                "requests": attempted,
                "faults": failures,
                "timeouts": int(gateway["timeouts"] or 0),
                "success": format_percent(attempted - failures, attempted),
                "p50": format_ms(None),
                "p95": format_ms(None),
                "failovers": int(gateway["failovers"] or 0),
                "breaker_trips": int(gateway["breaker_trips"] or 0),
            }
        )
    return rows


def operations_panel(ctx: Context, data: PanelData | None) -> dict[str, Any]:
    scope, now = ctx.scope, timezone.now()
    credentials = operations.credential_ages(operations.tenant_credentials(scope.tenant.pk), now)
    msp = (
        operations.credential_ages(operations.msp_credentials(), now)
        if scope.area == "console"
        else []
    )
    nodes = ctx.nodes
    return {
        "nodes": nodes,
        "outdated": sum(1 for n in nodes if n.outdated),
        "behind_release": sum(1 for n in nodes if n.behind_release),
        "current_release": operations.CURRENT_EDGE_RELEASE,
        "deployments": operations.deployments(scope.rows(EdgeNodeVersionChange)),
        "dead_letters": operations.dead_letters(scope.rows(DeadLetter)),
        "dead_letter_total": sum(node.node.dead_letter_count for node in nodes),
        "changes": operations.config_changes(scope.rows(ConfigChange)),
        "credentials": credentials,
        "msp_credentials": msp,
        "max_age_days": operations.CREDENTIAL_MAX_AGE.days,
    }


PANEL_BUILDERS: dict[str, Callable[[Context, Any], dict[str, Any]]] = {
    "utilization": utilization_panel,
    "faults": faults_panel,
    "operations": operations_panel,
}


def _panel(ctx: Context, name: str, pending: panels.Pending | None) -> dict[str, Any]:
    """The panel's context; a ClickHouse outage leaves the panel with a message."""
    try:
        _ = ctx.nodes  # PostgreSQL while the queries run
        data = None
        if pending is not None and name in CLICKHOUSE_PANELS:
            _ = ctx.names.agents, ctx.names.departments  # the labels of its rows
            data = pending.wait()
        return {"ok": True, **PANEL_BUILDERS[name](ctx, data)}
    except StoreError:
        logger.exception("dashboard panel %s of tenant %s failed", name, ctx.scope.tenant.pk)
        return {"ok": False}


def _start(ctx: Context, names: set[str]) -> panels.Pending | None:
    """The ClickHouse queries of the panels ``names``, started on the query pool; the
    caller reads PostgreSQL and renders meanwhile."""
    if not names & CLICKHOUSE_PANELS:
        return None
    return panels.start(ctx.scope.tenant.pk, ctx.window, ctx.filters, attempts="faults" in names)


def _cost_note(scope: Scope) -> str:
    """What the cost figures are, when the tenant is billed in another currency."""
    account = scope.rows(BillingAccount).only("currency").first()
    currency = account.currency.upper() if account is not None else COST_CURRENCY
    if currency == COST_CURRENCY:
        return ""
    return (
        f"Costs are provider costs at list prices, in {COST_CURRENCY}. Invoices are in "
        f"{currency} and follow the billing plan (fees, markup, included usage)."
    )


def _panel_url(request: HttpRequest, name: str) -> str:
    query = request.GET.copy()
    query["panel"] = name
    return f"{request.path}?{query.urlencode()}"


def dashboards(scope: Scope) -> HttpResponse:
    names = Names(scope)
    query = scope.request.GET.copy()
    query.pop("panel", None)
    if not query.get("range"):
        query["range"] = DEFAULT_RANGE
    form = DashboardFilterForm(
        data=query, agents=lambda: names.agents, departments=lambda: names.departments
    )
    ctx = Context(
        scope=scope,
        window=form.window(timezone.now()),
        filters=form.filters(scope.departments),
        names=names,
    )
    requested = scope.request.GET.get("panel", "")
    fragment = requested in PANELS and wants_fragment(scope.request)
    shown = [requested] if fragment else list(PANELS)
    pending = _start(ctx, set(shown))
    # PostgreSQL while ClickHouse answers: the cost note and the operations panel first.
    cost_note = _cost_note(scope) if "utilization" in shown else ""
    built = {
        name: _panel(ctx, name, pending)
        for name in sorted(shown, key=CLICKHOUSE_PANELS.__contains__)
    }
    base = {
        "scope": scope,
        "ctx": ctx,
        "form": form,
        "range_label": form.range_label,
        "cost_note": cost_note,
    }
    if fragment:
        context = {**base, "panel": built[requested], "name": requested}
        return vary_on_htmx(render(scope.request, f"dashboards/_{requested}.html", context))
    sections = [
        {
            "name": name,
            "data": built[name],
            "url": _panel_url(scope.request, name),
            "trigger": REFRESH[name],
            "template": f"dashboards/_{name}.html",
        }
        for name in PANELS
    ]
    context = {**base, "panels": sections, "filtered": ctx.filters.active}
    return vary_on_htmx(render(scope.request, "dashboards/page.html", context))


DASHBOARDS = tenant_views(dashboards, READ)

"""The staff fleet view: every tenant at a glance, worst first.

Per tenant: traffic with a sparkline and its change against the previous period of the
same length, errors, refusals, latency, cost, the tenant-wide budget's burn this
period, and its edge nodes up, late and down. Sortable by any of them.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_safe

from controlplane.agents.models import EdgeNode
from controlplane.analytics import StoreError
from controlplane.core.tenancy import all_tenants_context, tenant_context
from controlplane.dashboards import panels
from controlplane.dashboards.queries import Window
from controlplane.gateway.models import Budget
from controlplane.gateway.selectors import budget_status
from controlplane.tasks_runtime import queue_depths
from controlplane.web.access import staff_view
from controlplane.web.dashboard_views import (
    DEFAULT_RANGE,
    RANGES,
    bucket_start,
    previous_window,
    window_of,
)
from controlplane.web.edge_status import DOWN, HEALTHY, LATE, node_state
from controlplane.web.formatting import format_change, format_money, format_ms, format_percent
from controlplane.web.htmx import vary_on_htmx, wants_fragment
from controlplane.web.sorting import Column, sort_links, sort_rows
from tenants.models import Tenant

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BudgetBurn:
    """The tenant-wide budget closest to its limit, in its current period."""

    used: Decimal  # 1 = at the limit
    limit: str
    period: str

    @property
    def percent(self) -> int:
        return int((self.used * 100).to_integral_value())


@dataclass(frozen=True)
class TenantHealth:
    tenant: Tenant
    requests: int
    previous_requests: int
    faults: int
    refused: int
    fault_rate: float
    fault_rate_text: str
    cost: Decimal
    previous_cost: Decimal
    p95: str
    spark: str  # SVG polyline points, "" without traffic
    budget: BudgetBurn | None
    edges_up: int
    edges_down: int
    edges_late: int
    edges_total: int

    @property
    def score(self) -> tuple[float, int, int, int]:
        """Sort key, worst first: fault rate, then down and late edges, then traffic."""
        return (-self.fault_rate, -self.edges_down, -self.edges_late, -self.requests)

    @property
    def cost_text(self) -> str:
        return format_money(self.cost)

    @property
    def requests_change(self) -> str:
        return format_change(self.requests, self.previous_requests)

    @property
    def cost_change(self) -> str:
        return format_change(self.cost, self.previous_cost)


SORTS: dict[str, Column[TenantHealth]] = {
    "health": Column("Health", lambda r: r.score, largest_first=False),
    "tenant": Column("Tenant", lambda r: r.tenant.name.lower(), largest_first=False),
    "requests": Column("Requests", lambda r: r.requests),
    "errors": Column("Error rate", lambda r: r.fault_rate),
    "cost": Column("Cost", lambda r: r.cost),
    "budget": Column("Budget used", lambda r: r.budget.used if r.budget else Decimal(-1)),
    "edges": Column("Edge nodes down", lambda r: (r.edges_down, r.edges_late)),
}


def sparkline(window: Window, series: list[dict[str, Any]]) -> str:
    """Points of an SVG polyline in a 100 by 24 box, one per bucket of ``window``."""
    step = dt.timedelta(seconds=window.bucket_seconds)
    count = max(int((window.until - window.since) / step), 1)
    values = [0.0] * count
    for item in series:
        index = int((bucket_start(item["bucket"]) - window.since) / step)
        if 0 <= index < count:
            values[index] += float(item.get("requests") or 0)
    peak = max(values)
    if not peak:
        return ""
    width = 100 / max(count - 1, 1)
    return " ".join(f"{i * width:.1f},{23 - v / peak * 22:.1f}" for i, v in enumerate(values))


def _budget_burns(now: dt.datetime) -> dict[uuid.UUID, BudgetBurn]:
    """Per tenant with a tenant-wide budget, the one closest to its limit."""
    with all_tenants_context():
        tenants = set(
            Budget.unscoped.filter(scope=Budget.Scope.TENANT).values_list("tenant_id", flat=True)
        )
    burns: dict[uuid.UUID, BudgetBurn] = {}
    for tenant_id in tenants:
        with tenant_context(tenant_id):
            statuses = [s for s in budget_status(now=now) if s.budget.scope == Budget.Scope.TENANT]
        if statuses:
            worst = max(statuses, key=lambda s: s.used)
            burns[tenant_id] = BudgetBurn(
                used=worst.used,
                limit=format_money(worst.budget.limit),
                period=worst.budget.get_period_display().lower(),
            )
    return burns


def fleet_rows(window: Window, now: dt.datetime) -> list[TenantHealth]:
    pending = panels.start_fleet(window, previous_window(window))
    # PostgreSQL while ClickHouse answers.
    burns = _budget_burns(now)
    edges: dict[uuid.UUID, list[str]] = {}
    with all_tenants_context():
        for node in EdgeNode.unscoped.all():
            edges.setdefault(node.tenant_id, []).append(node_state(node, now))
        tenants = list(Tenant.objects.order_by("name"))
    found = pending.results()
    usage = {str(row["tenant_id"]): row for row in found["usage"]}
    previous = {str(row["tenant_id"]): row for row in found["previous"]}
    series: dict[str, list[dict[str, Any]]] = {}
    for item in found["series"]:
        series.setdefault(str(item["tenant_id"]), []).append(item)
    rows = []
    for tenant in tenants:
        key = str(tenant.pk)
        row, last = usage.get(key, {}), previous.get(key, {})
        requests, faults = int(row.get("requests") or 0), int(row.get("faults") or 0)
        states = edges.get(tenant.pk, [])
        rows.append(
            TenantHealth(
                tenant=tenant,
                requests=requests,
                previous_requests=int(last.get("requests") or 0),
                faults=faults,
                refused=int(row.get("refused") or 0),
                fault_rate=faults / requests if requests else 0.0,
                fault_rate_text=format_percent(faults, requests),
                cost=Decimal(str(row.get("cost") or 0)),
                previous_cost=Decimal(str(last.get("cost") or 0)),
                p95=format_ms(row.get("p95_ms")) if requests else "—",
                spark=sparkline(window, series.get(key, [])),
                budget=burns.get(tenant.pk),
                edges_up=states.count(HEALTHY),
                edges_down=states.count(DOWN),
                edges_late=states.count(LATE),
                edges_total=len(states),
            )
        )
    rows.sort(key=lambda r: (r.score, r.tenant.name))
    return rows


@staff_view()
@require_safe
def fleet(request: HttpRequest) -> HttpResponse:
    range_key = request.GET.get("range") or DEFAULT_RANGE
    if range_key not in RANGES:
        range_key = DEFAULT_RANGE
    sort = request.GET.get("sort") or "health"
    if sort.removeprefix("-") not in SORTS:
        sort = "health"
    window = window_of(range_key, timezone.now())
    unavailable = False
    try:
        rows = sort_rows(fleet_rows(window, timezone.now()), SORTS, sort)
    except StoreError:
        logger.exception("fleet overview failed")
        rows, unavailable = [], True
    base = reverse("web:console_fleet")
    context = {
        "rows": rows,
        "queues": queue_depths(),
        "unavailable": unavailable,
        "range_key": range_key,
        "sort": sort,
        "sort_links": sort_links(base, {"range": range_key}, SORTS, sort),
        "ranges": [(key, label) for key, (label, _, _) in RANGES.items()],
        "range_label": RANGES[range_key][0],
        "panel_url": f"{base}?{urlencode({'range': range_key, 'sort': sort, 'panel': 'fleet'})}",
    }
    if request.GET.get("panel") == "fleet" and wants_fragment(request):
        return vary_on_htmx(render(request, "dashboards/_fleet.html", context))
    return vary_on_htmx(render(request, "dashboards/fleet.html", context))

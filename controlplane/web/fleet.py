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

from controlplane.analytics import StoreError
from controlplane.core.tenancy import all_tenants_context
from controlplane.dashboards import fleet as fleet_queries
from controlplane.dashboards import panels
from controlplane.dashboards.queries import Window
from controlplane.gateway.selectors import BudgetStatus, period_start, tenant_wide_budgets
from controlplane.tasks_runtime import queue_depths
from controlplane.web.access import staff_view
from controlplane.web.dashboard_views import DEFAULT_RANGE, RANGES, window_of
from controlplane.web.edge_status import StateCounts, state_counts
from controlplane.web.formatting import (
    format_change,
    format_count,
    format_money,
    format_ms,
    format_percent,
)
from controlplane.web.htmx import vary_on_htmx, wants_fragment
from controlplane.web.sorting import Column, sort_links, sort_rows
from tenants.models import Tenant

logger = logging.getLogger(__name__)

NO_EDGES = StateCounts(up=0, late=0, down=0, total=0)


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


def sparkline(xs: list[str], counts: list[int]) -> str:
    """Points of an SVG polyline in a 100 by 24 box: ``counts`` at ``xs`` (``spark_xs``)."""
    peak = max(counts, default=0)
    if not peak:
        return ""
    scale = 22 / peak
    return " ".join(f"{x},{23 - count * scale:.1f}" for x, count in zip(xs, counts, strict=True))


def spark_xs(window: Window) -> list[str]:
    """The sparklines' x coordinates over ``window``: one per point, evenly across 100."""
    count = fleet_queries.spark_points(window)
    width = 100 / max(count - 1, 1)
    return [f"{i * width:.1f}" for i in range(count)]


def _budget_burns(now: dt.datetime) -> dict[uuid.UUID, BudgetBurn]:
    """Per tenant with a tenant-wide budget, the one closest to its limit."""
    statuses: dict[uuid.UUID, list[BudgetStatus]] = {}
    budgets = tenant_wide_budgets()
    starts = {budget.period: period_start(budget.period, now) for budget in budgets}
    costs = fleet_queries.costs_since(starts)
    for budget in budgets:
        spend = costs.get(str(budget.tenant_id), {}).get(budget.period, Decimal(0))
        statuses.setdefault(budget.tenant_id, []).append(
            BudgetStatus(budget, starts[budget.period], spend)
        )
    burns = {}
    for tenant_id, of_tenant in statuses.items():
        worst = max(of_tenant, key=lambda s: s.used)
        burns[tenant_id] = BudgetBurn(
            used=worst.used,
            limit=format_money(worst.budget.limit),
            period=worst.budget.get_period_display().lower(),
        )
    return burns


def fleet_rows(window: Window, now: dt.datetime) -> list[TenantHealth]:
    pending = panels.start_fleet(window)
    # PostgreSQL while ClickHouse answers: three queries, whatever the number of tenants.
    with all_tenants_context():
        burns = _budget_burns(now)
        edges = state_counts(now)
        tenants = list(Tenant.objects.order_by("name"))
    found = pending.results()
    usage = {str(row["tenant_id"]): row for row in found["usage"]}
    series = {str(row["tenant_id"]): row["requests"] for row in found["series"]}
    xs = spark_xs(window)
    rows = []
    for tenant in tenants:
        key = str(tenant.pk)
        row = usage.get(key, {})
        requests, faults = int(row.get("requests") or 0), int(row.get("faults") or 0)
        states = edges.get(tenant.pk, NO_EDGES)
        rows.append(
            TenantHealth(
                tenant=tenant,
                requests=requests,
                previous_requests=int(row.get("previous_requests") or 0),
                faults=faults,
                refused=int(row.get("refused") or 0),
                fault_rate=faults / requests if requests else 0.0,
                fault_rate_text=format_percent(faults, requests),
                cost=Decimal(str(row.get("cost") or 0)),
                previous_cost=Decimal(str(row.get("previous_cost") or 0)),
                p95=format_ms(row.get("p95_ms")) if requests else "—",
                spark=sparkline(xs, series.get(key, [])),
                budget=burns.get(tenant.pk),
                edges_up=states.up,
                edges_down=states.down,
                edges_late=states.late,
                edges_total=states.total,
            )
        )
    rows.sort(key=lambda r: (r.score, r.tenant.name))
    return rows


def _meter(percent: int) -> str:
    return " meter-over" if percent >= 100 else " meter-near" if percent >= 80 else ""


def table_rows(rows: list[TenantHealth], range_key: str) -> list[dict[str, Any]]:
    """What ``_fleet.html`` writes of each row, as finished strings: the template then
    runs no filter, method or ``{% url %}`` per cell (100 rows, every 10 s)."""
    query = f"?{urlencode({'range': range_key})}"
    table = []
    for row in rows:
        tenant, budget = row.tenant, row.budget
        table.append(
            {
                "slug": tenant.slug,
                "name": tenant.name,
                "url": reverse("web:console_dashboards", args=[tenant.slug]) + query,
                "status": "" if tenant.status == "active" else tenant.status,
                "spark": row.spark,
                "requests": format_count(row.requests),
                "requests_change": row.requests_change,
                "alert": " num-alert" if row.faults else "",
                "fault_rate": row.fault_rate_text,
                "faults": format_count(row.faults),
                "refused": format_count(row.refused),
                "p95": row.p95,
                "cost": row.cost_text,
                "cost_change": row.cost_change,
                "budget": budget
                and {
                    "percent": str(budget.percent),
                    "meter": _meter(budget.percent),
                    "limit": budget.limit,
                    "period": budget.period,
                },
                # Strings, "" for none: the template neither formats nor compares numbers.
                "edges": row.edges_total
                and {
                    "up": str(row.edges_up),
                    "late": str(row.edges_late or ""),
                    "down": str(row.edges_down or ""),
                },
            }
        )
    return table


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
        "table": table_rows(rows, range_key),
        "queues": queue_depths(),
        "unavailable": unavailable,
        "range_key": range_key,
        "sort": sort,
        "sort_links": sort_links(base, {"range": range_key}, SORTS, sort),
        "ranges": [(key, label) for key, (label, _, _) in RANGES.items()],
        "range_label": RANGES[range_key][0],
        "range_words": RANGES[range_key][0].lower(),
        "panel_url": f"{base}?{urlencode({'range': range_key, 'sort': sort, 'panel': 'fleet'})}",
    }
    if request.GET.get("panel") == "fleet" and wants_fragment(request):
        return vary_on_htmx(render(request, "dashboards/_fleet.html", context))
    return vary_on_htmx(render(request, "dashboards/fleet.html", context))

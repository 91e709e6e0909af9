"""A customer in the browser: only their own tenant, and a chart point that opens the
traces behind it, down to one trace's waterfall."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path

from django.utils import timezone
from playwright.sync_api import Page, expect

from controlplane.accounts.models import User
from tenants.models import Tenant
from tests.browser.conftest import busy_day, sign_in
from tests.web.conftest import make_fleet
from tests.web.test_traces import a_trace, new_trace_id

Screenshot = Callable[[Page, str], Path]


def test_a_customer_sees_only_their_tenant(
    page: Page,
    tenant_a: Tenant,
    tenant_b: Tenant,
    make_customer: Callable[..., User],
    screenshot: Screenshot,
) -> None:
    fleet_a, fleet_b = make_fleet(tenant_a), make_fleet(tenant_b)
    now = timezone.now()
    requests = busy_day(fleet_a, now)
    busy_day(fleet_b, now)
    a_trace(fleet_b, new_trace_id(), now - dt.timedelta(minutes=3), label="globex-")

    sign_in(page, make_customer(tenant_a, "member"))

    expect(page).to_have_url(re.compile(rf"/t/{tenant_a.slug}/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Acme Corp")
    screenshot(page, "portal-home")
    page.get_by_role("navigation").get_by_role("link", name="Dashboards").click()
    expect(page.locator('#panel-utilization [data-total="requests"]')).to_have_text(str(requests))
    chart = page.locator('#panel-utilization .chart[data-chart="chart-requests"]')
    expect(chart.locator(".barlayer .point path")).not_to_have_count(0)
    expect(page.locator("#panel-utilization")).to_contain_text(fleet_a.agent.name)
    screenshot(page, "portal-dashboards")

    for own in ("", "dashboards/", "traces/", "agents/", "sites/"):
        page.goto(f"/t/{tenant_a.slug}/{own}")
        body = page.locator("body")
        for other in (tenant_b.name, tenant_b.slug, fleet_b.agent.name, "globex-agent run"):
            expect(body).not_to_contain_text(other)

    for foreign in (
        f"/t/{tenant_b.slug}/",
        f"/t/{tenant_b.slug}/dashboards/",
        f"/t/{tenant_b.slug}/traces/",
        "/console/fleet/",
        f"/console/tenants/{tenant_b.slug}/dashboards/",
        f"/console/tenants/{tenant_a.slug}/dashboards/",
    ):
        response = page.goto(foreign)
        assert response is not None and response.status == 404, foreign
        expect(page.locator("body")).not_to_contain_text(tenant_b.name)


def test_a_chart_point_opens_its_traces_and_a_trace_waterfall(
    page: Page, tenant_a: Tenant, make_customer: Callable[..., User], screenshot: Screenshot
) -> None:
    fleet = make_fleet(tenant_a)
    trace_id = new_trace_id()
    a_trace(fleet, trace_id, (timezone.now() - dt.timedelta(minutes=5)).replace(second=5))
    sign_in(page, make_customer(tenant_a, "viewer"))

    page.goto(f"/t/{tenant_a.slug}/dashboards/?range=1h")
    bars = page.locator(
        '#panel-utilization .chart[data-chart="chart-requests"] .barlayer .point path'
    )
    expect(bars).not_to_have_count(0)
    boxes = [box for box in (bar.bounding_box() for bar in bars.all()) if box and box["height"] > 0]
    [bar] = boxes  # the one minute that has spans
    x, y = bar["x"] + bar["width"] / 2, bar["y"] + bar["height"] / 2
    page.mouse.move(x, y)  # plotly picks the clicked point from the hover that precedes it
    page.mouse.click(x, y)

    expect(page).to_have_url(re.compile(rf"/t/{tenant_a.slug}/traces/\?since=.+&until=.+"))
    expect(page.get_by_text("Showing traces that started from")).to_be_visible()
    rows = page.locator("table.trace-table tbody tr")
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text("812 / 120")
    screenshot(page, "trace-list")

    rows.get_by_role("link", name="agent run").click()
    expect(page).to_have_url(re.compile(rf"/t/{tenant_a.slug}/traces/{trace_id}/$"))
    spans = page.locator("table.waterfall tbody.span")
    expect(spans).to_have_count(3)
    model_call = page.locator("table.waterfall tbody.span-model")
    expect(model_call).to_contain_text("openai / gpt-4o-mini")
    expect(model_call).to_contain_text("812 / 120")
    expect(model_call).to_contain_text("$0.00019")
    expect(page.locator("table.waterfall tbody.span-tool")).to_contain_text("ERP answered 503")
    expect(page.locator("table.waterfall .bar")).to_have_count(3)
    screenshot(page, "trace-waterfall")


def test_an_owner_sets_the_policy_and_a_budget_on_the_gateway_page(
    page: Page, tenant_a: Tenant, make_customer: Callable[..., User], screenshot: Screenshot
) -> None:
    fleet = make_fleet(tenant_a)
    busy_day(fleet, timezone.now())
    sign_in(page, make_customer(tenant_a, "owner"))

    page.get_by_role("navigation").get_by_role("link", name="Gateway").click()
    page.get_by_label("PII handling").select_option("redact")
    page.get_by_role("button", name="Save policy").click()
    expect(page.get_by_text("The policy was saved")).to_be_visible()
    expect(page.get_by_label("PII handling")).to_have_value("redact")

    add = page.locator("form[aria-labelledby=budget-add-heading]")
    add.get_by_label("Applies to").select_option(label=fleet.agent.name)
    add.get_by_label("Period").select_option("day")
    add.get_by_label("Kind").select_option("hard")
    add.get_by_label("Limit ($)").fill("25")
    add.get_by_role("button", name="Add budget").click()
    row = page.locator("#budgets tbody tr", has_text=fleet.agent.name)
    expect(row.locator("[data-budget-limit]")).to_have_text("$25.00")
    expect(row.locator("[data-budget-spent]")).to_have_text(re.compile(r"^\$\d"))
    screenshot(page, "portal-gateway")

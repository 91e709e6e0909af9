"""A staff member in the browser: sign-in with the second factor, the fleet view, a
tenant's dashboards with their charts and their refresh, and the console's other pages."""

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
from tests.web.telemetry import ingest, span
from tests.web.test_traces import a_trace, new_trace_id

Screenshot = Callable[[Page, str], Path]


def test_staff_sign_in_fleet_and_a_tenants_dashboards_that_refresh(
    page: Page,
    tenant_a: Tenant,
    tenant_b: Tenant,
    make_staff: Callable[..., User],
    screenshot: Screenshot,
) -> None:
    fleet_a, fleet_b = make_fleet(tenant_a), make_fleet(tenant_b)
    now = timezone.now()
    requests = busy_day(fleet_a, now)  # with failing runs
    quiet = [
        span(fleet_b, trace_id=new_trace_id(), span_id="1" * 16, start=now - dt.timedelta(hours=h))
        for h in range(1, 6)
    ]
    ingest(quiet)

    sign_in(page, make_staff("operator"), screenshot=screenshot)

    expect(page).to_have_url(re.compile(r"/console/fleet/$"))
    expect(page.get_by_role("heading", name="Fleet", exact=True)).to_be_visible()
    tenants = page.locator("#panel-fleet tbody th[scope=row] a")
    expect(tenants).to_have_text(["Acme Corp", "Globex"])  # the one with errors first
    screenshot(page, "fleet")

    tenants.filter(has_text="Acme Corp").click()
    expect(page.get_by_role("heading", name="Dashboards", exact=True)).to_be_visible()
    expect(page).to_have_url(re.compile(rf"/console/tenants/{tenant_a.slug}/dashboards/"))
    usage = page.locator("#panel-utilization")
    expect(usage.locator('[data-total="requests"]')).to_have_text(str(requests))
    for chart in ("chart-requests", "chart-tokens", "chart-cost"):
        bars = usage.locator(f'.chart[data-chart="{chart}"] .barlayer .point path')
        expect(bars).not_to_have_count(0)
    fault_bars = page.locator("#panel-faults .chart[data-chart] .barlayer .point path")
    expect(fault_bars).not_to_have_count(0)
    screenshot(page, "console-dashboards")

    # New spans arrive; a later poll of the panel (every 10 s) shows them in a freshly
    # drawn chart. The first poll may have left before the insert, hence two periods.
    requests_chart = usage.locator('.chart[data-chart="chart-requests"]')
    requests_chart.evaluate("chart => { chart.dataset.drawnBefore = 'yes'; }")
    a_trace(fleet_a, new_trace_id(), timezone.now() - dt.timedelta(minutes=1))
    with page.expect_response(lambda r: "panel=utilization" in r.url, timeout=25_000) as poll:
        pass
    assert poll.value.status == 200
    expect(usage.locator('[data-total="requests"]')).to_have_text(str(requests + 3), timeout=25_000)
    expect(requests_chart).not_to_have_attribute("data-drawn-before", "yes")
    expect(requests_chart.locator(".barlayer .point path")).not_to_have_count(0)


def test_staff_console_pages(
    page: Page, tenant_a: Tenant, make_staff: Callable[..., User], screenshot: Screenshot
) -> None:
    make_fleet(tenant_a)
    sign_in(page, make_staff("admin"))
    pages = {
        "console-tenants": ("/console/", "Tenants"),
        "console-agents": (f"/console/tenants/{tenant_a.slug}/agents/", "Agents"),
        "console-sites": (f"/console/tenants/{tenant_a.slug}/sites/", "Sites & edge nodes"),
        "console-audit": ("/console/audit/", "Audit log"),
    }
    for name, (url, heading) in pages.items():
        response = page.goto(url)
        assert response is not None and response.status == 200, url
        expect(page.get_by_role("heading", level=1)).to_have_text(heading)
        screenshot(page, name)
    expect(page.get_by_role("table")).to_contain_text("acme-agent")

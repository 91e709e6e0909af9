"""Behavioural security in the browser: an operator triages an alert to resolved from
the staff queue; a customer opens an incident's evidence, reads its timeline and adds
a note to it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

from django.utils import timezone
from playwright.sync_api import Page, expect

from controlplane.accounts.models import User
from controlplane.core.tenancy import tenant_context
from controlplane.security.models import Alert
from tenants.models import Tenant
from tests.browser.conftest import sign_in
from tests.web.conftest import make_fleet
from tests.web.security_data import record, scope, tasks, volume

Screenshot = Callable[[Page, str], Path]


def test_an_operator_triages_an_alert_to_resolved_from_the_queue(
    page: Page,
    tenant_a: Tenant,
    tenant_b: Tenant,
    make_staff: Callable[..., User],
    screenshot: Screenshot,
) -> None:
    fleet_a, fleet_b = make_fleet(tenant_a), make_fleet(tenant_b)
    now = timezone.now().replace(second=0, microsecond=0)
    [alert] = record(tenant_a, [volume(fleet_a.agent.pk, now - dt.timedelta(minutes=30))], now)
    record(tenant_b, [scope(fleet_b.agent.pk, now - dt.timedelta(hours=1))], now)

    sign_in(page, make_staff("operator"))
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Security").click()
    expect(page.get_by_role("heading", name="Security alerts")).to_be_visible()
    rows = page.locator("table.alert-table tbody tr")
    expect(rows).to_have_count(2)
    page.get_by_label("Tenant").select_option(tenant_a.slug)
    page.get_by_role("button", name="Show").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("tasks 12.0x normal")
    screenshot(page, "security-queue")

    page.get_by_label(f"Choose {alert.title}").check()
    page.get_by_label("Action").select_option(label="Resolve")
    page.get_by_label("Reason or note").fill("Batch job re-run on purpose")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("#messages")).to_contain_text("1 alert resolved.")
    expect(page.locator("table.alert-table")).to_have_count(0)  # no open alert left in Acme

    page.get_by_label("State").select_option(label="Resolved")
    page.get_by_role("button", name="Show").click()
    expect(rows).to_have_count(1)
    expect(rows.first.locator(".badge-state-resolved")).to_have_text("Resolved")
    with tenant_context(tenant_a):
        assert Alert.objects.get(pk=alert.pk).state == "resolved"


def test_a_customer_opens_an_incidents_evidence_and_reads_its_timeline(
    page: Page,
    tenant_a: Tenant,
    make_customer: Callable[..., User],
    screenshot: Screenshot,
) -> None:
    fleet = make_fleet(tenant_a)
    now = timezone.now().replace(second=0, microsecond=0)
    start = now - dt.timedelta(minutes=30)
    tasks(fleet, start - dt.timedelta(minutes=30), [1] * 30 + [12] * 10)
    record(tenant_a, [volume(fleet.agent.pk, start), scope(fleet.agent.pk, start)], now)

    sign_in(page, make_customer(tenant_a, "owner"))
    page.goto(f"/t/{tenant_a.slug}/")
    page.get_by_role("navigation", name="Portal").get_by_role("link", name="Security").click()
    expect(page.get_by_role("heading", name="Security", exact=True)).to_be_visible()
    expect(page.locator("[data-profile]")).to_have_count(1)
    screenshot(page, "security-tenant")

    page.get_by_role("link", name="tasks 12.0x normal").first.click()
    evidence = page.get_by_role("region", name="Evidence")
    expect(evidence).to_contain_text("observed 120; the baseline for Mon 09:00 (UTC)")
    expect(evidence).to_contain_text("First time for this agent (it used crm.lookup before).")
    expect(evidence.locator("svg polyline")).to_have_count(1)
    timeline = page.get_by_role("region", name="Timeline")
    expect(timeline.locator("li")).to_have_count(2)
    expect(timeline).to_contain_text("Raised")

    page.get_by_label("New state").select_option(label="Acknowledged")
    page.get_by_role("button", name="Change state").click()
    expect(page.locator("#messages")).to_contain_text("The incident is acknowledged.")
    page.get_by_role("form", name="Add a note").get_by_label("Note").fill("Checked with finance.")
    page.get_by_role("button", name="Add note").click()
    expect(timeline).to_contain_text("Checked with finance.")
    expect(timeline).to_contain_text("Acknowledged")
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "security-incident")

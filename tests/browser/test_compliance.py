"""Compliance in the browser: a customer finds the failing control first, opens its
evidence and downloads it; the MSP approves the exception the customer asked for, and
the next run records the failure as an exception."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, expect

from compliance.catalog import catalog_sync
from controlplane.accounts.models import User
from tenants.models import Tenant
from tests.browser.conftest import sign_in
from tests.compliance.controls import collect
from tests.compliance.documents import document_hash
from tests.web.conftest import make_fleet

Screenshot = Callable[[Page, str], Path]


def test_a_customer_follows_a_failing_control_to_its_evidence_and_the_msp_approves_an_exception(
    page: Page,
    tenant_a: Tenant,
    tenant_b: Tenant,
    make_customer: Callable[..., User],
    make_staff: Callable[..., User],
    screenshot: Screenshot,
) -> None:
    make_fleet(tenant_a)
    make_fleet(tenant_b)
    catalog_sync()
    collect("cc6.member_mfa", tenant_a)
    collect("cc6.agent_keys", tenant_a)
    collect("cc6.member_mfa", tenant_b)
    owner = make_customer(tenant_a, "owner")

    sign_in(page, owner)
    page.get_by_role("navigation").get_by_role("link", name="Compliance").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Compliance")
    page.get_by_role("main").get_by_role("link", name="Security").first.click()
    rows = page.locator("table[data-controls] tbody tr")
    expect(rows.first).to_have_attribute("data-state", "fail")
    expect(rows.first).to_contain_text("CC6.1-MFA")
    expect(rows.first).to_contain_text("does not require two-factor sign-in")
    expect(page.locator("table[data-controls]")).not_to_contain_text(tenant_b.name)
    screenshot(page, "compliance-portal-security")

    rows.first.get_by_role("link", name="evidence #1").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("CC6.1-MFA")
    shown = page.locator("code[data-hash]").inner_text()
    with page.expect_download() as event:
        page.get_by_role("link", name="Download JSON").click()
    document = json.loads(Path(event.value.path()).read_text())
    assert document_hash(document) == document["hash"] == shown

    page.go_back()
    page.get_by_text("Request an exception").click()
    page.get_by_label("Control", exact=True).select_option("CC6.1-MFA")
    page.get_by_label("Justification").fill(
        "Our people sign in through our own SSO with hardware keys."
    )
    page.get_by_label("Until (UTC, included)").fill("2026-12-31")
    page.get_by_role("button", name="Request exception").click()
    expect(page.get_by_role("status")).to_contain_text("someone else must approve it")
    page.get_by_role("button", name="Sign out").click()

    sign_in(page, make_staff("admin"))
    page.goto(f"/console/compliance/security/?tenant={tenant_a.slug}")
    exception = page.locator("tr[data-exception]")
    expect(exception).to_contain_text("pending")
    exception.get_by_label("Note").fill("SSO with hardware keys reviewed")
    exception.get_by_role("button", name="Approve").click()
    expect(page.locator("tr[data-exception]")).to_contain_text("approved by")
    screenshot(page, "compliance-console-exceptions")

    page.goto("/console/compliance/")
    page.get_by_role("button", name="Run the tests now").click()
    expect(page.get_by_role("status")).to_contain_text("The tests are queued")
    page.goto(f"/console/compliance/security/?tenant={tenant_a.slug}")
    control = page.locator('tr[data-control="CC6.1-MFA"]')
    expect(control).to_contain_text("Exception")

"""Privacy in the browser: an owner shortens a kind of data's retention, places a legal
hold, and follows a data-subject request from the search to its erasure."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

from django.utils import timezone
from playwright.sync_api import Page, expect

from controlplane.accounts.models import User
from controlplane.agents.services import agent_create
from tenants.models import Tenant
from tests.browser.conftest import sign_in
from tests.conftest import SYSTEM
from tests.privacy.conftest import direct

Screenshot = Callable[[Page, str], Path]


def test_an_owner_sets_retention_and_erases_a_person(
    page: Page, tenant_a: Tenant, make_customer: Callable[..., User], screenshot: Screenshot
) -> None:
    agent_create(actor=SYSTEM, tenant=tenant_a, name="support-bot")
    now = timezone.now()
    direct(
        tenant_a,
        [now - dt.timedelta(hours=3), now - dt.timedelta(hours=2)],
        request_body="Where is my order? I am jane.doe@example.com, +44 20 7946 0958",
    )
    sign_in(page, make_customer(tenant_a, "owner"))

    page.get_by_role("navigation").get_by_role("link", name="Privacy").click()
    retention = page.get_by_role("form", name="Set a retention policy")
    retention.get_by_label("Data").select_option("bodies")
    retention.get_by_label("Keep for (days)").fill("30")
    retention.get_by_role("button", name="Set retention").click()
    expect(page.get_by_text("Prompts and responses: 30 days from")).to_be_visible()
    row = page.get_by_test_id("retention-in-force").get_by_role("row", name="Prompts and responses")
    expect(row).to_contain_text("this tenant's policy")

    hold = page.get_by_role("form", name="Place a legal hold")
    hold.get_by_label("Covers").select_option(label="Agent support-bot")
    hold.get_by_label("Reason").fill("Preserve for the Contoso dispute")
    hold.get_by_label("Case or matter number").fill("CASE-17")
    hold.get_by_role("button", name="Place legal hold").click()
    expect(page.get_by_test_id("legal-holds")).to_contain_text("Agent support-bot")

    find = page.get_by_role("form", name="Find a person's data")
    find.get_by_label("Email").fill("Jane.Doe@example.com")
    find.get_by_label("Phone").fill("+44 20 7946 0958")
    find.get_by_label("Reason").fill("Erasure request by email")
    find.get_by_role("button", name="Find this person's data").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("j***@example.com")
    found = page.get_by_test_id("found")
    expect(found.get_by_role("row", name="clickhouse spans 2", exact=True)).to_be_visible()
    page.get_by_role("navigation").get_by_role("link", name="Privacy").click()
    screenshot(page, "portal-privacy")
    page.get_by_test_id("data-subject-requests").get_by_role("link").first.click()

    page.get_by_label("How was the person's identity checked?").fill(
        "Replied from the address on file"
    )
    page.get_by_role("button", name="Record as verified").click()
    expect(page.get_by_role("link", name="Download the export (ZIP)")).to_be_visible()
    screenshot(page, "portal-privacy-request")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download the export (ZIP)").click()
    assert download.value.suggested_filename.endswith(".zip")

    page.get_by_label("Type ERASE to confirm").fill("ERASE")
    page.get_by_role("button", name="Erase everywhere").click()
    expect(page.get_by_text("A search of every store afterwards found nothing")).to_be_visible()
    expect(
        page.get_by_test_id("erased").get_by_role("row", name="clickhouse spans 2", exact=True)
    ).to_contain_text("2")
    expect(page.get_by_role("link", name="Download the export (ZIP)")).to_have_count(0)

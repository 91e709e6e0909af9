"""Self-service in the browser: an API token made and revoked on its page, a lost second
factor reset by an administrator, and staff invited from the console."""

from __future__ import annotations

import re
from collections.abc import Callable

from playwright.sync_api import Page, expect

from controlplane.accounts.models import TOTPDevice, User
from controlplane.api.tokens import api_token_authenticate
from tenants.models import Tenant
from tests.browser.conftest import sign_in
from tests.conftest import enroll_totp

API_TOKEN = re.compile(r"acp_[0-9a-f]{12}_[A-Za-z0-9_-]{20,}")


def test_a_person_makes_an_api_token_sees_it_once_and_revokes_it(
    page: Page, tenant_a: Tenant, make_customer: Callable[..., User]
) -> None:
    sign_in(page, make_customer(tenant_a, "member"))
    page.get_by_role("link", name="API tokens").click()
    page.get_by_label("Name").fill("nightly export")
    page.get_by_label("Access").select_option(label="Read only")
    page.get_by_role("button", name="Create token").click()
    shown = page.locator(".secret-box")
    expect(shown).to_contain_text("shown only this once")
    found = API_TOKEN.search(shown.inner_text())
    assert found is not None and api_token_authenticate(found.group()) is not None

    page.reload()
    expect(page.locator(".secret-box")).to_have_count(0)
    expect(page.locator("main")).to_contain_text("nightly export")

    page.locator("details.confirm summary").first.click()
    page.get_by_role("button", name="Revoke the token nightly export").click()
    expect(page.locator("#messages")).to_contain_text("was revoked")
    assert api_token_authenticate(found.group()) is None


def test_an_admin_resets_a_lost_second_factor(
    page: Page, tenant_a: Tenant, make_customer: Callable[..., User]
) -> None:
    lost = make_customer(tenant_a, "member")
    enroll_totp(lost)
    sign_in(page, make_customer(tenant_a, "admin"))
    page.goto(f"/t/{tenant_a.slug}/people/")
    row = page.locator("tr", has_text=lost.email)
    row.locator("details.confirm summary").click()
    row.get_by_role("button", name=f"Reset the second factor of {lost.email}").click()
    expect(page.locator("#messages")).to_contain_text("second factor was reset")
    assert not TOTPDevice.objects.filter(user=lost).exists()


def test_an_admin_invites_staff_from_the_console(
    page: Page, make_staff: Callable[..., User]
) -> None:
    sign_in(page, make_staff("admin"))
    page.goto("/console/staff/")
    page.get_by_label("Email").fill("new.operator@msp.example")
    page.get_by_label("Role").select_option("operator")
    page.get_by_role("button", name="Invite").click()
    expect(page.locator("#messages")).to_contain_text("was invited as operator")
    expect(page.locator("main")).to_contain_text("invited, no password yet")
    assert User.objects.get(email="new.operator@msp.example").staff_role == "operator"

"""Safe flows and layout in the browser: a credential is shown once even on reload, a
destructive action is confirmed (by keyboard alone too), form errors take the focus,
and no page's table spills out of its card at 1280 px or scrolls sideways at 390 px."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path

from django.utils import timezone
from playwright.sync_api import Page, expect

from controlplane.accounts.models import User
from controlplane.agents.models import AgentKey
from controlplane.core.tenancy import tenant_context
from tenants.models import Tenant
from tests.browser.conftest import busy_day, sign_in
from tests.web.conftest import make_fleet
from tests.web.security_data import record, scope, volume
from tests.web.test_traces import a_trace, new_trace_id

Screenshot = Callable[[Page, str], Path]
AGENT_KEY = re.compile(r"acpk_[0-9a-f]+_[A-Za-z0-9_-]{20,}")

# Measured in the page: tables wider than the card (or scroll box) that holds them, and
# how far the page scrolls sideways.
LAYOUT_PROBLEMS = """
() => {
  const problems = [];
  const page = document.documentElement;
  if (page.scrollWidth > window.innerWidth + 1) {
    // the outermost elements that stick out, to name in the failure
    const wide = [...document.querySelectorAll("body *")].filter(e =>
      e.getBoundingClientRect().right > window.innerWidth + 1 && e.parentElement &&
      e.parentElement.getBoundingClientRect().right <= window.innerWidth + 1);
    const names = wide.slice(0, 3).map(e => `${e.tagName.toLowerCase()}.${e.className}`);
    problems.push(`page is ${page.scrollWidth}px wide in a ${window.innerWidth}px window ` +
      `(${names.join(", ")})`);
  }
  for (const table of document.querySelectorAll("main table")) {
    if (!table.offsetParent) continue;
    const scroller = table.closest(".table-scroll");
    const holder = scroller || table.closest(".card, section, main");
    const over = table.getBoundingClientRect().right - holder.getBoundingClientRect().right;
    if (!scroller && over > 1) {
      problems.push(`a table overflows its card by ${Math.round(over)}px`);
    }
    const hidden = scroller ? scroller.scrollWidth - scroller.clientWidth : 0;
    if (window.innerWidth >= 1280 && hidden > 1) {
      problems.push(`a table needs ${hidden}px more at 1280px`);
    }
  }
  return problems;
}
"""


def test_reloading_after_issuing_a_key_shows_it_no_more_and_issues_nothing(
    page: Page, tenant_a: Tenant, make_customer: Callable[..., User]
) -> None:
    fleet = make_fleet(tenant_a)
    sign_in(page, make_customer(tenant_a, "owner"))
    page.goto(f"/t/{tenant_a.slug}/agents/{fleet.agent.pk}/")
    page.get_by_role("button", name="Issue key and new device key").click()
    secret = page.locator(".secret-box")
    expect(secret).to_contain_text("shown only this once")
    key = AGENT_KEY.search(secret.inner_text())
    assert key is not None
    with tenant_context(tenant_a):
        keys = AgentKey.objects.filter(agent=fleet.agent).count()

    page.reload()
    expect(page.locator(".secret-box")).to_have_count(0)
    expect(page.locator("main")).to_contain_text("shown once and is not shown again")
    assert key.group() not in page.content()
    with tenant_context(tenant_a):
        assert AgentKey.objects.filter(agent=fleet.agent).count() == keys


def test_revoking_a_key_is_confirmed_with_the_keyboard_alone(
    page: Page, tenant_a: Tenant, make_customer: Callable[..., User]
) -> None:
    fleet = make_fleet(tenant_a)
    sign_in(page, make_customer(tenant_a, "owner"))
    page.goto(f"/t/{tenant_a.slug}/agents/{fleet.agent.pk}/")
    opener = page.locator(f"#key-{fleet.key.pk} summary")
    opener.focus()
    page.keyboard.press("Enter")  # opens the confirmation; nothing is revoked yet
    confirm = page.get_by_role("button", name=f"Revoke key {fleet.key.key_id}")
    expect(confirm).to_be_visible()
    with tenant_context(tenant_a):
        assert AgentKey.objects.get(pk=fleet.key.pk).revoked_at is None
    page.keyboard.press("Tab")
    expect(confirm).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#messages")).to_contain_text(f"Key {fleet.key.key_id} was revoked")
    with tenant_context(tenant_a):
        assert AgentKey.objects.get(pk=fleet.key.pk).revoked_at is not None


def test_a_form_error_far_down_the_page_takes_the_focus(
    page: Page, tenant_a: Tenant, make_customer: Callable[..., User]
) -> None:
    make_fleet(tenant_a)
    sign_in(page, make_customer(tenant_a, "owner"))
    page.goto(f"/t/{tenant_a.slug}/gateway/")
    form = page.locator("form", has=page.get_by_role("button", name="Add budget"))
    form.get_by_label("Limit ($)").fill("10")
    form.get_by_role("button", name="Add budget").click()
    page.goto(f"/t/{tenant_a.slug}/gateway/")
    form = page.locator("form", has=page.get_by_role("button", name="Add budget"))
    form.get_by_label("Limit ($)").fill("20")
    form.get_by_role("button", name="Add budget").click()
    focused = page.locator(":focus")
    expect(focused).to_have_attribute("aria-invalid", "true")
    expect(page.locator("main")).to_contain_text("already has a")
    box = focused.bounding_box()
    assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= 900


def test_no_table_spills_out_at_1280_and_nothing_scrolls_sideways_at_390(
    page: Page,
    tenant_a: Tenant,
    make_customer: Callable[..., User],
    make_staff: Callable[..., User],
) -> None:
    fleet = make_fleet(tenant_a)
    now = timezone.now()
    busy_day(fleet, now)
    trace_id = new_trace_id()
    a_trace(fleet, trace_id, now)
    start = now.replace(second=0, microsecond=0) - dt.timedelta(minutes=30)
    [alert, _] = record(
        tenant_a, [volume(fleet.agent.pk, start), scope(fleet.agent.pk, start)], now
    )
    slug = tenant_a.slug
    tenant_pages = [
        "",
        "dashboards/",
        "agents/",
        f"agents/{fleet.agent.pk}/",
        "traces/",
        f"traces/{trace_id}/",
        "sites/",
        f"sites/{fleet.site.pk}/",
        "gateway/",
        "dataflow/",
        "security/",
        f"security/incidents/{alert.incident_id}/",
    ]
    checks = {
        "customer": (
            make_customer(tenant_a, "owner"),
            [f"/t/{slug}/{p}" for p in tenant_pages]
            + [f"/t/{slug}/{p}" for p in ("people/", "departments/", "audit/", "settings/")]
            + [f"/t/{slug}/evidence-packages/", "/account/", "/account/tokens/"],
        ),
        "staff": (
            make_staff("admin"),
            [f"/console/tenants/{slug}/{p}" for p in tenant_pages[1:]]
            + ["/console/fleet/", "/console/", f"/console/tenants/{slug}/", "/console/gateway/"]
            + ["/console/staff/", "/console/audit/", "/console/security/", "/console/auditors/"]
            + [f"/console/tenants/{slug}/evidence-packages/"],
        ),
    }
    problems = []
    for who, (user, urls) in checks.items():
        page.context.clear_cookies()
        page.set_viewport_size({"width": 1440, "height": 900})
        sign_in(page, user)
        for width in (1280, 390):
            page.set_viewport_size({"width": width, "height": 900})
            for url in urls:
                page.goto(url)
                for problem in page.evaluate(LAYOUT_PROBLEMS):
                    problems.append(f"{who} {url} at {width}px: {problem}")
    assert problems == [], "\n".join(problems)

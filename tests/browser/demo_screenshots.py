"""The screenshots in docs/screenshots/, taken from the demo with its month of history
(``make screenshots``): what a person evaluating the product sees.

    .venv/bin/python tests/browser/demo_screenshots.py [--out docs/screenshots] [--port 8766]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.browser.demo import (
    CHROMIUM,
    CHROMIUM_ARGS,
    REPO,
    charts_drawn,
    running_demo,
    sign_in,
)

VIEWPORT = {"width": 1440, "height": 900}
STAFF_PAGES = {
    "fleet": "/console/fleet/?range=7d",
    "console-tenants": "/console/",
    "console-dashboards": "/console/tenants/acme/dashboards/?range=30d",
    "console-agents": "/console/tenants/acme/agents/?range=30d&sort=cost",
    "console-sites": "/console/tenants/acme/sites/",
    "console-audit": "/console/audit/",
    "console-staff": "/console/staff/",
    "console-gateway": "/console/gateway/",
    "security-queue": "/console/security/?state=all",
    "console-billing": "/console/billing/",
    "compliance": "/console/compliance/",
    "compliance-security": "/console/compliance/security/?tenant=acme",
    "compliance-availability": "/console/compliance/availability/?tenant=acme",
    "compliance-processing-integrity": "/console/compliance/processing_integrity/?tenant=acme",
    "compliance-confidentiality": "/console/compliance/confidentiality/?tenant=acme",
    "compliance-privacy": "/console/compliance/privacy/?tenant=acme",
}
CUSTOMER_PAGES = {
    "portal-home": "/t/acme/",
    "portal-dashboards": "/t/acme/dashboards/?range=7d",
    "portal-gateway": "/t/acme/gateway/",
    "trace-list": "/t/acme/traces/?range=24h",
    "dataflow": "/t/acme/dataflow/?range=30d",
    "portal-security": "/t/acme/security/?state=all",
    "portal-invoices": "/t/acme/invoices/",
    "portal-privacy": "/t/acme/privacy/",
    "api-tokens": "/account/tokens/",
    "portal-compliance": "/t/acme/compliance/",
}
AUDITOR_PAGES = {
    "auditor-home": "/auditor/",
    "auditor-criterion": "/auditor/t/acme/compliance/security/",
    "auditor-packages": "/auditor/t/acme/evidence-packages/",
}


def shoot(page: Page, folder: Path, name: str, url: str) -> None:
    response = page.goto(url)
    assert response is not None and response.status == 200, (url, response and response.status)
    if page.locator(".chart[data-chart]").count():
        charts_drawn(page)
    page.evaluate("window.scrollTo(0, 0)")  # the side navigation is sticky: keep it on top
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True, animations="disabled")
    print(f"{name}: {url}")


def invoice_pages(page: Page, folder: Path) -> None:
    """Last month's issued invoice: its chargeback per department, and the first page of
    its PDF as an image (pdftoppm)."""
    page.goto("/t/acme/invoices/")
    issued = page.locator("tr", has=page.get_by_role("link", name="PDF")).first
    pdf = page.request.get(issued.get_by_role("link", name="PDF").get_attribute("href") or "")
    assert pdf.ok and pdf.body().startswith(b"%PDF"), pdf.status
    with tempfile.NamedTemporaryFile(suffix=".pdf") as file:
        file.write(pdf.body())
        file.flush()
        subprocess.run(
            ["pdftoppm", "-png", "-r", "70", "-singlefile", file.name, str(folder / "invoice")],
            check=True,
        )
    print("invoice: the PDF of the first issued invoice")
    issued.locator('a[href^="?month="]').click()
    page.wait_for_load_state()
    page.screenshot(
        path=str(folder / "portal-chargeback.png"), full_page=True, animations="disabled"
    )
    print(f"portal-chargeback: {page.url}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/demo-screenshots"))
    options = parser.parse_args()
    options.out.mkdir(parents=True, exist_ok=True)
    with running_demo(options.dir, options.port) as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        staff = sign_in(browser, base, "admin@msp.example", viewport=VIEWPORT)
        page = staff.new_page()
        for name, url in STAFF_PAGES.items():
            shoot(page, options.out, name, url)
        page.goto("/console/tenants/acme/traces/?range=24h")
        first = page.locator("table.trace-table tbody tr a").first
        first.click()
        page.wait_for_load_state()
        page.screenshot(
            path=str(options.out / "trace-waterfall.png"), full_page=True, animations="disabled"
        )
        # The demo's open incident (its critical alert first in the queue), with its
        # evidence, timeline and quarantine.
        page.goto("/console/security/?state=all&sort=severity")
        page.locator("table.alert-table tbody th a").first.click()
        page.wait_for_load_state()
        if page.locator(".chart[data-chart]").count():
            charts_drawn(page)
        page.screenshot(
            path=str(options.out / "security-incident.png"), full_page=True, animations="disabled"
        )
        customer = sign_in(browser, base, "owner@acme.example", viewport=VIEWPORT)
        page = customer.new_page()
        for name, url in CUSTOMER_PAGES.items():
            shoot(page, options.out, name, url)
        invoice_pages(page, options.out)
        auditor = sign_in(browser, base, "auditor@cpa.example", viewport=VIEWPORT)
        page = auditor.new_page()
        for name, url in AUDITOR_PAGES.items():
            shoot(page, options.out, name, url)
        login = browser.new_context(base_url=base, viewport=VIEWPORT).new_page()
        login.goto("/login/")
        login.screenshot(path=str(options.out / "login.png"), animations="disabled")
        browser.close()


if __name__ == "__main__":
    main()

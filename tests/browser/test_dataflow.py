"""The data-flow diagram in the browser: drawn on the page, and downloaded as an SVG file
whose hash is the one the page shows."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from pathlib import Path
from xml.etree import ElementTree

from django.utils import timezone
from playwright.sync_api import Page, expect

from controlplane.accounts.models import User
from tenants.models import Tenant
from tests.browser.conftest import sign_in
from tests.compliance.traffic import send_traffic
from tests.web.conftest import make_fleet

SVG = "{http://www.w3.org/2000/svg}"


def test_the_data_flow_diagram_downloads_as_svg(
    page: Page,
    tenant_a: Tenant,
    tenant_b: Tenant,
    make_customer: Callable[..., User],
    screenshot: Callable[[Page, str], Path],
) -> None:
    now = timezone.now()
    send_traffic(make_fleet(tenant_a), now - dt.timedelta(hours=2))
    send_traffic(make_fleet(tenant_b, "globex-secret"), now - dt.timedelta(hours=2))
    sign_in(page, make_customer(tenant_a, "owner"))

    page.get_by_role("navigation").get_by_role("link", name="Data flow").click()
    expect(page.get_by_role("heading", name="Data flow", exact=True)).to_be_visible()
    # Whole days, so the page and the download draw the very same window.
    page.get_by_label("From (UTC)").fill((now - dt.timedelta(days=1)).date().isoformat())
    page.get_by_label("To (UTC, included)").fill(now.date().isoformat())
    page.get_by_role("button", name="Show", exact=True).click()
    diagram = page.get_by_role("figure", name="Data-flow diagram").locator("svg")
    expect(diagram).to_be_visible()
    expect(diagram).to_contain_text("openai")
    expect(diagram).to_contain_text("anthropic")
    shown_hash = page.locator("p", has_text="SHA-256 of this SVG").locator("code").inner_text()
    screenshot(page, "dataflow")

    with page.expect_download() as event:
        page.get_by_role("link", name="Download SVG").click()
    download = event.value
    assert download.suggested_filename.startswith(f"dataflow-{tenant_a.slug}-")
    assert download.suggested_filename.endswith(".svg")
    content = Path(download.path()).read_bytes()
    root = ElementTree.fromstring(content)
    assert root.tag == f"{SVG}svg"
    text = " ".join(root.itertext())
    assert "openai" in text and "anthropic" in text
    assert "globex" not in content.decode().lower()
    assert hashlib.sha256(content).hexdigest() == shown_hash

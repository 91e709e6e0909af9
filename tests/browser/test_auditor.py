"""An outside auditor in the browser: signs in with two factors, reads a criterion page
of their tenant's period, and downloads the evidence package, which verifies."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

from django.test import Client
from django.utils import timezone
from playwright.sync_api import Page, expect

from compliance.packages.verify import parse_public_keys, verify_package
from compliance.periods import Period
from controlplane.accounts.auditors import auditor_create
from controlplane.accounts.models import User
from tenants.models import Tenant
from tests.browser.conftest import sign_in
from tests.compliance.controls import collect
from tests.compliance.traffic import send_traffic
from tests.conftest import PASSWORD, SYSTEM, enroll_totp
from tests.web.conftest import make_fleet


def test_an_auditor_reads_a_criterion_page_and_downloads_the_package(
    page: Page,
    tenant_a: Tenant,
    tenant_b: Tenant,
    make_customer: Callable[..., User],
    screenshot: Callable[[Page, str], Path],
) -> None:
    now = timezone.now()
    send_traffic(make_fleet(tenant_a), now - dt.timedelta(hours=2))
    make_customer(tenant_a, "owner")
    keys = collect("cc6.agent_keys", tenant_a)
    mfa = collect("cc6.member_mfa", tenant_a)  # fails: Acme does not require two factors
    period = Period(now.date() - dt.timedelta(days=30), now.date())
    account = auditor_create(  # its package is made once this commits (the eager worker)
        actor=SYSTEM,
        email="jane@cpa.example",
        full_name="Jane Auditor",
        organization="Example CPA LLP",
        tenants=[tenant_a],
        period=period,
        expires_at=now + dt.timedelta(days=14),
    )
    auditor = account.user
    auditor.set_password(PASSWORD)
    auditor.save(update_fields=["password"])
    enroll_totp(auditor)

    sign_in(page, auditor)
    expect(page.get_by_role("heading", name="Evidence for your audit")).to_be_visible()
    expect(page.get_by_text("Auditor · read-only")).to_be_visible()
    page.get_by_role("link", name="Acme Corp").click()
    page.get_by_role("link", name="Security", exact=True).click()
    expect(page.get_by_role("heading", name="Security", exact=True)).to_be_visible()
    controls = page.get_by_role("region", name="Controls")
    expect(controls).to_contain_text(mfa.control_code)
    expect(controls).to_contain_text(keys.control_code)
    expect(page.get_by_role("button", name="Request")).to_have_count(0)  # read-only
    screenshot(page, "auditor-criterion")

    page.get_by_role("navigation").get_by_role("link", name="Evidence packages").click()
    expect(page.get_by_role("heading", name="Evidence packages")).to_be_visible()
    screenshot(page, "auditor-packages")
    with page.expect_download() as event:
        page.get_by_role("link", name="Download").first.click()
    download = event.value
    assert download.suggested_filename.startswith("evidence-acme-")
    data = Path(download.path()).read_bytes()
    keys_document = Client().get("/compliance/signing-keys").content.decode()
    report = verify_package(data, public_keys=parse_public_keys(keys_document))
    assert report.ok, report.problems
    assert report.manifest["tenant"]["slug"] == "acme"
    assert report.manifest["evidence_chain"]["records"] == 2

"""The privacy pages: a tenant's owners and admins (portal) and MSP staff (console) set
the retention, place and release holds, run retention and follow a data-subject request
to its erasure; members get 403, other tenants 404, and the staff auditor reads without
forms and cannot download a person's data."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from compliance.privacy import selectors
from compliance.privacy.models import DataSubjectRequest
from controlplane.accounts.models import User
from controlplane.agents.services import agent_create
from controlplane.core.tenancy import all_tenants_context
from tenants.models import Tenant
from tests.conftest import SYSTEM, signed_in
from tests.privacy.conftest import direct

pytestmark = pytest.mark.django_db


def _url(name: str, tenant: Tenant, *args: object, area: str = "portal") -> str:
    return reverse(f"web:{area}_{name}", args=[tenant.slug, *args])


def test_who_sees_the_privacy_page(
    tenant_a: Tenant, tenant_b: Tenant, make_customer: Callable[..., User]
) -> None:
    url = _url("privacy", tenant_a)
    for role in ("owner", "admin"):
        page = signed_in(make_customer(tenant_a, role)).get(url)
        assert page.status_code == 200
        assert b"Retention" in page.content and b"Find this person" in page.content
    assert signed_in(make_customer(tenant_a, "member")).get(url).status_code == 403
    assert signed_in(make_customer(tenant_b, "owner")).get(url).status_code == 404


def test_an_owner_sets_retention_and_places_and_releases_a_hold(
    tenant_a: Tenant, make_customer: Callable[..., User]
) -> None:
    client = signed_in(make_customer(tenant_a, "owner"))
    today = timezone.now().date().isoformat()
    agent = agent_create(actor=SYSTEM, tenant=tenant_a, name="support-bot")

    bad = client.post(
        _url("privacy_policy", tenant_a), {"kind": "ledger", "days": 5, "effective_from": today}
    )
    assert bad.status_code == 200 and b"from 62 to 36500" in bad.content
    done = client.post(
        _url("privacy_policy", tenant_a), {"kind": "spans", "days": 90, "effective_from": today}
    )
    assert done.status_code == 302
    assert selectors.effective_policy(tenant_a, timezone.now().date())["spans"].days == 90

    client.post(_url("privacy_hold_place", tenant_a), {"agent": str(agent.pk), "reason": "dispute"})
    [hold] = selectors.active_holds(tenant_a)
    assert hold.agent_id == agent.pk
    page = client.get(_url("privacy", tenant_a))
    assert b"Agent support-bot" in page.content and b"in force" in page.content
    client.post(_url("privacy_hold_release", tenant_a, hold.pk))
    assert selectors.active_holds(tenant_a) == []


def _request(
    client: Client, tenant: Tenant, capture: Callable[..., Any], area: str, *, run: bool = True
) -> str:
    """Make a request for Jane's data; unless ``run`` is off, its search runs."""
    with capture(execute=run):
        created = client.post(
            _url("privacy_request_create", tenant, area=area),
            {"email": "jane@example.com", "phone": "", "customer_id": "", "reason": "by email"},
        )
    assert created.status_code == 302, created.content
    return str(created["Location"])


def test_an_admin_follows_a_request_to_its_erasure(
    tenant_a: Tenant,
    make_customer: Callable[..., User],
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    direct(tenant_a, [timezone.now() - dt.timedelta(hours=1)], request_body="for jane@example.com")
    client = signed_in(make_customer(tenant_a, "admin"))
    missing = client.post(_url("privacy_request_create", tenant_a), {"reason": "x"})
    assert b"Give the person&#x27;s email, phone or customer id." in missing.content
    malformed = client.post(_url("privacy_request_create", tenant_a), {"phone": "call me"})
    assert b"phone must be a number in international form" in malformed.content

    page_url = _request(client, tenant_a, django_capture_on_commit_callbacks, "portal")
    page = client.get(page_url)
    assert b"found" in page.content and b"Record as verified" in page.content
    with all_tenants_context():
        dsr = DataSubjectRequest.unscoped.get()
    assert client.get(_url("privacy_request_export", tenant_a, dsr.pk)).status_code == 403

    client.post(_url("privacy_request_verify", tenant_a, dsr.pk), {"note": "replied"})
    export = client.get(_url("privacy_request_export", tenant_a, dsr.pk))
    assert export.status_code == 200 and export["Content-Type"] == "application/zip"
    unconfirmed = client.post(_url("privacy_request_erase", tenant_a, dsr.pk), {"confirm": "ok"})
    assert b"Type ERASE to confirm the erasure." in unconfirmed.content
    with django_capture_on_commit_callbacks(execute=True):
        client.post(_url("privacy_request_erase", tenant_a, dsr.pk), {"confirm": "ERASE"})

    page = client.get(page_url)
    assert b"found nothing" in page.content
    assert client.get(_url("privacy_request_export", tenant_a, dsr.pk)).status_code == 404


def test_a_request_in_progress_refreshes_itself(
    tenant_a: Tenant,
    make_customer: Callable[..., User],
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    client = signed_in(make_customer(tenant_a, "owner"))
    page_url = _request(client, tenant_a, django_capture_on_commit_callbacks, "portal", run=False)
    fragment = client.get(page_url, headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert b'hx-trigger="every 2s"' in fragment.content and b"<html" not in fragment.content


def test_staff_handle_privacy_in_the_console_and_the_auditor_only_reads(
    tenant_a: Tenant,
    make_staff: Callable[..., User],
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    operator = signed_in(make_staff("operator"))
    page_url = _request(operator, tenant_a, django_capture_on_commit_callbacks, "console")
    with all_tenants_context():
        dsr = DataSubjectRequest.unscoped.get()
    operator.post(_url("privacy_request_verify", tenant_a, dsr.pk, area="console"), {"note": "ok"})
    assert (
        operator.get(_url("privacy_request_export", tenant_a, dsr.pk, area="console")).status_code
        == 200
    )

    auditor = signed_in(make_staff("auditor"))
    page = auditor.get(_url("privacy", tenant_a, area="console"))
    assert (
        page.status_code == 200
        and b'<form method="post"' not in page.content.split(b'id="main"')[1]
    )
    assert auditor.get(page_url).status_code == 200
    assert (
        auditor.get(_url("privacy_request_export", tenant_a, dsr.pk, area="console")).status_code
        == 403
    )


def test_msp_defaults_apply_to_tenants_without_a_policy(
    tenant_a: Tenant, make_staff: Callable[..., User]
) -> None:
    admin = signed_in(make_staff("admin"))
    url = reverse("web:console_privacy_defaults")
    today = timezone.now().date().isoformat()
    assert (
        admin.post(url, {"kind": "alerts", "days": 180, "effective_from": today}).status_code == 302
    )

    assert selectors.effective_policy(tenant_a, timezone.now().date())["alerts"].as_dict() == {
        "days": 180,
        "source": "msp",
        "effective_from": today,
    }
    auditor_page = signed_in(make_staff("auditor")).get(url)
    assert b"180" in auditor_page.content and b"Set default" not in auditor_page.content

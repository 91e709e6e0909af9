"""Home redirects, the layout, error pages and static assets."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from django.contrib.staticfiles import finders
from django.template.loader import get_template
from django.test import Client
from django.urls import reverse

from controlplane.accounts.models import User
from controlplane.web.context_processors import CONSOLE_NAV, CONSOLE_TENANT_NAV, PORTAL_NAV
from tenants.services import tenant_update
from tests.conftest import SYSTEM, signed_in
from tests.web.conftest import World

pytestmark = pytest.mark.django_db


def test_home_sends_staff_to_the_console_fleet_view(make_staff: Callable[..., User]) -> None:
    response = signed_in(make_staff("auditor")).get(reverse("web:home"))
    assert response.status_code == 302
    assert response["Location"] == reverse("web:console_fleet")


def test_home_sends_customers_to_their_portal(world: World) -> None:
    response = signed_in(world.b_member).get(reverse("web:home"))
    assert response["Location"] == reverse("web:portal_home", args=[world.b.slug])


def test_home_explains_a_suspended_tenant(world: World) -> None:
    tenant_update(actor=SYSTEM, tenant=world.a, status="suspended")
    response = signed_in(world.a_member).get(reverse("web:home"))
    assert response.status_code == 200
    assert b"suspended" in response.content


def test_home_is_friendly_to_someone_without_a_tenant(db: None) -> None:
    user = User.objects.create_user(email="lonely@example.com", password="x" * 20)
    response = signed_in(user).get(reverse("web:home"))
    assert response.status_code == 200
    assert b"not part of any organisation yet" in response.content


def test_home_needs_a_sign_in(db: None) -> None:
    response = Client().get(reverse("web:home"))
    assert response.status_code == 302


def test_layout_is_accessible_and_csp_clean(world: World, make_staff: Callable[..., User]) -> None:
    staff = make_staff("operator")
    response = signed_in(staff).get(reverse("web:console_tenants"))
    body = response.content.decode()
    assert '<html lang="en">' in body
    assert '<a class="skip-link" href="#main">' in body
    assert '<main id="main"' in body
    assert '<nav class="sidenav" aria-label="Console">' in body
    assert staff.email in body
    assert f'action="{reverse("accounts:logout")}"' in body
    assert "X-CSRFToken" in body
    # script-src 'self': every script is a file, no inline handlers
    assert re.findall(r"<script(?![^>]*\ssrc=)", body) == []
    assert not re.search(r"\son[a-z]+=", body)
    assert "/static/vendor/htmx.min.js" in body


def test_console_nav_lists_the_console_pages(make_staff: Callable[..., User]) -> None:
    response = signed_in(make_staff("admin")).get(reverse("web:console_audit"))
    labels = [item["label"] for item in response.context["nav_items"]]
    assert labels == [entry.label for entry in CONSOLE_NAV]
    assert [i["label"] for i in response.context["nav_items"] if i["current"]] == ["Audit log"]


def test_nav_entries_name_existing_urls() -> None:
    for entry in CONSOLE_NAV:
        reverse(entry.url_name)
    for entry in PORTAL_NAV + CONSOLE_TENANT_NAV:
        reverse(entry.url_name, args=["acme"])


def test_console_tenant_pages_show_the_tenant_navigation(
    world: World, make_staff: Callable[..., User]
) -> None:
    client = signed_in(make_staff("auditor"))
    response = client.get(reverse("web:console_sites", args=[world.a.slug]))
    body = response.content.decode()
    assert [i["label"] for i in response.context["nav_tenant_items"]] == [
        entry.label for entry in CONSOLE_TENANT_NAV
    ]
    sites = reverse("web:console_sites", args=[world.a.slug])
    assert f'href="{sites}" aria-current="page"' in body
    # the console's "Tenants" entry is the section the page is in, not the page
    assert f'href="{reverse("web:console_tenants")}" aria-current="true"' in body
    assert body.count('aria-current="page"') == 1
    audit = client.get(reverse("web:console_audit"))
    assert audit.context["nav_tenant_items"] == []


def test_404_uses_the_layout(world: World) -> None:
    response = signed_in(world.a_member).get("/no/such/page/")
    assert response.status_code == 404
    assert b"Page not found" in response.content
    assert b'class="skip-link"' in response.content


def test_403_uses_the_layout(world: World) -> None:
    response = signed_in(world.a_member).post(
        reverse("web:portal_department_create", args=[world.a.slug]), {"name": "X"}
    )
    assert response.status_code == 403
    assert b"You can't do that" in response.content
    assert b'class="skip-link"' in response.content


def test_500_renders_without_request_or_database(django_assert_num_queries: Callable) -> None:
    with django_assert_num_queries(0):
        html = get_template("500.html").render()
    assert "Something went wrong" in html
    assert '<html lang="en">' in html


def test_static_assets_are_vendored() -> None:
    for path in ("vendor/htmx.min.js", "css/app.css", "js/app.js"):
        assert finders.find(path), path

"""What an outside auditor reaches. The URL lists come from the URLconf, so a new page
is covered without being added here: every write anywhere is refused, every console and
portal page is a 404, and the auditor area shows only the auditor's own tenants."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from controlplane.accounts.models import User
from controlplane.audit.models import AuditEvent
from controlplane.core.tenancy import all_tenants_context
from tests.conftest import signed_in
from tests.web.conftest import World

pytestmark = pytest.mark.django_db

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
_PARAMETER = re.compile(r"<(?:(?P<converter>\w+):)?(?P<name>\w+)>")


def _routes(patterns: list[object], prefix: str = "") -> Iterator[tuple[str, str | None]]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), pattern.name


# Every route of the site (regular expressions, the API's catch-all 404s, left out).
ROUTES = sorted(
    {
        (route, name or "")
        for route, name in _routes(get_resolver().url_patterns)
        if "^" not in route
    }
)
WEB = [(route, name) for route, name in ROUTES if name.startswith(("console_", "portal_"))]
AUDITOR_AREA = [(route, name) for route, name in ROUTES if name.startswith("auditor_")]
# The only writes an auditor makes: signing out, and setting up the second factor.
ALLOWED_WRITES = {"logout/", "account/mfa/setup/"}


def fill(route: str, slug: str) -> str:
    def value(match: re.Match[str]) -> str:
        converter, name = match["converter"], match["name"]
        if converter == "slug":
            return "security" if name == "category" else slug
        if converter == "uuid":
            return str(uuid.uuid4())
        if name == "trace_id":
            return TRACE_ID
        return "pdf" if name == "kind" else "x"

    return "/" + _PARAMETER.sub(value, route)


def test_the_lists_cover_the_site() -> None:
    names = {name for _, name in ROUTES}
    assert {"console_auditors", "portal_evidence_packages", "auditor_trace"} <= names
    assert any(route.startswith("api/v1/") for route, _ in ROUTES)
    assert len(AUDITOR_AREA) >= 10


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_an_auditor_writes_nothing_anywhere(
    world: World, make_auditor: Callable[..., User], method: str
) -> None:
    client = signed_in(make_auditor(world.a))
    with all_tenants_context():
        entries = AuditEvent.unscoped.count()
    for route, _ in ROUTES:
        if route in ALLOWED_WRITES:
            continue
        url = fill(route, world.a.slug)
        response = getattr(client, method)(url, {"name": "x", "role": "owner"})
        assert response.status_code == 403, (method, url, response.status_code)
    with all_tenants_context():
        assert AuditEvent.unscoped.count() == entries


@pytest.mark.parametrize(("route", "name"), WEB, ids=[name for _, name in WEB])
def test_console_and_portal_pages_are_404_to_an_auditor(
    world: World, make_auditor: Callable[..., User], route: str, name: str
) -> None:
    client = signed_in(make_auditor(world.a))
    assert client.get(fill(route, world.a.slug)).status_code == 404


@pytest.mark.parametrize(("route", "name"), AUDITOR_AREA, ids=[n for _, n in AUDITOR_AREA])
def test_another_tenant_looks_like_no_tenant(
    world: World, make_auditor: Callable[..., User], route: str, name: str
) -> None:
    if "<slug:slug>" not in route:
        pytest.skip("names no tenant")
    client = signed_in(make_auditor(world.a))
    assert client.get(fill(route, world.b.slug)).status_code == 404
    assert client.get(fill(route, "no-such-tenant")).status_code == 404


@pytest.mark.parametrize(("route", "name"), AUDITOR_AREA, ids=[n for _, n in AUDITOR_AREA])
def test_an_auditor_reads_the_pages_of_their_tenant(
    world: World, make_auditor: Callable[..., User], route: str, name: str
) -> None:
    client = signed_in(make_auditor(world.a, world.b))
    response = client.get(fill(route, world.b.slug))
    names_an_object = "<uuid:" in route or "<str:trace_id>" in route
    assert response.status_code == (404 if names_an_object else 200), response.content[:300]
    if response["Content-Type"].startswith("text/html") and not names_an_object:
        main = response.content.split(b'<main id="main"')[1]
        assert b'<form method="post"' not in main  # nothing to change here


@pytest.mark.parametrize(("route", "name"), AUDITOR_AREA, ids=[n for _, n in AUDITOR_AREA])
def test_only_auditors_enter_the_auditor_area(
    world: World, make_staff: Callable[..., User], route: str, name: str
) -> None:
    url = fill(route, world.a.slug)
    for user in (world.a_owner, make_staff("admin"), make_staff("auditor")):
        assert signed_in(user).get(url).status_code == 404, (user.email, url)
    response = Client().get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))

"""Who reaches which page. The URL lists come from the URLconf, so a new console or
portal URL is covered here without being added by hand."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from decimal import Decimal

import pytest
from django.urls import URLPattern, reverse
from django.utils import timezone

from compliance.packages.services import package_request
from compliance.periods import Period
from compliance.services import dataflow_snapshot_create
from controlplane.accounts.models import User
from controlplane.agents.collectors import collector_key_issue
from controlplane.gateway.services import (
    budget_create,
    provider_create,
    role_default_set,
    route_create,
)
from controlplane.web import urls as web_urls
from tenants.models import Tenant
from tests.api.conftest import privacy_objects, security_objects
from tests.conftest import SYSTEM, signed_in
from tests.web.conftest import Fleet, World

pytestmark = pytest.mark.django_db


def _patterns(prefix: str) -> list[URLPattern]:
    return [
        p
        for p in web_urls.urlpatterns
        if isinstance(p, URLPattern) and p.name and p.name.startswith(prefix)
    ]


PORTAL = [p.name for p in _patterns("portal_")]
CONSOLE = [p.name for p in _patterns("console_")]
_ROUTES = {p.name: str(p.pattern) for p in web_urls.urlpatterns if isinstance(p, URLPattern)}
# The object a URL's <uuid:pk> names, by the path segment in front of it.
_OBJECT_OF_SEGMENT = {
    "people": "membership",
    "invitations": "invitation",
    "departments": "department",
    "sites": "site",
    "devices": "device",
    "agents": "agent",
    "agent-keys": "agent_key",
    "snapshots": "dataflow_snapshot",
    "budgets": "budget",
    "providers": "provider",
    "routes": "route",
    "role-defaults": "role_default",
    "staff": "staff_member",
    "invoices": "invoice",
    "incidents": "incident",
    "alerts": "alert",
    "quarantines": "quarantine",
    "evidence": "evidence",
    "exceptions": "control_exception",
    "holds": "legal_hold",
    "runs": "retention_run",
    "requests": "data_subject_request",
    "evidence-packages": "evidence_package",
    "auditors": "auditor_account",
    "collector-keys": "collector_key",
}
# Some trace id; whose it is does not matter to these tests, which stop before a read.
TRACE_ID = "0af7651916cd43dd8448eb211c80319c"


def _pk_kind(name: str) -> str | None:
    parts = _ROUTES[name].strip("/").split("/")
    found = [index for index, part in enumerate(parts) if part.startswith("<uuid:")]
    return _OBJECT_OF_SEGMENT[parts[found[0] - 1]] if found else None


def _fleet_objects(fleet: Fleet) -> dict[str, uuid.UUID]:
    return {
        "site": fleet.site.pk,
        "device": fleet.device.pk,
        "agent": fleet.agent.pk,
        "agent_key": fleet.key.pk,
        "collector_key": collector_key_issue(actor=SYSTEM, site=fleet.site, name="otel")[0].pk,
    }


def _objects_of_b(world: World, fleet_b: Fleet) -> dict[str, uuid.UUID]:
    alert, _, quarantine = security_objects(world.b, fleet_b.agent.pk)
    return {
        "alert": alert.pk,
        "incident": alert.incident_id,
        "quarantine": quarantine.pk,
        "membership": world.membership(world.b_owner).pk,
        "invitation": world.b_invitation.pk,
        "department": world.b_department.pk,
        "dataflow_snapshot": _dataflow_snapshot(world.b),
        "budget": _budget(world.b),
        "role_default": role_default_set(actor=SYSTEM, tenant=world.b, role="marketing").pk,
        **_provider_and_route(world.b),
        **_fleet_objects(fleet_b),
        "staff_member": uuid.uuid4(),  # MSP-level: no tenant's object to name
        "invoice": uuid.uuid4(),  # tests/billing open another tenant's real invoices
        **_compliance_objects(world.b, world.b_owner),
        **privacy_objects(world.b, fleet_b.agent),
        "evidence_package": _evidence_package(world.b),
        "auditor_account": uuid.uuid4(),  # MSP-level: no tenant's object to name
    }


def _compliance_objects(tenant: Tenant, owner: User) -> dict[str, uuid.UUID]:
    """An evidence record of ``tenant`` and an exception it asked for."""
    from compliance.models import Control
    from compliance.reviews import exception_request
    from controlplane.core.tenancy import tenant_context
    from tests.compliance.controls import collect

    record = collect("cc6.agent_keys", tenant)
    with tenant_context(tenant):
        exception = exception_request(
            actor=SYSTEM,
            requested_by=owner,
            tenant=tenant,
            control=Control.objects.get(code="CC6.1-AGENT-KEYS"),
            justification="A key kept for the migration weekend, revoked after.",
            expires_at=timezone.now() + dt.timedelta(days=7),
        )
    return {"evidence": record.pk, "control_exception": exception.pk}


def _dataflow_snapshot(tenant: Tenant) -> uuid.UUID:
    until = timezone.now()
    snapshot, _ = dataflow_snapshot_create(
        tenant=tenant, since=until - dt.timedelta(days=1), until=until, actor=SYSTEM
    )
    return snapshot.pk


def _evidence_package(tenant: Tenant) -> uuid.UUID:
    quarter = Period.last_full_quarter(timezone.now().date())
    return package_request(actor=SYSTEM, tenant=tenant, period=quarter).pk


def _budget(tenant: Tenant) -> uuid.UUID:
    budget = budget_create(
        actor=SYSTEM, tenant=tenant, scope="tenant", period="day", limit=Decimal(1), kind="hard"
    )
    return budget.pk


def _provider_and_route(tenant: Tenant) -> dict[str, uuid.UUID]:
    """A provider of ``tenant`` and a route of the tenant that uses it."""
    provider = provider_create(
        actor=SYSTEM,
        tenant=tenant,
        name=f"{tenant.slug}-own",
        kind="openai",
        base_url="https://llm.example.com/v1",
    )
    route = route_create(
        actor=SYSTEM, tenant=tenant, name="own", candidates=[{"provider_id": provider.pk}]
    )
    return {"provider": provider.pk, "route": route.pk}


def _url(name: str, slug: str, objects: dict[str, uuid.UUID]) -> str:
    kind = _pk_kind(name)
    ids: list[object] = [objects[kind]] if kind else []
    if name.startswith("console_") and "<slug:slug>" not in _ROUTES[name]:
        if "<slug:category>" in _ROUTES[name]:
            ids.append("security")
        return reverse(f"web:{name}", args=ids)
    args: list[object] = [slug, *ids]
    if "<str:trace_id>" in _ROUTES[name]:
        args.append(TRACE_ID)
    if "<str:kind>" in _ROUTES[name]:
        args.append("pdf")
    if "<slug:category>" in _ROUTES[name]:
        args.append("security")
    return reverse(f"web:{name}", args=args)


def _object_status(client: object, url: str) -> tuple[int, int]:
    """GET and POST of an object URL. One of them may be 405 (the URL takes only the
    other method, which is checked before the object is looked up); the other must be
    404."""
    data = {"role": "member", "name": "x", "status": "disabled"}
    return client.get(url).status_code, client.post(url, data).status_code  # type: ignore[attr-defined]


def test_the_lists_cover_the_areas() -> None:
    assert {"portal_home", "portal_people", "portal_member_role", "portal_settings"} <= set(PORTAL)
    assert {"console_tenants", "console_tenant", "console_audit"} <= set(CONSOLE)
    assert all(_pk_kind(name) in (None, *_OBJECT_OF_SEGMENT.values()) for name in PORTAL + CONSOLE)
    fleet_pages = {
        "sites",
        "site",
        "agents",
        "agent",
        "agent_create",
        "traces",
        "trace",
        "dashboards",
    }
    assert {f"portal_{n}" for n in fleet_pages} <= set(PORTAL)
    assert {f"console_{n}" for n in fleet_pages} <= set(CONSOLE)


@pytest.mark.parametrize("name", PORTAL)
@pytest.mark.parametrize("method", ["get", "post"])
def test_outsider_gets_404_on_every_portal_url_of_another_tenant(
    world: World, fleet_b: Fleet, name: str, method: str
) -> None:
    client = signed_in(world.a_owner)
    url = _url(name, world.b.slug, _objects_of_b(world, fleet_b))
    response = getattr(client, method)(url)
    assert response.status_code == 404, url


@pytest.mark.parametrize("name", [n for n in PORTAL if _pk_kind(n)])
def test_owner_gets_404_for_another_tenants_object_in_their_own_portal(
    world: World, fleet_a: Fleet, fleet_b: Fleet, name: str
) -> None:
    """Tenant A's owner, in A's portal, naming an object of B by id."""
    client = signed_in(world.a_owner)
    url = _url(name, world.a.slug, _objects_of_b(world, fleet_b))
    statuses = _object_status(client, url)
    assert set(statuses) <= {404, 405} and 404 in statuses, (url, statuses)


@pytest.mark.parametrize(
    "name", [n for n in CONSOLE if _pk_kind(n) and "<slug:slug>" in _ROUTES[n]]
)
def test_console_object_urls_only_accept_objects_of_the_tenant_in_the_url(
    world: World, fleet_a: Fleet, fleet_b: Fleet, make_staff: Callable[..., User], name: str
) -> None:
    client = signed_in(make_staff("operator"))
    url = _url(name, world.a.slug, _objects_of_b(world, fleet_b))
    statuses = _object_status(client, url)
    assert set(statuses) <= {404, 405} and 404 in statuses, (url, statuses)


@pytest.mark.parametrize("name", PORTAL)
def test_missing_tenant_and_non_member_look_the_same(
    world: World, fleet_b: Fleet, name: str
) -> None:
    client = signed_in(world.a_owner)
    missing = client.get(_url(name, "no-such-tenant", _objects_of_b(world, fleet_b)))
    assert missing.status_code == 404


@pytest.mark.parametrize("name", CONSOLE)
@pytest.mark.parametrize("method", ["get", "post"])
def test_customer_gets_404_on_every_console_url(
    world: World, fleet_b: Fleet, name: str, method: str
) -> None:
    client = signed_in(world.a_owner)
    url = _url(name, world.b.slug, _objects_of_b(world, fleet_b))
    assert getattr(client, method)(url).status_code == 404, url


@pytest.mark.parametrize("name", CONSOLE)
def test_auditor_gets_403_on_every_console_write(
    world: World, fleet_b: Fleet, make_staff: Callable[..., User], name: str
) -> None:
    client = signed_in(make_staff("auditor"))
    url = _url(name, world.b.slug, _objects_of_b(world, fleet_b))
    assert client.post(url, {"name": "x", "role": "owner"}).status_code == 403, url


@pytest.mark.parametrize(
    "name",
    [
        "console_tenants",
        "console_fleet",
        "console_msp_gateway",
        "console_staff",
        "console_audit",
        "console_security_queue",
    ],
)
def test_auditor_reads_console_pages(
    world: World, make_staff: Callable[..., User], name: str
) -> None:
    response = signed_in(make_staff("auditor")).get(reverse(f"web:{name}"))
    assert response.status_code == 200
    assert b"Create tenant" not in response.content


def test_auditor_reads_tenant_detail_without_forms(
    world: World, make_staff: Callable[..., User]
) -> None:
    response = signed_in(make_staff("auditor")).get(
        reverse("web:console_tenant", args=[world.b.slug])
    )
    assert response.status_code == 200
    assert b"Globex R&amp;D" in response.content
    assert b"<form" not in response.content.split(b'<main id="main"')[1]


@pytest.mark.parametrize(
    "name",
    [
        f"portal_{n}"
        for n in (
            "home",
            "people",
            "departments",
            "audit",
            "settings",
            "sites",
            "agents",
            "traces",
            "dashboards",
            "security",
        )
    ],
)
def test_every_member_role_reads_the_portal_pages(
    world: World, make_customer: Callable[..., User], name: str
) -> None:
    for role in ("owner", "admin", "member", "billing", "viewer"):
        client = signed_in(make_customer(world.a, role))
        response = client.get(reverse(f"web:{name}", args=[world.a.slug]))
        assert response.status_code == 200, (role, name)


@pytest.mark.parametrize("name", [n for n in PORTAL if n not in ("portal_settings",)])
def test_member_gets_403_on_portal_writes(world: World, fleet_a: Fleet, name: str) -> None:
    client = signed_in(world.a_member)
    objects = {
        "membership": world.membership(world.a_owner).pk,
        "invitation": uuid.uuid4(),
        "department": world.a_department.pk,
        "dataflow_snapshot": uuid.uuid4(),
        "budget": _budget(world.a),
        "provider": uuid.uuid4(),
        "route": uuid.uuid4(),
        "role_default": role_default_set(actor=SYSTEM, tenant=world.a, role="marketing").pk,
        "invoice": uuid.uuid4(),
        "incident": uuid.uuid4(),
        "alert": uuid.uuid4(),
        "quarantine": uuid.uuid4(),
        "evidence": uuid.uuid4(),
        "legal_hold": uuid.uuid4(),
        "retention_run": uuid.uuid4(),
        "data_subject_request": uuid.uuid4(),
        "evidence_package": uuid.uuid4(),
        **_fleet_objects(fleet_a),
    }
    url = _url(name, world.a.slug, objects)
    assert client.post(url, {"role": "owner", "name": "x"}).status_code == 403, url


def test_anonymous_is_sent_to_login(world: World) -> None:
    from django.test import Client

    for url in (reverse("web:console_tenants"), reverse("web:portal_home", args=[world.a.slug])):
        response = Client().get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("accounts:login"))


def test_suspended_tenant_portal_is_404(world: World) -> None:
    from tenants.services import tenant_update
    from tests.conftest import SYSTEM

    tenant_update(actor=SYSTEM, tenant=world.a, status="suspended")
    response = signed_in(world.a_owner).get(reverse("web:portal_home", args=[world.a.slug]))
    assert response.status_code == 404


def test_staff_are_not_members_of_a_portal(world: World, make_staff: Callable[..., User]) -> None:
    response = signed_in(make_staff("admin")).get(reverse("web:portal_home", args=[world.a.slug]))
    assert response.status_code == 404

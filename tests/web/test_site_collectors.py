"""Site collector keys on a site's page: issued and rotated with the key shown once,
revoked, and the site's choice about unknown agents; owner, member and outsider."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from controlplane.agents.collectors import collector_key_issue
from controlplane.agents.models import Site, SiteCollectorKey
from controlplane.agents.services import sha256_hex
from controlplane.audit.models import AuditEvent
from controlplane.core.tenancy import all_tenants_context, tenant_context
from tests.conftest import SYSTEM, signed_in
from tests.web.conftest import Fleet, World

pytestmark = pytest.mark.django_db

COLLECTOR_KEY = re.compile(r"acpc_[0-9a-f]{12}_[A-Za-z0-9_-]{20,}")


def url(name: str, world: World, *args: object) -> str:
    return reverse(f"web:portal_{name}", args=[world.a.slug, *args])


def _key(world: World, name: str) -> SiteCollectorKey:
    with tenant_context(world.a):
        return SiteCollectorKey.objects.get(name=name)


def test_owner_issues_a_collector_key_shown_once_with_the_collector_settings(
    world: World, fleet_a: Fleet
) -> None:
    client = signed_in(world.a_owner)
    response = client.post(
        url("collector_key_issue", world, fleet_a.site.pk), {"name": "otel-hq"}, follow=True
    )
    body = response.content.decode()
    found = COLLECTOR_KEY.search(body)
    assert response.status_code == 200 and found is not None
    assert "no-store" in response["Cache-Control"]
    assert f"endpoint: {fleet_a.node.agent_url}" in body, "where the collector exports to"
    key = _key(world, "otel-hq")
    assert key.key_sha256 == sha256_hex(found.group())
    again = client.get(url("site", world, fleet_a.site.pk)).content.decode()
    assert found.group() not in again and "otel-hq" in again
    with all_tenants_context():
        assert AuditEvent.unscoped.filter(action="site_collector_key.issued").exists()


def test_rotating_shows_the_new_key_once_and_revoking_stops_the_key(
    world: World, fleet_a: Fleet
) -> None:
    key, first = collector_key_issue(actor=SYSTEM, site=fleet_a.site, name="otel-hq")
    client = signed_in(world.a_admin)
    response = client.post(url("collector_key_rotate", world, key.pk), follow=True)
    rotated = COLLECTOR_KEY.search(response.content.decode())
    assert rotated is not None and rotated.group() != first
    assert "previous key stops working" in response.content.decode()
    assert _key(world, "otel-hq").key_sha256 == sha256_hex(rotated.group())

    client.post(url("collector_key_revoke", world, key.pk))
    assert _key(world, "otel-hq").revoked_at is not None
    page = client.get(url("site", world, fleet_a.site.pk)).content.decode()
    assert "Revoked" in page
    response = client.post(url("collector_key_rotate", world, key.pk), follow=True)
    assert "revoked" in response.content.decode() and not COLLECTOR_KEY.search(
        response.content.decode()
    )


def test_owner_lets_the_sites_collectors_register_unknown_agents(
    world: World, fleet_a: Fleet
) -> None:
    client = signed_in(world.a_owner)
    version = fleet_a.site.config_version
    client.post(url("site_collectors", world, fleet_a.site.pk), {"collector_auto_register": "on"})
    with tenant_context(world.a):
        site = Site.objects.get(pk=fleet_a.site.pk)
    assert site.collector_auto_register and site.config_version > version, "edges learn it"
    client.post(url("site_collectors", world, fleet_a.site.pk), {})
    with tenant_context(world.a):
        assert not Site.objects.get(pk=fleet_a.site.pk).collector_auto_register


def test_a_member_sees_the_keys_without_forms_and_cannot_issue(
    world: World, fleet_a: Fleet
) -> None:
    collector_key_issue(actor=SYSTEM, site=fleet_a.site, name="otel-hq")
    client = signed_in(world.a_member)
    page = client.get(url("site", world, fleet_a.site.pk)).content.decode()
    assert "otel-hq" in page and "Issue a collector key" not in page
    assert "Unknown agents: refused" in page
    response = client.post(url("collector_key_issue", world, fleet_a.site.pk), {"name": "x"})
    assert response.status_code == 403
    with tenant_context(world.a):
        assert SiteCollectorKey.objects.count() == 1


def test_another_tenants_owner_reaches_neither_the_site_nor_its_keys(
    world: World, fleet_a: Fleet
) -> None:
    key, _ = collector_key_issue(actor=SYSTEM, site=fleet_a.site, name="otel-hq")
    client = signed_in(world.b_owner)
    for name, pk in (
        ("collector_key_issue", fleet_a.site.pk),
        ("collector_key_rotate", key.pk),
        ("collector_key_revoke", key.pk),
        ("site_collectors", fleet_a.site.pk),
    ):
        own_url = reverse(f"web:portal_{name}", args=[world.b.slug, pk])
        assert client.post(own_url, {"name": "x"}).status_code == 404, name
        assert client.post(url(name, world, pk), {"name": "x"}).status_code == 404, name
    assert _key(world, "otel-hq").revoked_at is None

"""Site collector keys and the site's auto-registration through the API: issued and
rotated keys shown once, revoked ones refused again, roles as for agent keys; agents
registered at a site."""

from __future__ import annotations

import pytest

from controlplane.agents.models import SiteCollectorKey
from controlplane.agents.services import sha256_hex
from controlplane.core.tenancy import tenant_context
from tests.api.conftest import World

pytestmark = pytest.mark.django_db


def test_collector_keys_are_issued_rotated_and_revoked_with_the_secret_shown_once(
    world: World,
) -> None:
    api = world.api("a:admin")
    site = world.a_objects["site"]
    base = f"tenants/acme/sites/{site}/collector-keys"
    issued = api.post(base, {"name": "otel-berlin"})
    assert issued.status_code == 201, issued.content
    secret = issued.json()["key"]
    assert secret.startswith(f"acpc_{issued.json()['key_id']}_")
    with tenant_context(world.a):
        stored = SiteCollectorKey.objects.get(pk=issued.json()["id"])
    assert stored.key_sha256 == sha256_hex(secret)

    listed = api.get(base).json()["results"]
    assert {k["name"] for k in listed} >= {"otel-berlin"} and all("key" not in k for k in listed)

    rotated = api.post(f"{base}/{stored.pk}/rotate")
    assert rotated.status_code == 200 and rotated.json()["key"] != secret
    assert rotated.json()["rotated_at"]
    revoked = api.post(f"{base}/{stored.pk}/revoke")
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    assert api.post(f"{base}/{stored.pk}/revoke").status_code == 409
    assert api.post(f"{base}/{stored.pk}/rotate").status_code == 409

    assert api.post(base, {}).json()["errors"][0]["field"] == "name"
    member = world.api("a:member")
    assert member.get(base).status_code == 200
    assert member.post(base, {"name": "x"}).status_code == 403


def test_a_site_lets_its_collectors_register_agents_and_an_agent_is_registered_at_a_site(
    world: World,
) -> None:
    api = world.api("a:admin")
    site = str(world.a_objects["site"])
    changed = api.patch(f"tenants/acme/sites/{site}", {"collector_auto_register": True})
    assert changed.status_code == 200 and changed.json()["collector_auto_register"] is True
    assert changed.json()["config_version"] > 1

    agent = api.post("tenants/acme/agents", {"name": "batch-via-collector", "site": site})
    assert agent.status_code == 201 and agent.json()["site"] == site
    foreign = api.post("tenants/acme/agents", {"name": "x", "site": str(world.b_objects["site"])})
    assert foreign.status_code == 400 and foreign.json()["errors"][0]["field"] == "site"

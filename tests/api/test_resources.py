"""What each resource does, beyond access: the rules of the services, shown-once secrets,
pagination and filters, and the audit trail."""

from __future__ import annotations

from typing import Any

import pytest

from controlplane.audit.models import AuditEvent
from controlplane.core.tenancy import all_tenants_context
from tenants.models import Membership
from tests.api.conftest import Api, World

pytestmark = pytest.mark.django_db


def membership_id(world: World, who: str) -> str:
    with all_tenants_context():
        return str(Membership.unscoped.get(user=world.users[who]).pk)


# --- tenants ---------------------------------------------------------------------------


def test_only_unrestricted_staff_writers_create_tenants(world: World) -> None:
    body = {"slug": "initech", "name": "Initech"}
    for who, kwargs in (
        ("staff:auditor", {}),
        ("a:owner", {}),
        ("staff:admin", {"tenant": world.a}),
    ):
        assert world.api(who, **kwargs).post("tenants", body).status_code == 403, who

    created = world.api("staff:operator").post("tenants", {**body, "mfa_required": True})

    assert created.status_code == 201
    assert created.json()["slug"] == "initech" and created.json()["mfa_required"] is True
    dup = world.api("staff:admin").post("tenants", body)
    assert dup.status_code == 400 and dup.json()["errors"][0]["field"] == "slug"


def test_staff_list_every_tenant_customers_their_own(world: World) -> None:
    def slugs(api: Api) -> list[str]:
        return [t["slug"] for t in api.get("tenants").json()["results"]]

    assert slugs(world.api("staff:auditor")) == ["acme", "globex"]
    assert slugs(world.api("staff:admin", tenant=world.b)) == ["globex"]
    assert slugs(world.api("a:viewer")) == ["acme"]


def test_an_owner_changes_mfa_only_and_staff_anything(world: World) -> None:
    assert world.api("a:owner").patch("tenants/acme", {"mfa_required": True}).status_code == 200
    assert world.api("a:owner").patch("tenants/acme", {"name": "X"}).status_code == 403
    assert world.api("a:admin").patch("tenants/acme", {"mfa_required": False}).status_code == 403
    response = world.api("staff:admin").patch(
        "tenants/acme", {"status": "suspended", "retention_days": 30}
    )
    assert response.status_code == 200 and response.json()["status"] == "suspended"
    # A suspended tenant is out of its customers' reach; staff still see it.
    assert world.api("a:owner").get("tenants/acme").status_code == 404
    assert world.api("staff:auditor").get("tenants/acme").status_code == 200


# --- people and the owner rule ------------------------------------------------------------


def test_admins_cannot_touch_the_owner_role(world: World) -> None:
    admin = world.api("a:admin")
    owner_id = membership_id(world, "a:owner")
    member_id = membership_id(world, "a:member")

    assert (
        admin.patch(f"tenants/acme/memberships/{member_id}", {"role": "owner"}).status_code == 403
    )
    assert admin.patch(f"tenants/acme/memberships/{owner_id}", {"role": "admin"}).status_code == 403
    assert admin.delete(f"tenants/acme/memberships/{owner_id}").status_code == 403
    invite = admin.post("tenants/acme/invitations", {"email": "boss@acme.example", "role": "owner"})
    assert invite.status_code == 403
    assert (
        admin.patch(f"tenants/acme/memberships/{member_id}", {"role": "billing"}).json()["role"]
        == "billing"
    )

    owner = world.api("a:owner")
    promoted = owner.patch(f"tenants/acme/memberships/{member_id}", {"role": "owner"})
    assert promoted.status_code == 200 and promoted.json()["role"] == "owner"
    staff = world.api("staff:operator")
    assert (
        staff.patch(f"tenants/acme/memberships/{member_id}", {"role": "viewer"}).status_code == 200
    )


def test_people_are_limited_to_departments_of_their_tenant(world: World) -> None:
    member_id = membership_id(world, "a:member")
    url = f"tenants/acme/memberships/{member_id}"
    department = str(world.a_objects["department"])
    owner = world.api("a:owner")

    limited = owner.patch(url, {"departments": [department]})
    assert limited.status_code == 200, limited.json()
    assert limited.json()["departments"] == [department] and limited.json()["role"] == "member"
    with all_tenants_context():
        event = AuditEvent.objects.filter(action="membership.departments_changed").latest("seq")
    assert event.after["departments"] == [department] and event.before["departments"] == []

    # Another tenant's department is "not found", and nothing changes.
    other = owner.patch(url, {"departments": [str(world.b_objects["department"])]})
    assert other.status_code == 400 and other.json()["errors"][0]["field"] == "departments.0"
    assert owner.get(url).json()["departments"] == [department]
    assert owner.patch(url, {}).status_code == 400

    # Only owners (and staff) limit an owner; an empty list lifts the limit.
    owner_url = f"tenants/acme/memberships/{membership_id(world, 'a:owner')}"
    assert world.api("a:admin").patch(owner_url, {"departments": [department]}).status_code == 403
    assert owner.patch(url, {"departments": []}).json()["departments"] == []


def test_the_last_owner_stays(world: World) -> None:
    owner_id = membership_id(world, "a:owner")
    response = world.api("a:owner").delete(f"tenants/acme/memberships/{owner_id}")
    assert response.status_code == 400
    assert response.json()["detail"] == "A tenant must keep at least one owner."


def test_removing_a_person_deactivates_them_and_their_tokens(world: World) -> None:
    viewer = world.api("a:viewer")
    assert viewer.get("me").status_code == 200
    removed = world.api("a:admin").delete(
        f"tenants/acme/memberships/{membership_id(world, 'a:viewer')}"
    )
    assert removed.status_code == 204
    assert viewer.get("me").status_code == 401


def test_invitation_link_is_shown_once_and_revocable(
    world: World, mailoutbox: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    api = world.api("a:owner")
    with django_capture_on_commit_callbacks(execute=True):
        created = api.post(
            "tenants/acme/invitations", {"email": "Sam@Acme.example", "role": "member"}
        )
    assert created.status_code == 201
    body = created.json()
    assert body["email"] == "sam@acme.example" and body["status"] == "pending"
    assert body["link"] in mailoutbox[0].body
    again = api.get(f"tenants/acme/invitations/{body['id']}").json()
    assert "link" not in again
    revoked = api.post(f"tenants/acme/invitations/{body['id']}/revoke")
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    assert api.post(f"tenants/acme/invitations/{body['id']}/revoke").status_code == 409
    # Members read people but not invitations.
    assert world.api("a:member").get("tenants/acme/memberships").status_code == 200
    assert world.api("a:member").get("tenants/acme/invitations").status_code == 403


# --- registry ------------------------------------------------------------------------------


def test_device_keys_rotate_and_devices_revoke(world: World) -> None:
    api = world.api("a:admin")
    device = api.post(
        "tenants/acme/devices", {"site": str(world.a_objects["site"]), "name": "ws-9"}
    ).json()
    assert device["key"].startswith("acpd_")
    url = f"tenants/acme/devices/{device['id']}"
    assert "key" not in api.get(url).json()

    rotated = api.post(f"{url}/rotate-key")
    assert rotated.status_code == 200 and rotated.json()["key"] != device["key"]
    revoked = api.post(f"{url}/revoke")
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    assert api.post(f"{url}/revoke").status_code == 409
    assert api.post(f"{url}/rotate-key").status_code == 409
    listed = api.get("tenants/acme/devices", revoked="true").json()["results"]
    assert [d["id"] for d in listed] == [device["id"]]


def test_agents_and_their_keys(world: World) -> None:
    api = world.api("a:admin")
    agent = api.post(
        "tenants/acme/agents",
        {
            "name": "triage",
            "device": str(world.a_objects["device"]),
            "department": str(world.a_objects["department"]),
            "owner": str(world.users["a:member"].pk),
            "tools": ["erp.lookup"],
            "operating_window": {"days": [4, 0, 0], "start": "08:00", "end": "18:00"},
        },
    )
    assert agent.status_code == 201, agent.content
    agent_id = agent.json()["id"]
    assert agent.json()["operating_window"] == {
        "days": [0, 4],
        "start": "08:00",
        "end": "18:00",
        "tz": "UTC",
    }
    outsider = api.post(
        "tenants/acme/agents", {"name": "x", "owner": str(world.users["b:owner"].pk)}
    )
    assert outsider.status_code == 400 and outsider.json()["errors"][0]["field"] == "owner"

    key = api.post(f"tenants/acme/agents/{agent_id}/keys")
    assert key.status_code == 201 and key.json()["key"].startswith("acpk_")
    keys = api.get(f"tenants/acme/agents/{agent_id}/keys").json()["results"]
    assert [k["id"] for k in keys] == [key.json()["id"]] and "key" not in keys[0]
    revoke = api.post(f"tenants/acme/agents/{agent_id}/keys/{key.json()['id']}/revoke")
    assert revoke.status_code == 200 and revoke.json()["revoked_at"]

    disabled = api.patch(f"tenants/acme/agents/{agent_id}", {"status": "disabled", "tools": []})
    assert disabled.json()["status"] == "disabled" and disabled.json()["tools"] == []
    assert api.get("tenants/acme/agents", status="disabled").json()["results"][0]["id"] == agent_id


def test_edge_node_token_is_shown_once(world: World) -> None:
    api = world.api("staff:operator")
    created = api.post(
        "tenants/globex/edge-nodes",
        {
            "site": str(world.b_objects["site"]),
            "name": "edge-2",
            "pull_url": "https://edge2.globex.example",
            "agent_url": "http://10.1.0.5:4318",
        },
    )
    assert created.status_code == 201 and created.json()["token"].startswith("acpn_")
    fetched = api.get(f"tenants/globex/edge-nodes/{created.json()['id']}").json()
    assert "token" not in fetched
    assert (fetched["health"], fetched["dead_letter_count"], fetched["last_error_at"]) == (
        "pending",
        0,
        None,
    )


# --- tokens and prices ----------------------------------------------------------------------


def test_tokens_are_shown_once_never_broader_and_revocable(world: World) -> None:
    api = world.api("a:member")
    created = api.post("tokens", {"name": "ci", "read_only": True, "expires_in_days": 7})
    assert created.status_code == 201
    token = created.json()
    assert token["tenant"] == "acme" and token["token"].startswith("acp_")
    listed = api.get("tokens").json()["results"]
    assert token["id"] in [t["id"] for t in listed] and all("token" not in t for t in listed)
    new = Api(token["token"])
    assert new.get("me").json()["token"]["read_only"] is True
    assert new.post("tokens", {"name": "x"}).status_code == 403  # read-only writes nothing

    assert api.post("tokens", {"name": "x", "tenant": "globex"}).status_code == 400
    limited = world.api("staff:admin", tenant=world.a)
    assert limited.post("tokens", {"name": "x", "tenant": "globex"}).status_code == 400
    assert limited.post("tokens", {"name": "x"}).json()["tenant"] == "acme"

    assert api.post(f"tokens/{token['id']}/revoke").json()["revoked_at"]
    assert new.get("me").status_code == 401


def test_prices_are_read_by_all_and_written_by_staff(world: World) -> None:
    body = {
        "provider": "anthropic",
        "model": "claude-haiku",
        "input_per_million": "0.8",
        "output_per_million": "4",
        "effective_from": "2026-11-01T00:00:00Z",
    }
    assert world.api("a:owner").post("model-prices", body).status_code == 403
    assert world.api("staff:auditor").post("model-prices", body).status_code == 403
    created = world.api("staff:admin").post("model-prices", body)
    assert created.status_code == 201 and created.json()["output_per_million"] == "4.000000"
    listed = world.api("a:viewer").get("model-prices", provider="anthropic").json()["results"]
    assert [p["model"] for p in listed] == ["claude-haiku"]


# --- lists, audit ---------------------------------------------------------------------------


def test_lists_page_with_a_cursor_and_filter_and_order(world: World) -> None:
    api = world.api("a:admin")
    for n in range(5):
        assert api.post("tenants/acme/sites", {"name": f"Site {n}"}).status_code == 201
    first = api.get("tenants/acme/sites", page_size="2", ordering="-name").json()
    assert [s["name"] for s in first["results"]] == ["Site 4", "Site 3"]
    second = api.get(first["next"]).json()
    assert [s["name"] for s in second["results"]] == ["Site 2", "Site 1"]
    assert [s["name"] for s in api.get("tenants/acme/sites", q="site 2").json()["results"]] == [
        "Site 2"
    ]
    bad = api.get("tenants/acme/edge-nodes", site="not-a-uuid")
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "site"


def test_every_write_is_in_the_audit_trail_as_the_token(world: World) -> None:
    api = world.api("a:admin")
    site = api.post("tenants/acme/sites", {"name": "Audited"}).json()
    with all_tenants_context():
        event = AuditEvent.objects.get(action="site.created", target_id=site["id"])
    assert event.actor_kind == "api_token"
    assert event.actor_label == world.users["a:admin"].email
    assert event.tenant_id == world.a.pk

"""Sites, edge nodes, devices and agents in the portal and the console."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

import pytest
from django.forms.models import model_to_dict
from django.urls import reverse
from django.utils import timezone

from controlplane.accounts.models import User
from controlplane.agents.models import Agent, AgentKey, Device, EdgeNode, Site
from controlplane.agents.services import device_register, sha256_hex
from controlplane.audit.models import AuditEvent
from controlplane.core.crypto import key_ring
from controlplane.core.tenancy import all_tenants_context, tenant_context
from controlplane.web.edge_status import node_state, node_status
from controlplane.web.registry_views import edge_command
from tests.conftest import SYSTEM, signed_in
from tests.web.conftest import Fleet, World

pytestmark = pytest.mark.django_db

AGENT_KEY = re.compile(r"acpk_[0-9a-f]{12}_[A-Za-z0-9_-]{20,}")
DEVICE_KEY = re.compile(r"acpd_[A-Za-z0-9_-]{20,}")
NODE_TOKEN = re.compile(r"acpn_[A-Za-z0-9_-]{20,}")


def url(name: str, world: World, *args: object) -> str:
    return reverse(f"web:portal_{name}", args=[world.a.slug, *args])


def console_url(name: str, world: World, *args: object) -> str:
    return reverse(f"web:console_{name}", args=[world.a.slug, *args])


def main_part(body: bytes) -> str:
    return body.decode().split('<main id="main"')[1]


def reload(obj: object) -> object:
    with all_tenants_context():
        return type(obj).unscoped.get(pk=obj.pk)  # type: ignore[attr-defined]


def row_values(obj: object) -> str:
    """Every stored column of a row, as one string."""
    return " ".join(str(v) for v in model_to_dict(obj).values()) + " " + str(vars(obj))


# --- sites -------------------------------------------------------------------------------


def test_owner_adds_a_site_and_sees_it_listed(world: World) -> None:
    client = signed_in(world.a_owner)
    response = client.post(url("sites", world), {"name": "Berlin office", "location": "Floor 2"})
    with tenant_context(world.a):
        site = Site.objects.get(name="Berlin office")
    assert response.status_code == 302
    assert response["Location"] == url("site", world, site.pk)
    listing = client.get(url("sites", world)).content.decode()
    assert "Berlin office" in listing and "Floor 2" in listing


def test_duplicate_site_name_is_a_form_error(world: World, fleet_a: Fleet) -> None:
    response = signed_in(world.a_owner).post(url("sites", world), {"name": fleet_a.site.name})
    assert response.status_code == 200
    assert "already exists" in response.content.decode()


def test_sites_list_shows_only_the_tenants_sites(
    world: World, fleet_a: Fleet, fleet_b: Fleet
) -> None:
    body = signed_in(world.a_member).get(url("sites", world)).content.decode()
    assert fleet_a.site.name in body and fleet_a.node.name in body
    assert fleet_b.site.name not in body and fleet_b.node.name not in body


def test_member_reads_registry_pages_without_forms(world: World, fleet_a: Fleet) -> None:
    client = signed_in(world.a_member)
    for page in (
        url("sites", world),
        url("site", world, fleet_a.site.pk),
        url("agents", world),
        url("agent", world, fleet_a.agent.pk),
    ):
        response = client.get(page)
        assert response.status_code == 200, page
        assert 'method="post"' not in main_part(response.content), page  # (filters are GET)
    assert client.get(url("agent_create", world)).status_code == 403
    assert client.get(url("agent_update", world, fleet_a.agent.pk)).status_code == 403


# --- edge nodes -------------------------------------------------------------------------


def test_edge_node_token_is_shown_once_with_the_edge_settings(world: World, fleet_a: Fleet) -> None:
    client = signed_in(world.a_admin)
    response = client.post(
        url("edge_node_create", world, fleet_a.site.pk),
        {
            "name": "hq-edge-2",
            "pull_url": "https://edge2.acme.example:4400",
            "agent_url": "http://10.0.0.5:4400",
            "expected_version": "0.1.0",
        },
        follow=True,
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert response.redirect_chain[0][0].startswith(url("site", world, fleet_a.site.pk))
    assert "no-store" in response["Cache-Control"]
    token = NODE_TOKEN.search(body)
    assert token is not None
    digest = sha256_hex(token.group())
    assert f"EDGE_NODE_TOKEN_SHA256={digest}" in body
    assert "EDGE_PORT=4400" in body and "python -m edge" in body
    assert "shown only this once" in body

    with tenant_context(world.a):
        node = EdgeNode.objects.get(name="hq-edge-2")
    assert token.group() not in row_values(node)
    assert key_ring().decrypt(node.encrypted_token) == token.group()

    again = client.get(url("site", world, fleet_a.site.pk)).content.decode()
    assert "hq-edge-2" in again
    assert token.group() not in again and digest not in again
    # no message carries it to the next page either
    assert token.group() not in client.get(url("sites", world)).content.decode()


def test_edge_command_listens_on_loopback_only_for_local_nodes(fleet_a: Fleet) -> None:
    node = fleet_a.node
    node.pull_url = "http://127.0.0.1:4319"
    assert "EDGE_HOST=127.0.0.1 EDGE_PORT=4319" in edge_command(node, "ab" * 32)
    node.pull_url = "https://edge.example.com"
    assert "EDGE_HOST=0.0.0.0 EDGE_PORT=4318" in edge_command(node, "ab" * 32)


def test_bad_edge_node_input_is_shown_on_the_form(world: World, fleet_a: Fleet) -> None:
    client = signed_in(world.a_owner)
    bad_url = client.post(
        url("edge_node_create", world, fleet_a.site.pk),
        {"name": "x", "pull_url": "not a url", "agent_url": "https://e.example"},
    )
    assert bad_url.status_code == 200
    assert "Enter a valid URL" in bad_url.content.decode()
    duplicate = client.post(
        url("edge_node_create", world, fleet_a.site.pk),
        {
            "name": fleet_a.node.name,
            "pull_url": "https://e.example",
            "agent_url": "https://e.example",
        },
    )
    assert duplicate.status_code == 200
    assert "already exists" in duplicate.content.decode()
    assert not NODE_TOKEN.search(duplicate.content.decode())


def _node(fleet: Fleet, **fields: object) -> EdgeNode:
    node = fleet.node
    for name, value in fields.items():
        setattr(node, name, value)
    return node


def test_edge_node_state_derivation(fleet_a: Fleet) -> None:
    now = timezone.now()
    ago = lambda seconds: now - dt.timedelta(seconds=seconds)  # noqa: E731
    assert node_state(_node(fleet_a, last_success_at=None, consecutive_failures=0), now) == (
        "pending"
    )
    assert node_state(_node(fleet_a, last_success_at=ago(5)), now) == "healthy"
    assert node_state(_node(fleet_a, last_success_at=ago(30)), now) == "healthy"
    assert node_state(_node(fleet_a, last_success_at=ago(31)), now) == "late"
    assert node_state(_node(fleet_a, last_success_at=ago(300)), now) == "late"
    assert node_state(_node(fleet_a, last_success_at=ago(301)), now) == "down"
    assert node_state(_node(fleet_a, last_success_at=ago(2), consecutive_failures=1), now) == (
        "down"
    )
    assert node_state(_node(fleet_a, last_success_at=None, consecutive_failures=3), now) == "down"


def test_edge_node_status_reads_the_heartbeat(fleet_a: Fleet) -> None:
    now = timezone.now()
    oldest = now - dt.timedelta(seconds=95)
    node = _node(
        fleet_a,
        last_success_at=now - dt.timedelta(seconds=3),
        heartbeat_at=now,
        heartbeat={
            "version": "0.2.0",
            "config_version": 3,
            "spool": {
                "records": 1234,
                "bytes": 5 * 1024 * 1024,
                "max_bytes": 1 << 30,
                "oldest_unpulled_unix_nano": int(oldest.timestamp() * 1e9),
            },
            "host": {"cpu_percent": 12.5, "memory_percent": 40.0, "disk_percent": 71.2},
        },
        config_version_applied=0,
    )
    status = node_status(node, now)
    assert status.state == "healthy"
    assert status.spool_records == 1234
    assert status.spool_bytes == "5.0 MiB" and status.spool_max_bytes == "1.0 GiB"
    assert status.oldest_unpulled_age == "1 min 35 s"
    assert (status.cpu_percent, status.memory_percent, status.disk_percent) == (12.5, 40.0, 71.2)
    assert status.config_behind  # the site's version rose with every registry change
    assert status.version_mismatch  # expected 0.1.0, reports 0.2.0
    assert status.problems == []


def test_an_edge_node_that_pulls_fine_on_a_host_in_trouble_is_degraded(fleet_a: Fleet) -> None:
    now = timezone.now()
    node = _node(
        fleet_a,
        last_success_at=now - dt.timedelta(seconds=3),
        heartbeat_at=now,
        heartbeat={
            "spool": {
                "bytes": 900 << 20,
                "max_bytes": 1 << 30,
                "oldest_unpulled_unix_nano": int((now - dt.timedelta(minutes=8)).timestamp() * 1e9),
            },
            "host": {"cpu_percent": 99.0, "memory_percent": 40.0, "disk_percent": 71.2},
        },
    )
    status = node_status(node, now)
    assert status.state == "degraded"
    assert status.problems == ["CPU at 99 %", "spool 88 % full", "records waiting 8 min"]


def test_site_page_shows_each_nodes_status(world: World, fleet_a: Fleet) -> None:
    now = timezone.now()
    with all_tenants_context():
        EdgeNode.unscoped.filter(pk=fleet_a.node.pk).update(
            last_success_at=now - dt.timedelta(minutes=10),
            consecutive_failures=4,
            last_error="connection refused by edge.example.com:4318",
            last_error_at=dt.datetime(2026, 12, 1, 8, 30, 15, tzinfo=dt.UTC),
            heartbeat={"version": "0.1.0", "spool": {"records": 77}, "host": {"cpu_percent": 9}},
            heartbeat_at=now - dt.timedelta(minutes=10),
        )
    with tenant_context(world.a):
        late = EdgeNode.objects.create(
            tenant=world.a,
            site=fleet_a.site,
            name="late-node",
            pull_url="https://l.example",
            agent_url="https://l.example",
            encrypted_token=key_ring().encrypt("x"),
            last_success_at=now - dt.timedelta(seconds=45),
        )
        healthy = EdgeNode.objects.create(
            tenant=world.a,
            site=fleet_a.site,
            name="fine-node",
            pull_url="https://f.example",
            agent_url="https://f.example",
            encrypted_token=key_ring().encrypt("y"),
            last_success_at=now - dt.timedelta(seconds=2),
        )
        degraded = EdgeNode.objects.create(
            tenant=world.a,
            site=fleet_a.site,
            name="poisoned-node",
            pull_url="https://p.example",
            agent_url="https://p.example",
            encrypted_token=key_ring().encrypt("z"),
            last_success_at=now - dt.timedelta(seconds=2),
            dead_letter_count=3,
        )
    response = signed_in(world.a_member).get(url("site", world, fleet_a.site.pk))
    statuses = {s.node.name: s.state for s in response.context["nodes"]}
    assert statuses == {
        fleet_a.node.name: "down",
        late.name: "late",
        healthy.name: "healthy",
        degraded.name: "degraded",
    }
    body = response.content.decode()
    assert (
        "Last error at 2026-12-01 08:30:15 UTC: <code>connection refused by "
        "edge.example.com:4318</code>" in body
    )
    assert "4 failed pulls in a row" in body
    assert "77 records" in body
    assert re.search(r'data-dead-letters="poisoned-node">3 <span class="badge', body)
    for label in ("Down", "Late", "Healthy", "Degraded"):
        assert f">{label}</span>" in body


# --- devices -----------------------------------------------------------------------------


def test_device_key_is_shown_once_and_stored_as_a_digest(world: World, fleet_a: Fleet) -> None:
    client = signed_in(world.a_owner)
    response = client.post(
        url("device_create", world, fleet_a.site.pk),
        {"name": "kiosk-1", "fingerprint": "SN 42"},
        follow=True,
    )
    body = response.content.decode()
    key = DEVICE_KEY.search(body)
    assert response.status_code == 200 and key is not None
    assert "no-store" in response["Cache-Control"]
    with tenant_context(world.a):
        device = Device.objects.get(name="kiosk-1")
    assert str(device.pk) in body
    assert device.key_sha256 == sha256_hex(key.group())
    assert key.group() not in row_values(device)
    assert key.group() not in client.get(url("site", world, fleet_a.site.pk)).content.decode()


def test_device_key_rotation_shows_the_new_key_once(world: World, fleet_a: Fleet) -> None:
    client = signed_in(world.a_owner)
    old_digest = fleet_a.device.key_sha256
    response = client.post(url("device_rotate", world, fleet_a.device.pk), follow=True)
    key = DEVICE_KEY.search(response.content.decode())
    assert response.status_code == 200 and key is not None
    device = reload(fleet_a.device)
    assert device.key_sha256 == sha256_hex(key.group()) != old_digest  # type: ignore[attr-defined]
    assert fleet_a.agent.name in response.content.decode()  # who needs the new key
    assert "previous key stops working" in response.content.decode()
    assert key.group() not in client.get(url("site", world, fleet_a.site.pk)).content.decode()


def test_device_revoke(world: World, fleet_a: Fleet) -> None:
    client = signed_in(world.a_owner)
    response = client.post(url("device_revoke", world, fleet_a.device.pk), follow=True)
    assert reload(fleet_a.device).revoked_at is not None  # type: ignore[attr-defined]
    assert "was revoked" in response.content.decode()
    again = client.post(url("device_rotate", world, fleet_a.device.pk), follow=True)
    assert "cannot be renewed" in again.content.decode()
    assert not DEVICE_KEY.search(again.content.decode())


# --- agents ----------------------------------------------------------------------------------


def agent_data(world: World, fleet: Fleet, **changes: object) -> dict[str, object]:
    data: dict[str, object] = {
        "name": "invoice-bot",
        "department": str(world.a_department.pk),
        "owner": str(world.a_admin.pk),
        "purpose": "Reads supplier invoices.",
        "role": "finance",
        "data_classes": "finance, pii, finance",
        "tools": "erp.lookup,  mail.send",
        "device": str(fleet.device.pk),
        "window_days": ["0", "1", "2", "3", "4"],
        "window_start": "08:00",
        "window_end": "18:30",
        "window_tz": "Europe/Berlin",
    }
    data.update(changes)
    return data


def test_owner_registers_an_agent(world: World, fleet_a: Fleet) -> None:
    client = signed_in(world.a_owner)
    response = client.post(url("agent_create", world), agent_data(world, fleet_a))
    with tenant_context(world.a):
        agent = Agent.objects.get(name="invoice-bot")
    assert response.status_code == 302
    assert response["Location"] == url("agent", world, agent.pk)
    assert agent.department_id == world.a_department.pk
    assert agent.owner_id == world.a_admin.pk
    assert agent.device_id == fleet_a.device.pk
    assert agent.data_classes == ["finance", "pii"]
    assert agent.tools == ["erp.lookup", "mail.send"]
    assert agent.operating_window == {
        "days": [0, 1, 2, 3, 4],
        "start": "08:00",
        "end": "18:30",
        "tz": "Europe/Berlin",
    }
    page = client.get(url("agent", world, agent.pk)).content.decode()
    assert "Mon, Tue, Wed, Thu, Fri, 08:00\u201318:30 (Europe/Berlin)" in page
    listing = client.get(url("agents", world)).content.decode()
    assert "invoice-bot" in listing and "Finance" in listing


def test_agent_form_offers_only_the_tenants_own_choices(
    world: World, fleet_a: Fleet, fleet_b: Fleet
) -> None:
    client = signed_in(world.a_owner)
    form_page = client.get(url("agent_create", world)).content.decode()
    assert world.a_department.name in form_page and world.a_admin.email in form_page
    assert fleet_a.device.name in form_page
    assert world.b_department.name not in form_page
    assert world.b_owner.email not in form_page and fleet_b.device.name not in form_page
    for field, foreign in (
        ("department", world.b_department.pk),
        ("owner", world.b_owner.pk),
        ("device", fleet_b.device.pk),
    ):
        response = client.post(
            url("agent_create", world), agent_data(world, fleet_a, **{field: str(foreign)})
        )
        assert response.status_code == 200, field
        assert "Select a valid choice" in response.content.decode(), field
    with tenant_context(world.a):
        assert not Agent.objects.filter(name="invoice-bot").exists()


def test_agent_form_errors(world: World, fleet_a: Fleet) -> None:
    client = signed_in(world.a_owner)
    half_window = client.post(
        url("agent_create", world),
        agent_data(world, fleet_a, window_end="", window_tz="Mars/Olympus"),
    )
    body = half_window.content.decode()
    assert half_window.status_code == 200
    assert "Give the end of the operating window" in body
    assert "not a known time zone" in body
    duplicate = client.post(
        url("agent_create", world), agent_data(world, fleet_a, name=fleet_a.agent.name)
    )
    assert duplicate.status_code == 200
    assert "already exists" in duplicate.content.decode()


def test_owner_edits_an_agent(world: World, fleet_a: Fleet) -> None:
    client = signed_in(world.a_owner)
    form = client.get(url("agent_update", world, fleet_a.agent.pk))
    assert form.status_code == 200
    assert f'value="{fleet_a.agent.name}"' in form.content.decode()
    response = client.post(
        url("agent_update", world, fleet_a.agent.pk),
        agent_data(
            world, fleet_a, name="renamed-agent", window_days=[], window_start="", window_end=""
        ),
    )
    assert response.status_code == 302
    agent = reload(fleet_a.agent)
    assert agent.name == "renamed-agent"  # type: ignore[attr-defined]
    assert agent.operating_window == {}  # type: ignore[attr-defined]
    with tenant_context(world.a):
        event = AuditEvent.objects.filter(action="agent.updated").order_by("-seq").first()
    assert event is not None and event.actor_label == world.a_owner.email


def test_an_agents_routing_tier_can_be_auto(world: World, fleet_a: Fleet) -> None:
    client = signed_in(world.a_owner)
    assert (
        "Auto (scored per request)"
        in client.get(url("agent_update", world, fleet_a.agent.pk)).content.decode()
    )
    saved = client.post(
        url("agent_update", world, fleet_a.agent.pk), agent_data(world, fleet_a, tier="auto")
    )
    assert saved.status_code == 302
    assert reload(fleet_a.agent).tier == "auto"  # type: ignore[attr-defined]
    page = signed_in(world.a_member).get(url("agent", world, fleet_a.agent.pk)).content.decode()
    assert "Routing tier</dt><dd>Auto (scored per request)</dd>" in page
    form = client.get(url("agent_update", world, fleet_a.agent.pk)).context["form"]
    assert form["tier"].value() == "auto"

    # empty: as its role default; an unknown tier is an error on the field
    client.post(url("agent_update", world, fleet_a.agent.pk), agent_data(world, fleet_a))
    assert reload(fleet_a.agent).tier == ""  # type: ignore[attr-defined]
    bad = client.post(
        url("agent_update", world, fleet_a.agent.pk), agent_data(world, fleet_a, tier="huge")
    )
    assert bad.status_code == 200 and list(bad.context["form"].errors) == ["tier"]


def test_agent_key_issue_shows_the_client_environment_once(world: World, fleet_a: Fleet) -> None:
    client = signed_in(world.a_owner)
    old_device_digest = fleet_a.device.key_sha256
    response = client.post(url("agent_key_issue", world, fleet_a.agent.pk), follow=True)
    body = response.content.decode()
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    agent_key = AGENT_KEY.search(body)
    device_key = DEVICE_KEY.search(body)
    assert agent_key is not None and device_key is not None
    for name in (
        "OTEL_EXPORTER_OTLP_ENDPOINT=https://edge.example.com:4318",
        "OTEL_EXPORTER_OTLP_HEADERS=",
        "OPENAI_BASE_URL=https://edge.example.com:4318/v1",
        f"OPENAI_API_KEY={agent_key.group()}",
        "ANTHROPIC_API_KEY=",
        f"x-acp-device-id={fleet_a.device.pk}",
    ):
        assert name in body, name
    assert "previous key stops working" in body

    key_id = agent_key.group().split("_")[1]
    with tenant_context(world.a):
        key = AgentKey.objects.get(key_id=key_id)
    assert key.key_sha256 == sha256_hex(agent_key.group())
    assert agent_key.group() not in row_values(key)
    device = reload(fleet_a.device)
    assert device.key_sha256 == sha256_hex(device_key.group()) != old_device_digest  # type: ignore[attr-defined]

    again = client.get(url("agent", world, fleet_a.agent.pk)).content.decode()
    assert agent_key.group() not in again and device_key.group() not in again
    assert f"acpk_{key_id}_…" in again


def test_reloading_after_issuing_a_key_neither_reissues_nor_shows_it_again(
    world: World, fleet_a: Fleet
) -> None:
    client = signed_in(world.a_owner)
    issued = client.post(url("agent_key_issue", world, fleet_a.agent.pk))
    assert issued.status_code == 302
    shown_at = issued["Location"]
    # the address alone shows nothing to another person of the same tenant
    assert not AGENT_KEY.search(signed_in(world.a_admin).get(shown_at).content.decode())
    first = client.get(shown_at).content.decode()
    agent_key = AGENT_KEY.search(first)
    assert agent_key is not None
    with tenant_context(world.a):
        keys_before = AgentKey.objects.filter(agent=fleet_a.agent).count()
    device_digest = reload(fleet_a.device).key_sha256  # type: ignore[attr-defined]

    reloaded = client.get(shown_at)
    body = reloaded.content.decode()
    assert reloaded.status_code == 200
    assert agent_key.group() not in body and not DEVICE_KEY.search(body)
    assert "shown once and is not shown again" in body
    with tenant_context(world.a):
        assert AgentKey.objects.filter(agent=fleet_a.agent).count() == keys_before
    assert reload(fleet_a.device).key_sha256 == device_digest  # type: ignore[attr-defined]


def test_agent_key_issue_needs_a_device_and_an_edge_node(world: World, fleet_a: Fleet) -> None:
    client = signed_in(world.a_owner)
    with tenant_context(world.a):
        lonely = Agent.objects.create(tenant=world.a, name="no-device")
        site = Site.objects.create(tenant=world.a, name="Empty site")
    device, _ = device_register(actor=SYSTEM, site=site, name="bare-host")
    response = client.post(url("agent_key_issue", world, lonely.pk), follow=True)
    assert "Assign the agent to a device first" in response.content.decode()
    with tenant_context(world.a):
        Agent.objects.filter(pk=lonely.pk).update(device=device)
    response = client.post(url("agent_key_issue", world, lonely.pk), follow=True)
    assert "has no edge node yet" in response.content.decode()
    with tenant_context(world.a):
        assert not AgentKey.objects.filter(agent=lonely).exists()


def test_agent_key_revoke(world: World, fleet_a: Fleet) -> None:
    client = signed_in(world.a_owner)
    response = client.post(url("agent_key_revoke", world, fleet_a.key.pk), follow=True)
    assert reload(fleet_a.key).revoked_at is not None  # type: ignore[attr-defined]
    assert f"Key {fleet_a.key.key_id} was revoked" in response.content.decode()
    assert response.redirect_chain[-1][0] == url("agent", world, fleet_a.agent.pk)


def test_disable_and_enable_an_agent(world: World, fleet_a: Fleet) -> None:
    client = signed_in(world.a_owner)
    page = client.post(url("agent_status", world, fleet_a.agent.pk), {"status": "disabled"})
    assert page.status_code == 302
    assert reload(fleet_a.agent).status == "disabled"  # type: ignore[attr-defined]
    blocked = client.post(url("agent_key_issue", world, fleet_a.agent.pk), follow=True)
    assert "enable it before issuing a key" in blocked.content.decode()
    client.post(url("agent_status", world, fleet_a.agent.pk), {"status": "active"})
    assert reload(fleet_a.agent).status == "active"  # type: ignore[attr-defined]
    bogus = client.post(url("agent_status", world, fleet_a.agent.pk), {"status": "deleted"})
    assert bogus.status_code == 302


def test_agents_list_shows_last_activity_from_the_ledger(world: World, fleet_a: Fleet) -> None:
    from tests.web.telemetry import ingest, span

    when = timezone.now() - dt.timedelta(minutes=3)
    ingest([span(fleet_a, trace_id="a" * 32, span_id="1" * 16, start=when)], spans=False)
    response = signed_in(world.a_member).get(url("agents", world))
    rows = {r.agent.name: r for r in response.context["rows"]}
    assert rows[fleet_a.agent.name].last_activity.replace(microsecond=0) == when.replace(
        microsecond=0
    )


def _model_calls(fleet: Fleet, count: int, *, failed: int = 0, prefix: str = "a") -> list[bytes]:
    from tests.web.telemetry import span

    now = timezone.now() - dt.timedelta(minutes=5)
    return [
        span(
            fleet,
            trace_id=f"{prefix}{n:031x}",
            span_id=f"{n + 1:016x}",
            start=now - dt.timedelta(seconds=n),
            kind="model",
            provider="openai",
            model="gpt-4o-mini",
            input_tokens=1_000_000,
            output_tokens=0,
            status="error" if n < failed else "ok",
        )
        for n in range(count)
    ]


def test_agents_list_shows_usage_cost_errors_and_sorts_by_them(
    world: World, fleet_a: Fleet
) -> None:
    from tests.web.telemetry import ingest

    with tenant_context(world.a):
        quiet = Agent.objects.create(tenant=world.a, name="aaa-quiet", role="hr")
    ingest(_model_calls(fleet_a, 4, failed=1))
    client = signed_in(world.a_member)
    body = client.get(url("agents", world)).content.decode()
    busy = next(r for r in client.get(url("agents", world)).context["rows"] if r.requests)
    assert busy.agent == fleet_a.agent and busy.requests == 4
    assert busy.cost_text == "$0.60" and busy.error_rate_text == "25.0 %"
    assert "$0.60" in body and "25.0 %" in body

    by_name = [
        r.agent.name for r in client.get(url("agents", world) + "?sort=name").context["rows"]
    ]
    assert by_name == sorted(by_name, key=str.lower) and by_name[0] == quiet.name
    by_cost = client.get(url("agents", world) + "?sort=cost")
    assert by_cost.context["rows"][0].agent.name == fleet_a.agent.name
    assert 'aria-sort="descending"><a href="' in by_cost.content.decode()
    cheapest_first = client.get(url("agents", world) + "?sort=-cost").context["rows"]
    assert cheapest_first[0].agent == quiet


def test_agents_list_searches_and_filters(world: World, fleet_a: Fleet) -> None:
    with tenant_context(world.a):
        Agent.objects.create(tenant=world.a, name="payroll-bot", role="hr", status="disabled")
        Agent.objects.create(
            tenant=world.a, name="ledger-bot", role="finance", department=world.a_department
        )
    client = signed_in(world.a_owner)

    def names(query: str) -> list[str]:
        return [r.agent.name for r in client.get(url("agents", world) + query).context["rows"]]

    assert names("?q=PAYROLL") == ["payroll-bot"]
    assert names("?q=finance") == ["ledger-bot"]
    assert names("?status=disabled") == ["payroll-bot"]
    assert names(f"?department={world.a_department.pk}") == ["ledger-bot"]
    empty = client.get(url("agents", world) + "?q=nothing-like-it").content.decode()
    assert "No agent matches these filters" in empty
    bad = client.get(url("agents", world) + "?sort=bogus&status=gone")
    assert bad.status_code == 200 and len(bad.context["rows"]) == 3


def test_agents_list_still_lists_agents_when_clickhouse_is_down(
    world: World, fleet_a: Fleet, clickhouse_down: None
) -> None:
    response = signed_in(world.a_member).get(url("agents", world))
    assert response.status_code == 200
    assert [r.agent for r in response.context["rows"]] == [fleet_a.agent]
    assert "Usage figures are unavailable right now" in response.content.decode()


# --- console ---------------------------------------------------------------------------------


def test_operator_manages_a_tenants_fleet_from_the_console(
    world: World, fleet_a: Fleet, make_staff: Callable[..., User]
) -> None:
    client = signed_in(make_staff("operator"))
    created = client.post(console_url("sites", world), {"name": "Console site"})
    with tenant_context(world.a):
        site = Site.objects.get(name="Console site")
    assert created["Location"] == console_url("site", world, site.pk)
    page = client.get(console_url("agent", world, fleet_a.agent.pk))
    assert page.status_code == 200
    nav = [i["label"] for i in page.context["nav_tenant_items"] if i["current"]]
    assert nav == ["Agents"]
    issued = client.post(console_url("agent_key_issue", world, fleet_a.agent.pk), follow=True)
    assert AGENT_KEY.search(issued.content.decode())


def test_auditor_reads_the_console_fleet_pages_without_forms(
    world: World, fleet_a: Fleet, make_staff: Callable[..., User]
) -> None:
    client = signed_in(make_staff("auditor"))
    for page in (
        console_url("sites", world),
        console_url("site", world, fleet_a.site.pk),
        console_url("agents", world),
        console_url("agent", world, fleet_a.agent.pk),
    ):
        response = client.get(page)
        assert response.status_code == 200, page
        assert 'method="post"' not in main_part(response.content), page  # (filters are GET)
        assert fleet_a.agent.name in response.content.decode() or "sites" in page


def test_registry_pages_keep_to_the_csp(world: World, fleet_a: Fleet) -> None:
    """script-src 'self': no inline scripts or handlers, also on the pages with secrets."""
    client = signed_in(world.a_owner)
    pages = [
        client.get(url("sites", world)),
        client.get(url("site", world, fleet_a.site.pk)),
        client.get(url("agents", world)),
        client.get(url("agent_create", world)),
        client.get(url("agent", world, fleet_a.agent.pk)),
        client.post(url("agent_key_issue", world, fleet_a.agent.pk), follow=True),
        client.post(url("device_rotate", world, fleet_a.device.pk), follow=True),
    ]
    for response in pages:
        body = response.content.decode()
        assert response.status_code == 200
        assert re.findall(r"<script(?![^>]*\ssrc=)", body) == []
        assert not re.search(r"\son[a-z]+=", body)

"""The data-flow pages in the portal and the console: the diagram of a range, its SVG
download, saved snapshots with their date and hash, and who may do what."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from compliance.dataflow import flow_table
from compliance.models import DataFlowSnapshot
from compliance.selectors import dataflow_graph
from controlplane.accounts.models import User
from controlplane.agents.models import Agent
from controlplane.audit.models import AuditEvent
from controlplane.core.tenancy import all_tenants_context, tenant_context
from tenants.models import Membership, Tenant
from tenants.services import membership_set_departments
from tests.compliance.traffic import send_traffic
from tests.conftest import SYSTEM, signed_in
from tests.web.conftest import Fleet, World
from tests.web.telemetry import ingest, span
from tests.web.test_traces import new_trace_id

pytestmark = pytest.mark.django_db


def url(name: str, tenant: Tenant, *args: object, area: str = "portal") -> str:
    return reverse(f"web:{area}_{name}", args=[tenant.slug, *args])


def snapshots_of(tenant: Tenant) -> list[DataFlowSnapshot]:
    with all_tenants_context():
        return list(DataFlowSnapshot.unscoped.filter(tenant=tenant).order_by("created_at"))


def audit_entries(tenant: Tenant) -> list[AuditEvent]:
    with all_tenants_context():
        return list(
            AuditEvent.unscoped.filter(tenant_id=tenant.pk, action="dataflow.snapshot_created")
        )


def save(client: Client, tenant: Tenant, *, area: str = "portal") -> tuple[int, str]:
    """Press "Save snapshot" on the diagram page: post the window the page shows."""
    page = client.get(url("dataflow", tenant, area=area)).content.decode()
    window = dict(re.findall(r'type="hidden" name="(since|until)" value="([^"]+)"', page))
    assert set(window) == {"since", "until"}, "no Save snapshot button"
    response = client.post(url("dataflow_snapshot_create", tenant, area=area), window)
    return response.status_code, response.get("Location", "")


def post_save(client: Client, tenant: Tenant, *, area: str = "portal") -> int:
    """Post a save without the button (for people who are not shown one)."""
    now = timezone.now()
    window = {"since": (now - dt.timedelta(days=7)).isoformat(), "until": now.isoformat()}
    response = client.post(url("dataflow_snapshot_create", tenant, area=area), window)
    return response.status_code


def test_page_shows_the_diagram_its_flows_and_a_nav_link(world: World, fleet_a: Fleet) -> None:
    send_traffic(fleet_a, timezone.now() - dt.timedelta(hours=2))
    response = signed_in(world.a_member).get(url("dataflow", world.a))
    body = response.content.decode()
    assert response.status_code == 200
    assert '<svg xmlns="http://www.w3.org/2000/svg"' in body
    assert f'href="{url("dataflow", world.a)}" aria-current="page">Data flow</a>' in body
    flows = {(row.source, row.target, row.what) for row in response.context["flows"]}
    assert (fleet_a.agent.name, "claude-3-5-haiku", "model calls bypassing the gateway") in flows
    assert (fleet_a.node.name, "gpt-4o-mini", "model calls via the gateway") in flows
    assert "crosses a trust boundary" in body
    assert "Download SVG" in body
    assert "Save snapshot" not in body  # a member may look, not save
    shown = re.search(r"SHA-256 of this SVG: <code>([0-9a-f]{64})</code>", body)
    assert shown is not None
    download = signed_in(world.a_member).get(url("dataflow_svg", world.a))
    assert shown.group(1) == hashlib.sha256(download.content).hexdigest()
    # the page's diagram leaves the legend to the table below it; the download keeps it
    assert (
        ">Flows</text>" not in response.context["svg"]
        and ">Flows</text>" in download.content.decode()
    )
    assert 'data-flow="1"' in response.context["svg"] and '<tr data-flow="1"' in body


def test_a_big_site_is_drawn_a_node_per_department_and_one_agent_can_be_picked(
    world: World, fleet_a: Fleet
) -> None:
    from compliance.selectors import GROUP_AGENTS_OVER

    with tenant_context(world.a):
        crowd = [
            Agent.objects.create(
                tenant=world.a, name=f"crowd-{n:02d}", department=world.a_department
            )
            for n in range(GROUP_AGENTS_OVER)
        ]
    when = timezone.now() - dt.timedelta(hours=2)
    send_traffic(fleet_a, when)
    ingest(
        [
            span(fleet_a, trace_id=new_trace_id(), span_id="7" * 16, start=when, agent_id=str(a.pk))
            for a in crowd
        ]
    )
    client = signed_in(world.a_member)
    grouped = client.get(url("dataflow", world.a))
    labels = {node.label for node in grouped.context["graph"].nodes if node.kind == "agent"}
    assert labels == {f"{GROUP_AGENTS_OVER + 1} agents"}  # the spans name no department

    each = client.get(url("dataflow", world.a), {"agents": "each"}).context["graph"]
    assert sum(node.kind == "agent" for node in each.nodes) == GROUP_AGENTS_OVER + 1

    one = client.get(url("dataflow", world.a), {"agent": str(crowd[0].pk)}).context["graph"]
    assert [node.label for node in one.nodes if node.kind == "agent"] == ["crowd-00"]
    foreign = client.get(url("dataflow", world.a), {"agent": str(uuid.uuid4())})
    assert "Select a valid choice" in foreign.content.decode()


def test_range_without_traffic_shows_the_empty_state(world: World, fleet_a: Fleet) -> None:
    send_traffic(fleet_a, timezone.now() - dt.timedelta(days=20))
    client = signed_in(world.a_member)
    body = client.get(url("dataflow", world.a), {"range": "24h"}).content.decode()
    assert "No traffic in this time range." in body
    assert "<svg" not in body
    body = client.get(url("dataflow", world.a), {"range": "30d"}).content.decode()
    assert "<svg" in body


def test_download_is_an_svg_attachment_named_for_tenant_and_dates(
    world: World, fleet_a: Fleet
) -> None:
    send_traffic(fleet_a, dt.datetime(2026, 3, 10, 12, tzinfo=dt.UTC))
    response = signed_in(world.a_member).get(
        url("dataflow_svg", world.a), {"since": "2026-03-01", "until": "2026-03-31"}
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml; charset=utf-8"
    assert response["Content-Disposition"] == (
        'attachment; filename="dataflow-acme-20260301T0000Z-20260401T0000Z.svg"'
    )
    document = ET.fromstring(response.content)
    text = "".join(document.itertext())
    assert fleet_a.agent.name in text and "2026-03-01 00:00 to 2026-04-01 00:00 UTC" in text


def test_bad_dates_fall_back_to_the_default_range(world: World) -> None:
    client = signed_in(world.a_member)
    response = client.get(url("dataflow", world.a), {"since": "2026-03-31", "until": "2026-03-01"})
    assert response.status_code == 200
    assert "The first date must not be after the last." in response.content.decode()
    assert response.context["until"] - response.context["since"] == dt.timedelta(days=7)
    response = client.get(
        url("dataflow_svg", world.a), {"since": "2025-01-01", "until": "2026-12-31"}
    )
    assert response.status_code == 200


def test_admin_saves_a_snapshot_with_date_and_hash_that_downloads_identically(
    world: World, fleet_a: Fleet
) -> None:
    send_traffic(fleet_a, timezone.now() - dt.timedelta(hours=2))
    client = signed_in(world.a_admin)
    before = timezone.now()
    status, location = save(client, world.a)
    assert status == 302
    (snapshot,) = snapshots_of(world.a)
    assert location == url("dataflow_snapshot", world.a, snapshot.pk)
    assert snapshot.created_at >= before
    assert snapshot.created_by_label == world.a_admin.email
    assert snapshot.until - snapshot.since == dt.timedelta(days=7)

    download = client.get(url("dataflow_snapshot_svg", world.a, snapshot.pk))
    assert download.status_code == 200
    assert download["Content-Type"] == "image/svg+xml; charset=utf-8"
    assert download.content == snapshot.svg.encode()
    assert hashlib.sha256(download.content).hexdigest() == snapshot.content_hash
    assert f"-{snapshot.content_hash[:12]}.svg" in download["Content-Disposition"]

    page = client.get(location)
    body = page.content.decode()
    assert page.status_code == 200
    assert f"<code>{snapshot.content_hash}</code>" in body
    assert snapshot.created_at.strftime("%Y-%m-%d %H:%M") in body
    assert "Snapshot saved." in body
    since, until = snapshot.since, snapshot.until
    live = dataflow_graph(tenant=world.a, since=since, until=until)
    assert flow_table(snapshot.graph) == flow_table(live.as_dict())

    (entry,) = audit_entries(world.a)
    assert entry.actor_label == world.a_admin.email
    assert entry.target_id == str(snapshot.pk)
    assert entry.after is not None and entry.after["content_hash"] == snapshot.content_hash


def test_saving_an_unchanged_diagram_again_keeps_one_snapshot(world: World, fleet_a: Fleet) -> None:
    start = timezone.now() - dt.timedelta(days=1)
    send_traffic(fleet_a, start + dt.timedelta(hours=1))
    client = signed_in(world.a_owner)
    window = {"since": start.isoformat(), "until": (start + dt.timedelta(hours=2)).isoformat()}
    first = client.post(url("dataflow_snapshot_create", world.a), window)["Location"]
    again = client.post(url("dataflow_snapshot_create", world.a), window)["Location"]
    assert first == again
    assert len(snapshots_of(world.a)) == 1 and len(audit_entries(world.a)) == 1
    assert "no copy was made" in client.get(again).content.decode()


def test_a_snapshot_keeps_what_it_showed_when_new_traffic_arrives(
    world: World, fleet_a: Fleet
) -> None:
    send_traffic(fleet_a, timezone.now() - dt.timedelta(hours=2))
    client = signed_in(world.a_owner)
    save(client, world.a)
    (snapshot,) = snapshots_of(world.a)
    send_traffic(fleet_a, timezone.now() - dt.timedelta(hours=1))

    download = client.get(url("dataflow_snapshot_svg", world.a, snapshot.pk))
    assert hashlib.sha256(download.content).hexdigest() == snapshot.content_hash
    save(client, world.a)
    first, second = snapshots_of(world.a)
    assert first.pk == snapshot.pk and second.content_hash != first.content_hash
    assert second.graph["spans"] == 2 * first.graph["spans"]


@pytest.mark.parametrize("role", ["member", "viewer", "billing"])
def test_read_only_members_view_but_cannot_save(
    world: World, fleet_a: Fleet, make_customer: Callable[..., User], role: str
) -> None:
    send_traffic(fleet_a, timezone.now() - dt.timedelta(hours=2))
    client = signed_in(make_customer(world.a, role))
    page = client.get(url("dataflow", world.a))
    assert page.status_code == 200
    assert fleet_a.agent.name in page.content.decode()
    assert "Save snapshot" not in page.content.decode()
    assert post_save(client, world.a) == 403
    assert snapshots_of(world.a) == [] and audit_entries(world.a) == []


def test_a_department_scoped_admin_sees_their_departments_flows_and_no_snapshots(
    world: World, fleet_a: Fleet, make_customer: Callable[..., User]
) -> None:
    """fleet_a's agent has no department: limited to Finance, the admin sees none of its
    flows, no snapshot (they show the whole tenant) and cannot save one."""
    send_traffic(fleet_a, timezone.now() - dt.timedelta(hours=2))
    assert save(signed_in(world.a_owner), world.a)[0] == 302
    (snapshot,) = snapshots_of(world.a)
    admin = make_customer(world.a, "admin")
    with all_tenants_context():
        membership = Membership.unscoped.get(user=admin)
    membership_set_departments(
        actor=SYSTEM, membership=membership, departments=[world.a_department]
    )
    client = signed_in(admin)

    body = client.get(url("dataflow", world.a)).content.decode()
    assert "data-departments-only" in body
    assert fleet_a.agent.name not in body and snapshot.content_hash[:16] not in body
    assert "Save snapshot" not in body and post_save(client, world.a) == 403
    svg = client.get(url("dataflow_svg", world.a)).content.decode()
    assert fleet_a.agent.name not in svg
    for name in ("dataflow_snapshot", "dataflow_snapshot_svg"):
        assert client.get(url(name, world.a, snapshot.pk)).status_code == 404
    assert len(snapshots_of(world.a)) == 1


def test_another_tenants_snapshot_is_404(world: World, fleet_a: Fleet, fleet_b: Fleet) -> None:
    send_traffic(fleet_b, timezone.now() - dt.timedelta(hours=2))
    save(signed_in(world.b_owner), world.b)
    (theirs,) = snapshots_of(world.b)
    client = signed_in(world.a_owner)
    for name in ("dataflow_snapshot", "dataflow_snapshot_svg"):
        assert client.get(url(name, world.a, theirs.pk)).status_code == 404
        assert client.get(url(name, world.a, uuid.uuid4())).status_code == 404
        assert client.get(url(name, world.b, theirs.pk)).status_code == 404  # not a member
    body = client.get(url("dataflow", world.a)).content.decode()
    assert theirs.content_hash[:16] not in body


def test_another_tenants_spans_never_reach_the_page(
    world: World, fleet_a: Fleet, fleet_b: Fleet
) -> None:
    send_traffic(fleet_a, timezone.now() - dt.timedelta(hours=2))
    send_traffic(fleet_b, timezone.now() - dt.timedelta(hours=2))
    client = signed_in(world.a_member)
    for name in ("dataflow", "dataflow_svg"):
        body = client.get(url(name, world.a)).content.decode()
        assert fleet_a.agent.name in body
        assert fleet_b.agent.name not in body and fleet_b.node.name not in body


def test_staff_see_and_writers_save_in_the_console(
    world: World, fleet_a: Fleet, make_staff: Callable[..., User]
) -> None:
    send_traffic(fleet_a, timezone.now() - dt.timedelta(hours=2))
    auditor = signed_in(make_staff("auditor"))
    page = auditor.get(url("dataflow", world.a, area="console"))
    assert page.status_code == 200
    assert fleet_a.agent.name in page.content.decode()
    assert "Save snapshot" not in page.content.decode()
    assert post_save(auditor, world.a, area="console") == 403
    operator = signed_in(make_staff("operator"))
    assert (
        "Save snapshot" in operator.get(url("dataflow", world.a, area="console")).content.decode()
    )
    status, location = save(operator, world.a, area="console")
    (snapshot,) = snapshots_of(world.a)
    assert status == 302
    assert location == url("dataflow_snapshot", world.a, snapshot.pk, area="console")
    download = auditor.get(url("dataflow_snapshot_svg", world.a, snapshot.pk, area="console"))
    assert hashlib.sha256(download.content).hexdigest() == snapshot.content_hash
    # the tenant sees the snapshot staff saved
    portal = signed_in(world.a_member).get(url("dataflow_snapshot", world.a, snapshot.pk))
    assert portal.status_code == 200


@pytest.mark.usefixtures("clickhouse_down")
def test_trace_store_outage_is_explained(world: World) -> None:
    client = signed_in(world.a_owner)
    response = client.get(url("dataflow", world.a))
    assert response.status_code == 200
    assert "The diagram cannot be drawn right now." in response.content.decode()
    assert client.get(url("dataflow_svg", world.a)).status_code == 503
    now = timezone.now()
    response = client.post(
        url("dataflow_snapshot_create", world.a),
        {"since": (now - dt.timedelta(days=1)).isoformat(), "until": now.isoformat()},
        follow=True,
    )
    assert "nothing was saved" in response.content.decode()
    assert snapshots_of(world.a) == []

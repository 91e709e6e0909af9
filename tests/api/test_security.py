"""Behavioral security over the API: triage of alerts and incidents with owner, member,
outsider and staff tokens, export, the change calendar, quarantine and settings."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest

from controlplane.agents.models import Site
from controlplane.audit.models import AuditEvent
from controlplane.core.tenancy import all_tenants_context, tenant_context
from controlplane.gateway.bundle import site_content
from controlplane.security.models import AcceptedBehaviour
from tests.api.conftest import World

pytestmark = pytest.mark.django_db


def base(world: World) -> str:
    return f"tenants/{world.a.slug}/security"


def test_owners_and_staff_triage_members_read_outsiders_see_nothing(world: World) -> None:
    alert_id = world.a_objects["alert"]
    url = f"{base(world)}/alerts/{alert_id}"

    member = world.api("a:member")
    listed = member.get(f"{base(world)}/alerts")
    assert listed.status_code == 200
    [item] = listed.json()["results"]
    assert item["agents"] == [{"id": str(world.a_objects["agent"]), "name": "agent-a"}]
    assert item["evidence"]["baseline_median"] == 10 and item["sla_breached"] is False
    assert member.post(f"{url}/state", {"state": "acknowledged"}).status_code == 403

    outsider = world.api("b:owner")
    assert outsider.get(url).status_code == 404
    assert outsider.get(f"{base(world)}/alerts").status_code == 404

    owner = world.api("a:owner")
    acked = owner.post(
        f"{url}/state", {"state": "acknowledged", "note": "looking", "assignee": "a-member"}
    )
    assert acked.status_code == 400 and acked.json()["errors"][0]["field"] == "assignee"
    member_email = world.users["a:member"].email
    acked = owner.post(
        f"{url}/state", {"state": "acknowledged", "note": "looking", "assignee": member_email}
    )
    assert acked.status_code == 200, acked.content
    assert acked.json()["state"] == "acknowledged" and acked.json()["assignee"] == member_email
    assert acked.json()["acknowledged_at"] is not None

    staff = world.api("staff:operator")
    resolved = staff.post(f"{url}/state", {"state": "resolved", "note": "rotated the key"})
    assert resolved.status_code == 200 and resolved.json()["closed_at"] is not None
    assert [n["action"] for n in resolved.json()["notes"]] == ["acknowledged", "resolved"]
    again = staff.post(f"{url}/state", {"state": "acknowledged"})
    assert again.status_code == 409 and again["Content-Type"] == "application/problem+json"
    assert world.api("staff:auditor").post(f"{url}/state", {"state": "open"}).status_code == 403
    with all_tenants_context():
        actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"security.alert_acknowledged", "security.alert_resolved"} <= actions


def test_filters_bulk_changes_and_export(world: World) -> None:
    owner = world.api("a:owner")
    alerts = f"{base(world)}/alerts"
    assert len(owner.get(alerts, kind="volume", severity="high").json()["results"]) == 1
    assert owner.get(alerts, kind="scope").json()["results"] == []
    assert owner.get(alerts, agent=str(world.b_objects["agent"])).json()["results"] == []
    assert owner.get(alerts, kind="nonsense").status_code == 400

    ids = [str(world.a_objects["alert"])]
    missing = owner.post(
        f"{alerts}/bulk-state", {"ids": [*ids, str(world.b_objects["alert"])], "state": "resolved"}
    )
    assert missing.status_code == 404, "another tenant's alert is not found"
    done = owner.post(f"{alerts}/bulk-state", {"ids": ids, "state": "false_positive"})
    assert done.status_code == 200 and done.json()[0]["state"] == "false_positive"
    with tenant_context(world.a):
        taught = AcceptedBehaviour.objects.get()
    assert taught.kind == "volume" and taught.dimension == "tasks" and taught.level == 120

    exported = owner.get(f"{alerts}/export", **{"as": "csv"})
    assert exported.status_code == 200 and exported["Content-Type"] == "text/csv"
    [row] = list(csv.DictReader(io.StringIO(exported.content.decode())))
    assert row["tenant"] == world.a.slug and row["agent_names"] == "agent-a"
    assert row["kind"] == "volume" and row["state"] == "false_positive"
    as_json = json.loads(owner.get(f"{alerts}/export", **{"as": "json"}).content)
    assert as_json[0]["agent_ids"] == [str(world.a_objects["agent"])]
    assert world.api("b:owner").get(f"{alerts}/export").status_code == 404


def test_an_incident_closes_its_alerts(world: World) -> None:
    owner = world.api("a:admin")
    url = f"{base(world)}/incidents/{world.a_objects['incident']}"
    detail = owner.get(url).json()
    assert [a["id"] for a in detail["alerts"]] == [str(world.a_objects["alert"])]
    closed = owner.post(f"{url}/state", {"state": "resolved", "note": "contained"})
    assert closed.status_code == 200 and closed.json()["state"] == "resolved"
    assert closed.json()["alerts"][0]["state"] == "resolved"
    assert world.api("a:viewer").get(url).status_code == 200
    assert world.api("b:owner").get(url).status_code == 404


def test_the_change_calendar_from_the_api_and_a_json_file(world: World) -> None:
    owner = world.api("a:owner")
    windows = f"{base(world)}/maintenance-windows"
    created = owner.post(
        windows,
        {"title": "DB migration", "reason": "schema_change", "starts_at": "2026-12-10T01:00:00Z",
         "ends_at": "2026-12-10T03:00:00Z", "kinds": ["volume", "scope"]},
    )  # fmt: skip
    assert created.status_code == 201, created.content
    backwards = owner.post(
        windows,
        {"title": "x", "starts_at": "2026-12-10T03:00:00Z", "ends_at": "2026-12-10T01:00:00Z"},
    )
    assert backwards.status_code == 400
    document = [
        {"title": "Campaign", "reason": "campaign", "starts_at": "2026-12-11T08:00:00Z",
         "ends_at": "2026-12-11T18:00:00Z", "agents": ["agent-a"]},
        {"title": "Bad", "starts_at": "tomorrow", "ends_at": "2026-12-11T18:00:00Z"},
    ]  # fmt: skip
    refused = owner.post(f"{windows}/import", {"windows": document})
    assert refused.status_code == 400 and "entry 1: starts_at" in refused.content.decode()
    imported = owner.post(f"{windows}/import", {"windows": document[:1]})
    assert imported.status_code == 201
    assert imported.json()[0]["agent_ids"] == [str(world.a_objects["agent"])]
    unknown = owner.post(
        f"{windows}/import",
        {"windows": [{**document[0], "agents": ["agent-b"]}]},
    )
    assert unknown.status_code == 400, "another tenant's agent is unknown here"
    assert world.api("a:member").post(windows, {"title": "x"}).status_code == 403
    assert owner.delete(f"{windows}/{created.json()['id']}").status_code == 204


def _quarantine_section(world: World) -> dict[str, Any]:
    with tenant_context(world.a):
        site = Site.objects.get(pk=world.a_objects["site"])
        return site_content(site)["quarantine"]


def test_quarantine_reaches_the_bundle_and_is_audited(world: World) -> None:
    owner = world.api("a:owner")
    quarantines = f"{base(world)}/quarantines"
    existing = world.a_objects["quarantine"]
    assert _quarantine_section(world)["agents"] == [str(world.a_objects["agent"])]
    twice = owner.post(
        quarantines, {"scope": "agent", "target_id": str(world.a_objects["agent"]), "reason": "x"}
    )
    assert twice.status_code == 400, "already in quarantine"
    released = owner.post(f"{quarantines}/{existing}/release")
    assert released.status_code == 200 and released.json()["released_by"]
    assert _quarantine_section(world)["agents"] == []
    assert owner.post(f"{quarantines}/{existing}/release").status_code == 409

    device = owner.post(
        quarantines,
        {"scope": "device", "target_id": str(world.a_objects["device"]), "reason": "stolen laptop"},
    )
    assert device.status_code == 201
    assert _quarantine_section(world)["devices"] == [str(world.a_objects["device"])]
    foreign = owner.post(
        quarantines, {"scope": "agent", "target_id": str(world.b_objects["agent"]), "reason": "x"}
    )
    assert foreign.status_code == 400, "not an agent of this tenant"
    assert world.api("a:member").get(quarantines).status_code == 200
    assert world.api("a:member").post(quarantines, {}).status_code == 403
    with all_tenants_context():
        actions = list(AuditEvent.objects.values_list("action", flat=True))
    assert actions.count("security.quarantine_started") >= 2
    assert "security.quarantine_released" in actions


def test_settings_keep_the_webhook_secret_write_only(world: World) -> None:
    owner = world.api("a:owner")
    url = f"{base(world)}/settings"
    assert owner.get(url).json()["sensitivity"] == "medium"
    changed = owner.patch(
        url,
        {
            "sensitivity": "high",
            "webhook_url": "https://hooks.example/x",
            "webhook_secret": "s3cr3t-value",
        },
    )
    assert changed.status_code == 200, changed.content
    assert changed.json()["webhook_secret_set"] is True and "webhook_secret" not in changed.json()
    assert "s3cr3t-value" not in owner.get(url).content.decode()
    assert owner.patch(url, {"sensitivity": "paranoid"}).status_code == 400
    assert world.api("a:member").patch(url, {"sensitivity": "low"}).status_code == 403
    assert world.api("b:owner").get(url).status_code == 404

"""The staff triage queue (/console/security/): every tenant's alerts, filtered, sorted,
paginated and exported; bulk actions by admins and operators, none by auditors."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.urls import reverse
from django.utils import timezone

from controlplane.accounts.models import User
from controlplane.audit.models import AuditEvent
from controlplane.core.tenancy import all_tenants_context, tenant_context
from controlplane.security.models import AcceptedBehaviour, Alert, Incident
from tests.conftest import signed_in
from tests.web.conftest import Fleet, World
from tests.web.security_data import record, scope, volume

pytestmark = pytest.mark.django_db
QUEUE = "/console/security/"
BULK = "/console/security/bulk/"


@dataclass
class Alerts:
    a_volume: Alert
    a_scope: Alert
    b_volume: Alert


@pytest.fixture
def alerts(world: World, fleet_a: Fleet, fleet_b: Fleet) -> Alerts:
    now = timezone.now().replace(second=0, microsecond=0)
    a_volume, a_scope = record(
        world.a,
        [volume(fleet_a.agent.pk, now - dt.timedelta(minutes=30)), scope(fleet_a.agent.pk, now)],
        now,
    )
    [b_volume] = record(
        world.b,
        [volume(fleet_b.agent.pk, now - dt.timedelta(hours=3), severity="critical")],
        now - dt.timedelta(hours=2),
    )
    return Alerts(a_volume, a_scope, b_volume)


def _shown(response: object) -> list[str]:
    return [str(row.alert.pk) for row in response.context["rows"]]  # type: ignore[attr-defined]


def _state(alert: Alert) -> Alert:
    with all_tenants_context():
        return Alert.unscoped.select_related("assignee").get(pk=alert.pk)


def test_staff_see_every_tenants_alerts_most_severe_first_and_filter_them(
    alerts: Alerts, world: World, fleet_a: Fleet, make_staff: Callable[..., User]
) -> None:
    client = signed_in(make_staff("auditor"))
    response = client.get(QUEUE)
    assert response.status_code == 200
    assert _shown(response) == [
        str(a.pk) for a in (alerts.b_volume, alerts.a_volume, alerts.a_scope)
    ]
    page = response.content.decode()
    assert "Globex" in page and "Acme Corp" in page and "tasks 12.0x normal" in page

    def shown(**query: str) -> list[str]:
        return _shown(client.get(QUEUE, query))

    assert shown(severity="medium") == [str(alerts.a_scope.pk)]
    assert shown(kind="volume", tenant="acme") == [str(alerts.a_volume.pk)]
    assert shown(agent=fleet_a.agent.name) == [str(alerts.a_volume.pk), str(alerts.a_scope.pk)]
    assert shown(agent=str(fleet_a.agent.pk), kind="scope") == [str(alerts.a_scope.pk)]
    assert shown(state="resolved") == []
    today = timezone.now().date()
    assert len(shown(since=str(today - dt.timedelta(days=1)), until=str(today))) == 3
    assert shown(since=str(today + dt.timedelta(days=1))) == []
    assert shown(sort="-raised")[0] == str(alerts.b_volume.pk), "oldest raised first"
    bad = client.get(QUEUE, {"severity": "apocalyptic"})
    assert bad.status_code == 200 and "apocalyptic is not one of the available choices" in (
        bad.content.decode()
    )


def test_the_filtered_queue_exports_as_csv_and_json(
    alerts: Alerts, world: World, fleet_a: Fleet, make_staff: Callable[..., User]
) -> None:
    client = signed_in(make_staff("auditor"))
    exported = client.get(QUEUE, {"tenant": "acme", "export": "csv"})
    assert exported.status_code == 200 and exported["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.content.decode())))
    assert [r["alert_id"] for r in rows] == [str(alerts.a_volume.pk), str(alerts.a_scope.pk)]
    first = rows[0]
    assert first["tenant"] == "acme" and first["agent_names"] == fleet_a.agent.name
    assert first["agent_ids"] == str(fleet_a.agent.pk)
    assert (first["kind"], first["severity"], first["state"]) == ("volume", "high", "open")
    assert first["started_at"] == alerts.a_volume.started_at.isoformat()
    assert first["ended_at"] and first["raised_at"]
    as_json = json.loads(client.get(QUEUE, {"severity": "critical", "export": "json"}).content)
    assert [(r["tenant"], r["alert_id"]) for r in as_json] == [("globex", str(alerts.b_volume.pk))]


def test_the_queue_pages_through_many_alerts(
    world: World, fleet_a: Fleet, make_staff: Callable[..., User]
) -> None:
    now = timezone.now().replace(second=0, microsecond=0)
    findings = [
        volume(fleet_a.agent.pk, now - dt.timedelta(hours=i), subject=f"volume:{i}")
        for i in range(1, 53)
    ]
    record(world.a, findings, now)
    client = signed_in(make_staff("operator"))
    first = client.get(QUEUE, {"sort": "started"})
    second = client.get(QUEUE, {"sort": "started", "page": "2"})
    assert len(_shown(first)) == 50 and len(_shown(second)) == 2
    assert not set(_shown(first)) & set(_shown(second))
    assert "page 1 of 2" in first.content.decode()
    assert 'href="?sort=started&amp;page=2"' in first.content.decode()


def test_an_operator_acknowledges_takes_and_resolves_alerts_in_bulk(
    alerts: Alerts, make_staff: Callable[..., User]
) -> None:
    operator = make_staff("operator")
    client = signed_in(operator)
    chosen = [str(alerts.a_volume.pk), str(alerts.b_volume.pk)]
    done = client.post(
        BULK, {"alerts": chosen, "action": "acknowledge", "next": f"{QUEUE}?kind=volume"}
    )
    assert done.status_code == 302 and done["Location"] == f"{QUEUE}?kind=volume"
    assert {_state(alerts.a_volume).state, _state(alerts.b_volume).state} == {"acknowledged"}

    client.post(BULK, {"alerts": chosen, "action": "assign"})
    assert _state(alerts.b_volume).assignee == operator
    assert _state(alerts.b_volume).state == "acknowledged", "taking it keeps its state"

    no_reason = client.post(BULK, {"alerts": chosen, "action": "resolve"}, follow=True)
    assert "Say why" in no_reason.content.decode()
    assert _state(alerts.a_volume).state == "acknowledged"

    client.post(BULK, {"alerts": chosen, "action": "resolve", "reason": "key rotated"})
    assert {_state(alerts.a_volume).state, _state(alerts.b_volume).state} == {"resolved"}
    with all_tenants_context():
        events = AuditEvent.objects.filter(target_id=str(alerts.b_volume.pk)).order_by("seq")
        actions = list(events.values_list("action", flat=True))
    assert actions[-3:] == [
        "security.alert_acknowledged",
        "security.alert_assigned",
        "security.alert_resolved",
    ]
    # Resolved alerts cannot be acknowledged: all or nothing, and the page says why.
    again = client.post(
        BULK, {"alerts": [*chosen, str(alerts.a_scope.pk)], "action": "acknowledge"}, follow=True
    )
    assert "Nothing was changed" in again.content.decode()
    assert _state(alerts.a_scope).state == "open"


def test_a_false_positive_from_the_queue_teaches_the_baseline(
    alerts: Alerts, fleet_a: Fleet, make_staff: Callable[..., User]
) -> None:
    client = signed_in(make_staff("admin"))
    client.post(
        BULK,
        {"alerts": [str(alerts.a_scope.pk)], "action": "false_positive", "reason": "new job"},
    )
    assert _state(alerts.a_scope).state == "false_positive"
    with tenant_context(fleet_a.agent.tenant_id):
        taught = list(AcceptedBehaviour.objects.values_list("agent_id", "dimension", "item"))
    assert taught == [(fleet_a.agent.pk, "tool", "payroll.export")]


def test_one_incident_from_chosen_alerts_of_one_tenant(
    alerts: Alerts, world: World, make_staff: Callable[..., User]
) -> None:
    client = signed_in(make_staff("operator"))
    mixed = client.post(
        BULK,
        {"alerts": [str(alerts.a_volume.pk), str(alerts.b_volume.pk)], "action": "incident"},
        follow=True,
    )
    assert "Choose alerts of one tenant" in mixed.content.decode()
    old = _state(alerts.b_volume).incident_id

    made = client.post(
        BULK,
        {"alerts": [str(alerts.b_volume.pk)], "action": "incident", "reason": "Exfil attempt"},
    )
    with all_tenants_context():
        incident = Incident.unscoped.get(title="Exfil attempt")
        previous = Incident.unscoped.get(pk=old)
    assert made["Location"] == reverse(
        "web:console_security_incident", args=[world.b.slug, incident.pk]
    )
    assert _state(alerts.b_volume).incident_id == incident.pk
    assert incident.severity == "critical"
    assert previous.state == "resolved", "the incident left without alerts is closed"


def test_auditors_read_the_queue_but_change_nothing(
    alerts: Alerts, make_staff: Callable[..., User]
) -> None:
    client = signed_in(make_staff("auditor"))
    page = client.get(QUEUE).content.decode()
    assert 'name="alerts"' not in page and "Apply" not in page
    refused = client.post(BULK, {"alerts": [str(alerts.a_volume.pk)], "action": "acknowledge"})
    assert refused.status_code == 403
    assert _state(alerts.a_volume).state == "open"
    admin_page = signed_in(make_staff("admin")).get(QUEUE).content.decode()
    assert 'name="alerts"' in admin_page


def test_customers_do_not_reach_the_queue(alerts: Alerts, world: World) -> None:
    client = signed_in(world.a_owner)
    assert client.get(QUEUE).status_code == 404
    assert (
        client.post(
            BULK, {"alerts": [str(alerts.a_volume.pk)], "action": "acknowledge"}
        ).status_code
        == 404
    )
    assert _state(alerts.a_volume).state == "open"

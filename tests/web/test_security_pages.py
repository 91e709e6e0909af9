"""A tenant's security page and an incident's page, in the portal and the console:
owners, admins and staff writers act; members and viewers read; outsiders get the same
404 as for what does not exist. And the dashboards' faults slot by severity."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.urls import reverse
from django.utils import timezone

from controlplane.accounts.models import User
from controlplane.agents.services import agent_create
from controlplane.core.tenancy import all_tenants_context, tenant_context
from controlplane.security.models import Alert, Incident, Quarantine
from tenants.models import Membership
from tests.conftest import SYSTEM, signed_in
from tests.web.conftest import Fleet, World
from tests.web.security_data import record, scope, tasks, volume
from tests.web.telemetry import ingest, span
from tests.web.test_traces import new_trace_id

pytestmark = pytest.mark.django_db


@dataclass
class Case:
    volume: Alert
    scope: Alert
    incident: Incident
    b_incident: Incident
    start: dt.datetime


@pytest.fixture
def case(world: World, fleet_a: Fleet, fleet_b: Fleet) -> Case:
    now = timezone.now().replace(second=0, microsecond=0)
    start = now - dt.timedelta(minutes=40)
    tasks(fleet_a, start - dt.timedelta(minutes=20), [1] * 20 + [12] * 10)
    a_volume, a_scope = record(
        world.a, [volume(fleet_a.agent.pk, start), scope(fleet_a.agent.pk, start)], now
    )
    [b_alert] = record(world.b, [volume(fleet_b.agent.pk, start)], now)
    with all_tenants_context():
        incident = Incident.unscoped.get(pk=a_volume.incident_id)
        b_incident = Incident.unscoped.get(pk=b_alert.incident_id)
    assert a_scope.incident_id == incident.pk
    return Case(a_volume, a_scope, incident, b_incident, start)


def page(world: World, slug: str | None = None, area: str = "portal") -> str:
    return reverse(f"web:{area}_security", args=[slug or world.a.slug])


def incident_page(slug: str, incident: Incident, area: str = "portal") -> str:
    return reverse(f"web:{area}_security_incident", args=[slug, incident.pk])


def test_every_role_of_the_tenant_reads_its_security_page_and_outsiders_get_404(
    case: Case, world: World, make_customer: Callable[..., User], make_staff: Callable[..., User]
) -> None:
    for role in ("owner", "admin", "member", "billing", "viewer"):
        response = signed_in(make_customer(world.a, role)).get(page(world))
        assert response.status_code == 200, role
        body = response.content.decode()
        assert "tasks 12.0x normal" in body and "New tool for this agent" in body
        assert ('name="alerts"' in body) == (role in ("owner", "admin")), role
    for url in (page(world), incident_page(world.a.slug, case.incident)):
        outsider = signed_in(world.b_owner).get(url)
        missing = signed_in(world.b_owner).get(url.replace(world.a.slug, "no-such-tenant"))
        assert outsider.status_code == missing.status_code == 404
    own_url_other_incident = incident_page(world.a.slug, case.b_incident)
    assert signed_in(world.a_owner).get(own_url_other_incident).status_code == 404
    for role in ("admin", "operator", "auditor"):
        client = signed_in(make_staff(role))
        response = client.get(page(world, area="console"))
        assert response.status_code == 200, role
        assert ('name="alerts"' in response.content.decode()) == (role != "auditor"), role


def test_the_tenant_page_lists_only_its_own_alerts_with_the_queues_filters(
    case: Case, world: World, fleet_a: Fleet
) -> None:
    client = signed_in(world.a_owner)
    shown = [row.alert.pk for row in client.get(page(world)).context["rows"]]
    assert shown == [case.volume.pk, case.scope.pk]
    scoped = client.get(page(world), {"kind": "scope", "agent": str(fleet_a.agent.pk)})
    assert [row.alert.pk for row in scoped.context["rows"]] == [case.scope.pk]
    assert [i.pk for i in scoped.context["incidents"]] == [case.incident.pk]
    assert client.get(page(world), {"state": "resolved"}).context["incidents"] == []
    exported = client.get(page(world), {"export": "csv"}).content.decode()
    assert str(case.volume.pk) in exported and str(case.b_incident.pk) not in exported
    b_agent = signed_in(world.a_owner).get(page(world), {"agent": "not-an-agent"})
    assert "not one of the available choices" in b_agent.content.decode()


def test_a_member_reads_but_cannot_triage_and_an_owner_can(
    case: Case, world: World, make_customer: Callable[..., User]
) -> None:
    bulk = reverse("web:portal_security_bulk", args=[world.a.slug])
    data = {"alerts": [str(case.volume.pk)], "action": "acknowledge"}
    assert signed_in(world.a_member).post(bulk, data).status_code == 403
    viewer = make_customer(world.a, "viewer")
    state_url = reverse("web:portal_security_incident_state", args=[world.a.slug, case.incident.pk])
    assert signed_in(viewer).post(state_url, {"state": "acknowledged"}).status_code == 403
    with tenant_context(world.a):
        assert Alert.objects.get(pk=case.volume.pk).state == "open"
    assert signed_in(world.b_owner).post(bulk, data).status_code == 404

    done = signed_in(world.a_owner).post(bulk, {**data, "next": page(world) + "?kind=volume"})
    assert done["Location"] == page(world) + "?kind=volume"
    with tenant_context(world.a):
        assert Alert.objects.get(pk=case.volume.pk).state == "acknowledged"


def test_the_incident_page_explains_the_evidence_and_links_to_traces_and_data_flow(
    case: Case, world: World, fleet_a: Fleet
) -> None:
    response = signed_in(world.a_member).get(incident_page(world.a.slug, case.incident))
    assert response.status_code == 200
    body = response.content.decode()
    # Volume: observed against the baseline, with numbers.
    assert (
        "Tasks in 10 minutes: observed 120; the baseline for Mon 09:00 (UTC) is a median of 10"
        in body
    )
    assert "12.0x normal, robust z 50.0." in body
    # Scope: Sentinel-style insights.
    assert "First time for this agent (it used crm.lookup before)." in body
    assert "Uncommon among its peers: 0 % of its 3 peers" in body
    assert "Uncommon in the tenant: 5 % of the other agents use it." in body
    # A chart of the volume anomaly drawn from the rollups.
    [chart] = [e.chart for e, _ in response.context["evidence"] if e.chart]
    assert chart.peak == "120" and len(chart.points.split()) == 80  # 60 min before, 10, 10 after
    traces = reverse("web:portal_traces", args=[world.a.slug])
    assert f'href="{traces}?since=' in body and f"agent={fleet_a.agent.pk}" in body
    dataflow = reverse("web:portal_dataflow", args=[world.a.slug])
    assert f'href="{dataflow}?since={case.start:%Y-%m-%d}' in body
    assert "Change state" not in body and "Add note" not in body, "a member only reads"


def test_state_changes_notes_and_quarantine_from_the_incident_page_make_its_timeline(
    case: Case, world: World, fleet_a: Fleet, make_staff: Callable[..., User]
) -> None:
    owner = signed_in(world.a_owner)
    slug = world.a.slug
    url = incident_page(slug, case.incident)
    assert "Change state" in owner.get(url).content.decode()

    def post(name: str, data: dict[str, str], *args: object) -> None:
        response = owner.post(reverse(f"web:portal_{name}", args=[slug, *args]), data)
        assert response.status_code == 302, response.content

    post("security_incident_state", {"state": "acknowledged", "note": "looking"}, case.incident.pk)
    post("security_incident_assign", {}, case.incident.pk)
    post(
        "security_incident_note",
        {"text": "The payroll export came from a test job."},
        case.incident.pk,
    )
    post(
        "security_quarantine_start",
        {"agent": str(fleet_a.agent.pk), "reason": "contain", "next": url},
    )
    with tenant_context(world.a):
        quarantine = Quarantine.objects.get(target_id=fleet_a.agent.pk, released_at__isnull=True)
    post("security_quarantine_release", {}, quarantine.pk)
    refused = owner.post(
        reverse("web:portal_security_incident_state", args=[slug, case.incident.pk]),
        {"state": "resolved"},
        follow=True,
    )
    assert "Say why" in refused.content.decode()
    post("security_incident_state", {"state": "resolved", "note": "contained"}, case.incident.pk)

    response = owner.get(url)
    actions = [entry.action for entry in response.context["timeline"]]
    assert actions[:2] == ["raised", "raised"]
    for expected in ("acknowledged", "assigned", "note", "quarantined", "released", "resolved"):
        assert expected in actions, expected
    assert actions.index("quarantined") < actions.index("released") < actions.index("resolved")
    body = response.content.decode()
    assert "The payroll export came from a test job." in body and "Released from quarantine" in body
    with tenant_context(world.a):
        incident = Incident.objects.get(pk=case.incident.pk)
        assert incident.state == "resolved" and incident.assignee == world.a_owner
        assert set(Alert.objects.values_list("state", flat=True)) == {"resolved"}
    # Staff see the same timeline in the console; an auditor acts on nothing.
    auditor = signed_in(make_staff("auditor"))
    console = auditor.get(incident_page(slug, case.incident, "console"))
    assert console.status_code == 200 and "Released from quarantine" in console.content.decode()
    state = reverse("web:console_security_incident_state", args=[slug, case.incident.pk])
    assert auditor.post(state, {"state": "open"}).status_code == 403


def test_one_alert_changes_state_on_the_incident_page(
    case: Case, world: World, make_staff: Callable[..., User]
) -> None:
    client = signed_in(make_staff("operator"))
    url = reverse("web:console_security_alert_state", args=[world.a.slug, case.scope.pk])
    done = client.post(url, {"state": "false_positive", "note": "tool adopted on purpose"})
    assert done["Location"].endswith(f"#alert-{case.scope.pk}")
    with tenant_context(world.a):
        assert Alert.objects.get(pk=case.scope.pk).state == "false_positive"
        assert Alert.objects.get(pk=case.volume.pk).state == "open"
    other_tenant = reverse("web:console_security_alert_state", args=[world.b.slug, case.scope.pk])
    assert client.post(other_tenant, {"state": "open", "note": "x"}).status_code == 404


def test_members_limited_to_departments_see_the_alerts_of_their_agents_only(
    case: Case, world: World, fleet_a: Fleet, make_customer: Callable[..., User]
) -> None:
    finance_agent = agent_create(
        actor=SYSTEM, tenant=world.a, name="ledger-bot", department=world.a_department
    )
    now = timezone.now().replace(second=0, microsecond=0)
    [finance_alert] = record(world.a, [volume(finance_agent.pk, now - dt.timedelta(days=1))], now)
    member = make_customer(world.a, "member")
    with tenant_context(world.a):
        Membership.objects.get(user=member).departments.add(world.a_department)
    client = signed_in(member)
    assert [row.alert.pk for row in client.get(page(world)).context["rows"]] == [finance_alert.pk]
    assert client.get(incident_page(world.a.slug, case.incident)).status_code == 404


def test_the_baselines_show_learned_hours_against_the_configured_window_and_top_items(
    world: World, fleet_a: Fleet
) -> None:
    from controlplane.agents.services import agent_update

    agent_update(
        actor=SYSTEM,
        agent=fleet_a.agent,
        operating_window={"days": [0, 1, 2, 3, 4], "start": "08:00", "end": "18:00", "tz": "UTC"},
    )
    now = timezone.now()
    # Two weeks at 03:00 UTC two days ago: learned, and outside the configured window.
    night = (now - dt.timedelta(days=2)).replace(hour=3, minute=5, second=0, microsecond=0)
    lines = [
        span(
            fleet_a,
            trace_id=new_trace_id(),
            span_id="0000000000000001",
            start=night - dt.timedelta(weeks=weeks),
            tool="crm.lookup" if weeks else "",
        )
        for weeks in (0, 1)
        for _ in range(3)
    ]
    ingest(lines, ledger=False)
    response = signed_in(world.a_member).get(page(world))
    [(profile, window)] = response.context["profiles"]
    hour = night.weekday() * 24 + 3
    assert profile.learned == {hour} and hour in profile.outside_window
    assert window == "Mon-Fri 08:00-18:00 UTC"
    [item] = profile.top_items
    assert (item.dimension, item.item, item.uses) == ("tool", "crm.lookup", 3)
    assert item.first_seen == (night - dt.timedelta(weeks=1)).replace(minute=5)
    assert "1 learned hour outside it." in response.content.decode()


def test_the_faults_panel_counts_alerts_by_severity_over_its_range(
    case: Case, world: World, fleet_a: Fleet
) -> None:
    old = timezone.now() - dt.timedelta(days=3)
    record(world.a, [volume(fleet_a.agent.pk, old, severity="critical", subject="old")], old)
    response = signed_in(world.a_member).get(
        reverse("web:portal_dashboards", args=[world.a.slug]), {"range": "24h"}
    )
    [faults] = [p["data"] for p in response.context["panels"] if p["name"] == "faults"]
    counts = {row["severity"]: (row["alerts"], row["active"]) for row in faults["security"]}
    assert counts == {"critical": (0, 0), "high": (1, 1), "medium": (1, 1), "low": (0, 0)}
    high = next(row for row in faults["security"] if row["severity"] == "high")
    assert high["url"].startswith(page(world) + "?severity=high&state=all&since=")
    week = signed_in(world.a_member).get(
        reverse("web:portal_dashboards", args=[world.a.slug]), {"range": "7d"}
    )
    [faults] = [p["data"] for p in week.context["panels"] if p["name"] == "faults"]
    assert faults["security"][0] == {
        "severity": "critical",
        "alerts": 1,
        "active": 1,
        "url": faults["security"][0]["url"],
    }
    assert 'data-security-severity="critical"' in week.content.decode()

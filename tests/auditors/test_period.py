"""An auditor sees the data of their period and nothing else: traces, diagrams, audit
entries, alerts and packages from outside it are not listed, and opening one is the
same 404 as opening one that does not exist."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable

import pytest
from django.urls import reverse

from compliance.packages.services import package_request
from compliance.services import dataflow_snapshot_create
from controlplane.accounts.models import User
from controlplane.core.tenancy import tenant_context
from controlplane.security.alerts import alerts_record
from controlplane.security.detectors import Finding
from tests.auditors.conftest import around_today, last_quarter
from tests.conftest import SYSTEM, signed_in
from tests.web.conftest import Fleet, World
from tests.web.telemetry import ingest, span

pytestmark = pytest.mark.django_db


def trace_at(fleet: Fleet, start: dt.datetime) -> str:
    trace_id = uuid.uuid4().hex
    ingest([span(fleet, trace_id=trace_id, span_id="b000000000000001", start=start)])
    return trace_id


def test_traces_of_the_period_only(
    world: World, fleet_a: Fleet, make_auditor: Callable[..., User], make_staff: Callable[..., User]
) -> None:
    period = last_quarter()
    inside = trace_at(fleet_a, period.until - dt.timedelta(hours=3))  # on its last day
    after = trace_at(fleet_a, period.until + dt.timedelta(hours=1))
    client = signed_in(make_auditor(world.a, period=period))
    slug = world.a.slug

    listed = client.get(reverse("web:auditor_traces", args=[slug])).content.decode()
    assert inside in listed and after not in listed
    asked_after = client.get(
        reverse("web:auditor_traces", args=[slug]),
        {
            "since": period.until.isoformat(),
            "until": (period.until + dt.timedelta(days=1)).isoformat(),
        },
    ).content.decode()
    assert after not in asked_after  # a window outside the period shows nothing of it

    assert client.get(reverse("web:auditor_trace", args=[slug, inside])).status_code == 200
    assert client.get(reverse("web:auditor_trace", args=[slug, after])).status_code == 404
    staff = signed_in(make_staff("auditor"))
    assert staff.get(reverse("web:console_trace", args=[slug, after])).status_code == 200


def test_diagram_snapshots_of_the_period_only(
    world: World, make_auditor: Callable[..., User]
) -> None:
    period = last_quarter()
    inside, _ = dataflow_snapshot_create(
        tenant=world.a, since=period.since, until=period.since + dt.timedelta(days=7), actor=SYSTEM
    )
    after, _ = dataflow_snapshot_create(
        tenant=world.a, since=period.until, until=period.until + dt.timedelta(days=7), actor=SYSTEM
    )
    client = signed_in(make_auditor(world.a, period=period))
    slug = world.a.slug

    page = client.get(reverse("web:auditor_dataflow", args=[slug])).content.decode()
    assert str(inside.pk) in page and str(after.pk) not in page
    for name in ("auditor_dataflow_snapshot", "auditor_dataflow_snapshot_svg"):
        assert client.get(reverse(f"web:{name}", args=[slug, inside.pk])).status_code == 200
        assert client.get(reverse(f"web:{name}", args=[slug, after.pk])).status_code == 404


def test_audit_entries_of_the_period_only(world: World, make_auditor: Callable[..., User]) -> None:
    # Today's entries (the tenant's creation, the grants) lie outside last quarter.
    past = signed_in(make_auditor(world.a, period=last_quarter()))
    current = signed_in(make_auditor(world.a, period=around_today()))
    url = reverse("web:auditor_audit", args=[world.a.slug])

    assert "auditor.granted" not in past.get(url).content.decode()
    assert "auditor.granted" in current.get(url).content.decode()
    export = current.get(url, {"export": "csv"}).content.decode()
    assert "auditor.granted" in export and "globex" not in export


def test_alerts_of_the_period_only(
    world: World, fleet_a: Fleet, make_auditor: Callable[..., User]
) -> None:
    period = last_quarter()
    with tenant_context(world.a):
        for title, moment in (
            ("inside the period", period.until - dt.timedelta(days=2)),
            ("after the period", period.until + dt.timedelta(days=2)),
        ):
            finding = Finding(
                kind="volume",
                subject=f"volume:{title}",
                agent_ids=[fleet_a.agent.pk],
                site_id=None,
                started_at=moment - dt.timedelta(minutes=10),
                detected_at=moment,
                ended_at=moment,
                severity="high",
                title=title,
                evidence={"metric": "tasks", "observed": 120, "baseline_median": 10},
            )
            alerts_record(tenant_id=world.a.pk, findings=[finding], now=moment)
    client = signed_in(make_auditor(world.a, period=period))

    page = client.get(reverse("web:auditor_alerts", args=[world.a.slug])).content.decode()

    assert "inside the period" in page and "after the period" not in page


def test_packages_of_the_period_only(
    world: World,
    make_auditor: Callable[..., User],
    django_capture_on_commit_callbacks: Callable,
) -> None:
    auditor = make_auditor(world.a, period=last_quarter())  # queues its period's package
    with django_capture_on_commit_callbacks(execute=True):
        other = package_request(actor=SYSTEM, tenant=world.a, period=around_today())
    client = signed_in(auditor)
    slug = world.a.slug

    page = client.get(reverse("web:auditor_evidence_packages", args=[slug])).content.decode()
    assert str(other.pk) not in page
    download = reverse("web:auditor_evidence_package_download", args=[slug, other.pk])
    assert client.get(download).status_code == 404

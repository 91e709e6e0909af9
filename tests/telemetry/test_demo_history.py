"""``seed_demo`` gives the demo tenants a month of history in both stores, once: with
two security incidents in it, found and triaged, and last month invoiced."""

from __future__ import annotations

import datetime as dt
import re
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection

from billing.models import Invoice
from compliance.models import EvidencePackage, EvidenceRecord
from controlplane.agents.models import Agent
from controlplane.analytics import get_store
from controlplane.core.tenancy import all_tenants_context, tenant_context
from controlplane.gateway.demo import POLICIES
from controlplane.security.models import Alert, Incident, Quarantine
from controlplane.telemetry.demo_history import demo_gateway_lines
from tenants.models import Tenant

pytestmark = pytest.mark.django_db


def seed_demo(tmp_path: Path, settings: Any, events: int) -> str:
    settings.VAR_DIR = tmp_path
    out = StringIO()
    call_command("seed_demo", f"--history-events={events}", stdout=out)
    return out.getvalue()


def test_the_demo_starts_with_a_month_of_history_in_both_stores(
    tmp_path: Path, settings: Any
) -> None:
    output = seed_demo(tmp_path, settings, events=3000)
    assert "history: 3,000 events loaded" in output
    gateway = len(demo_gateway_records())
    found = re.search(r"security: two incidents planted .*\(([\d,]+) spans\)", output)
    assert found is not None, output
    planted = int(found.group(1).replace(",", ""))
    with all_tenants_context():
        tenants = {
            t.pk: t.slug for t in Tenant.objects.filter(slug__in=["acme", "globex", "initech"])
        }
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT tenant_id, count(*), count(DISTINCT agent_id), "
                "count(DISTINCT date(occurred_at AT TIME ZONE 'UTC')), "
                "count(*) FILTER (WHERE status <> 'ok') "
                "FROM telemetry_usageevent WHERE tenant_id = ANY(%s) GROUP BY tenant_id",
                [list(tenants)],
            )
            ledger = {row[0]: row[1:] for row in cursor.fetchall()}
    assert {tenants[t] for t in ledger} == {"acme", "globex", "initech"}
    # the history, and the edge gateway's own records for the compliance pages
    assert sum(row[0] for row in ledger.values()) == 3000 + gateway + planted
    # every demo agent has a past, spread over the month, with some failures in it
    assert sum(row[1] for row in ledger.values()) == 9
    assert all(row[2] >= 20 for row in ledger.values())
    assert sum(row[3] for row in ledger.values()) > 0

    in_clickhouse = get_store().query(
        "SELECT count() AS n FROM spans FINAL WHERE tenant_id IN {tenants:Array(UUID)}",
        {"tenants": [str(t) for t in tenants]},
    )
    assert in_clickhouse[0]["n"] == 3000 + gateway + planted
    assert "compliance: " in output and "evidence records" in output
    assert "an outside auditor of acme and globex, packages made" in output
    with all_tenants_context():  # the auditor's evidence is organized when they arrive
        made = EvidencePackage.unscoped.filter(status=EvidencePackage.Status.READY)
        assert sorted(made.values_list("tenant__slug", flat=True)) == ["acme", "globex"]

    story = security_story()
    assert story["quarantines"] == [("support-bot", True), ("finance-analyst", False)]
    assert "billing: last month closed: acme NW-000001, globex NW-000002, initech review" in output
    assert billing_story() == {"acme": "final", "globex": "final", "initech": "review"}

    again = seed_demo(tmp_path, settings, events=3000)
    assert "history: 0 events loaded, 3,000 already there" in again
    assert "compliance: " not in again  # the demo's evidence is there already
    assert "security: " not in again and "billing: " not in again
    assert security_story() == story


def security_story() -> dict[str, object]:
    """Acme's month: a retry loop of support-bot, resolved after a quarantine that was
    released; finance-analyst's HR export, a critical incident still open with the agent
    in quarantine; every alert handled within its SLA, as the CC7 evidence says."""
    with all_tenants_context():
        acme = Tenant.objects.get(slug="acme")
    with tenant_context(acme):
        names = dict(Agent.objects.values_list("pk", "name"))
        incidents = {
            tuple(sorted({names[a] for alert in i.alerts.all() for a in alert.agent_ids})): i
            for i in Incident.objects.exclude(state="false_positive")
        }
        retry, theft = incidents[("support-bot",)], incidents[("finance-analyst",)]
        assert retry.state == "resolved" and retry.notes.count() >= 3
        assert {a.kind for a in retry.alerts.all()} >= {"volume"}
        assert (theft.state, theft.severity) == ("acknowledged", "critical")
        assert theft.alerts.filter(kind="scope", severity="critical").exists()
        for alert in Alert.objects.all():
            handled = alert.acknowledged_at or alert.closed_at
            assert handled is not None and alert.raised_at < handled <= alert.sla_due_at
        quarantines = [
            (names[q.target_id], q.released_at is not None)
            for q in Quarantine.objects.order_by("started_at")
        ]
    with all_tenants_context():
        evidence = dict(
            EvidenceRecord.unscoped.filter(test_key__startswith="cc7.", tenant=acme).values_list(
                "test_key", "result"
            )
        )
    assert evidence["cc7.alert_triage"] == "pass" and evidence["cc7.quarantines"] == "pass"
    return {"incidents": sorted(incidents), "quarantines": quarantines}


def billing_story() -> dict[str, str]:
    """Last month closed: issued with a number and a PDF, or waiting for review."""
    today = dt.datetime.now(dt.UTC).date()
    last_month = (today.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    with all_tenants_context():
        invoices = Invoice.unscoped.filter(month=last_month).select_related("tenant")
        for invoice in invoices:
            assert bool(invoice.number) == bool(invoice.pdf) == (invoice.status == "final")
        # this month so far, as a draft of each tenant
        assert Invoice.unscoped.filter(month=today.replace(day=1), status="draft").count() == 3
        integrity = EvidenceRecord.unscoped.filter(test_key="pi1.billing_integrity")
        assert set(integrity.values_list("result", flat=True)) == {"pass"}
        return {i.tenant.slug: i.status for i in invoices}


def demo_gateway_records() -> list[bytes]:
    with all_tenants_context():
        tenants = list(Tenant.objects.filter(slug__in=POLICIES))
    end = dt.datetime.now(dt.UTC)
    return [line for t in tenants for line in demo_gateway_lines(t, POLICIES[t.slug], end)]

"""``seed_demo`` gives the demo tenants a month of history in both stores, once."""

from __future__ import annotations

import datetime as dt
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection

from compliance.models import EvidencePackage
from controlplane.analytics import get_store
from controlplane.core.tenancy import all_tenants_context
from controlplane.gateway.demo import POLICIES
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
    assert sum(row[0] for row in ledger.values()) == 3000 + gateway
    # every demo agent has a past, spread over the month, with some failures in it
    assert sum(row[1] for row in ledger.values()) == 9
    assert all(row[2] >= 20 for row in ledger.values())
    assert sum(row[3] for row in ledger.values()) > 0

    in_clickhouse = get_store().query(
        "SELECT count() AS n FROM spans FINAL WHERE tenant_id IN {tenants:Array(UUID)}",
        {"tenants": [str(t) for t in tenants]},
    )
    assert in_clickhouse[0]["n"] == 3000 + gateway
    assert "compliance: " in output and "evidence records" in output
    assert "an outside auditor of acme and globex, packages made" in output
    with all_tenants_context():  # the auditor's evidence is organized when they arrive
        made = EvidencePackage.unscoped.filter(status=EvidencePackage.Status.READY)
        assert sorted(made.values_list("tenant__slug", flat=True)) == ["acme", "globex"]

    again = seed_demo(tmp_path, settings, events=3000)
    assert "history: 0 events loaded, 3,000 already there" in again
    assert "compliance: " not in again  # the demo's evidence is there already


def demo_gateway_records() -> list[bytes]:
    with all_tenants_context():
        tenants = list(Tenant.objects.filter(slug__in=POLICIES))
    end = dt.datetime.now(dt.UTC)
    return [line for t in tenants for line in demo_gateway_lines(t, POLICIES[t.slug], end)]

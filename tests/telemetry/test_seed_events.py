"""``manage.py seed_events``: a synthetic history in both stores, the same events in each.

chDB keeps its data for the whole test process; each test's tenants are fresh rows with
new ids, so the counts below are of this test's tenants only.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from collections.abc import Callable
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.urls import reverse

from controlplane.accounts.models import User
from controlplane.analytics import get_store
from controlplane.core.tenancy import all_tenants_context
from controlplane.gateway.models import Budget
from tenants.models import Tenant
from tests.conftest import signed_in

pytestmark = pytest.mark.django_db

UNTIL = dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC)


def seed(*extra: str, events: int = 2000, seed_value: int = 11) -> str:
    out = StringIO()
    call_command(
        "seed_events",
        f"--events={events}",
        "--tenants=3",
        "--agents=10",
        f"--seed={seed_value}",
        *extra,
        stdout=out,
    )
    return out.getvalue()


def seeded_tenants() -> list[uuid.UUID]:
    with all_tenants_context():
        return list(Tenant.objects.filter(slug__startswith="seed-").values_list("pk", flat=True))


def ledger_totals(tenants: list[uuid.UUID]) -> dict[str, Any]:
    with all_tenants_context(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), count(DISTINCT event_id), sum(input_tokens), sum(output_tokens), "
            "sum(cost), count(DISTINCT date(occurred_at AT TIME ZONE 'UTC')), "
            "min(occurred_at), max(occurred_at) "
            "FROM telemetry_usageevent WHERE tenant_id = ANY(%s)",
            [tenants],
        )
        row = cursor.fetchone()
    assert row is not None
    names = ("events", "ids", "input", "output", "cost", "days", "first", "last")
    return dict(zip(names, row, strict=True))


def clickhouse_totals(tenants: list[uuid.UUID]) -> dict[str, Any]:
    [row] = get_store().query(
        "SELECT count() AS events, uniqExact(event_id) AS ids, sum(input_tokens) AS input, "
        "sum(output_tokens) AS output, sum(cost) AS cost "
        "FROM spans WHERE has({tenants:Array(UUID)}, tenant_id)",
        {"tenants": tenants},
    )
    [rollup] = get_store().query(
        "SELECT sum(requests) AS requests FROM spans_minute WHERE has({tenants:Array(UUID)}, "
        "tenant_id)",
        {"tenants": tenants},
    )
    return {**row, "minute_requests": rollup["requests"]}


def ledger_ids(tenants: list[uuid.UUID]) -> set[uuid.UUID]:
    with all_tenants_context(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT event_id FROM telemetry_usageevent WHERE tenant_id = ANY(%s)", [tenants]
        )
        return {row[0] for row in cursor.fetchall()}


def clickhouse_ids(tenants: list[uuid.UUID]) -> set[uuid.UUID]:
    rows = get_store().query(
        "SELECT event_id FROM spans WHERE has({tenants:Array(UUID)}, tenant_id)",
        {"tenants": tenants},
    )
    return {uuid.UUID(str(row["event_id"])) for row in rows}


def test_both_stores_get_the_same_events_spread_over_the_days() -> None:
    output = seed(f"--until={UNTIL.isoformat()}")

    tenants = seeded_tenants()
    assert len(tenants) == 3
    ledger, clickhouse = ledger_totals(tenants), clickhouse_totals(tenants)
    assert ledger["events"] == ledger["ids"] == 2000
    assert clickhouse["events"] == clickhouse["ids"] == clickhouse["minute_requests"] == 2000
    assert clickhouse["input"] == ledger["input"] > 0
    assert clickhouse["output"] == ledger["output"] > 0
    assert clickhouse["cost"] == ledger["cost"] > 0
    assert ledger_ids(tenants) == clickhouse_ids(tenants)
    assert ledger["days"] >= 25  # of the 30 days before --until
    assert UNTIL - dt.timedelta(days=30) <= ledger["first"] < ledger["last"] < UNTIL
    assert "2,000/2,000 events" in output
    assert "events/s" in output


def test_running_again_adds_nothing() -> None:
    seed(f"--until={UNTIL.isoformat()}")
    tenants = seeded_tenants()
    before = ledger_totals(tenants), clickhouse_totals(tenants)

    output = seed(f"--until={UNTIL.isoformat()}")

    assert seeded_tenants() == tenants
    assert (ledger_totals(tenants), clickhouse_totals(tenants)) == before
    assert "2,000 were already loaded" in output
    with all_tenants_context():
        budgets = Counter(
            Budget.unscoped.filter(tenant_id__in=tenants, scope="tenant").values_list(
                "period", flat=True
            )
        )
    assert budgets == {"month": 3, "day": 1}  # a month budget each, a day one every other


def test_clickhouse_only_leaves_the_ledger_empty_and_running_again_adds_nothing() -> None:
    """For dashboards at scales whose ledger would not fit the disk."""
    seed(f"--until={UNTIL.isoformat()}", "--clickhouse-only", seed_value=12)
    tenants = seeded_tenants()
    assert ledger_totals(tenants)["events"] == 0
    loaded = clickhouse_totals(tenants)
    assert loaded["events"] == loaded["ids"] == loaded["minute_requests"] == 2000

    seed(f"--until={UNTIL.isoformat()}", "--clickhouse-only", seed_value=12)

    assert clickhouse_totals(tenants) == loaded


def test_the_dashboards_of_a_seeded_tenant_show_its_events(
    make_customer: Callable[..., User],
) -> None:
    seed(events=3000, seed_value=12)  # up to now
    with all_tenants_context():
        tenant = Tenant.objects.get(slug="seed-001")
    client = signed_in(make_customer(tenant, "viewer"))

    for range_key in ("24h", "30d"):
        response = client.get(
            reverse("web:portal_dashboards", args=[tenant.slug]), {"range": range_key}
        )
        assert response.status_code == 200
        panels = {p["name"]: p["data"] for p in response.context["panels"]}
        utilization, faults = panels["utilization"], panels["faults"]
        assert utilization["has_data"], range_key
        assert utilization["by_agent"] and utilization["by_model"], range_key
        assert faults["providers"], range_key
    assert panels["utilization"]["totals"]["requests"] > 1000


@pytest.mark.parametrize(
    ("arguments", "option"),
    [
        (["--events=0"], "--events"),
        (["--events=many"], "--events"),
        (["--days=0"], "--days"),
        (["--days=400"], "--days"),
        (["--tenants=0"], "--tenants"),
        (["--tenants=6", "--agents=10"], "--agents"),
        (["--until=yesterday"], "--until"),
    ],
)
def test_bad_arguments_are_refused_naming_the_option(arguments: list[str], option: str) -> None:
    with pytest.raises(CommandError, match=option):
        call_command("seed_events", *arguments, stdout=StringIO())
    assert seeded_tenants() == []

"""The fleet view's PostgreSQL side and budget burns: edge nodes and budgets of every tenant in a
fixed number of queries, with the figures the per-tenant reads give."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from controlplane.accounts.models import User
from controlplane.agents.models import EdgeNode
from controlplane.agents.services import edge_node_create
from controlplane.core.tenancy import all_tenants_context, tenant_context
from controlplane.gateway.selectors import budget_status
from controlplane.gateway.services import budget_create
from controlplane.web.edge_status import node_state, state_counts
from tenants.models import Tenant
from tenants.services import tenant_create
from tests.conftest import SYSTEM, signed_in
from tests.web.conftest import Fleet, make_fleet
from tests.web.telemetry import ingest, span
from tests.web.test_traces import new_trace_id

pytestmark = pytest.mark.django_db


def spend(fleet: Fleet, tokens: int, at: dt.datetime) -> None:
    """One model call of ``tokens`` in and out: $0.75 per million of each."""
    ingest(
        [
            span(
                fleet,
                trace_id=new_trace_id(),
                span_id="1" * 16,
                start=at,
                kind="model",
                provider="openai",
                model="gpt-4o-mini",
                input_tokens=tokens,
                output_tokens=tokens,
            )
        ]
    )


def budgeted_tenants(numbers: range, now: dt.datetime) -> list[Tenant]:
    """Tenants with an edge node, a day and a month budget, and $0.75 times their
    number plus one spent a minute ago."""
    tenants = []
    for i in numbers:
        tenant = tenant_create(actor=SYSTEM, slug=f"fleet-{i}", name=f"Fleet {i}")
        spend(make_fleet(tenant), 1_000_000 * (i + 1), now - dt.timedelta(minutes=1))
        for period, limit in (("day", Decimal(10)), ("month", Decimal("1.5"))):
            budget_create(
                actor=SYSTEM, tenant=tenant, scope="tenant", period=period, limit=limit, kind="soft"
            )
        tenants.append(tenant)
    return tenants


def test_a_budget_burns_what_its_own_day_or_month_spent(make_staff: Callable[..., User]) -> None:
    now = timezone.now()
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    tenant = tenant_create(actor=SYSTEM, slug="burner", name="Burner")
    fleet = make_fleet(tenant)
    spend(fleet, 1_000_000, month_start)  # $0.75: this month's, and today's on the 1st
    spend(fleet, 1_000_000, month_start - dt.timedelta(minutes=1))  # last month's
    budget_create(
        actor=SYSTEM, tenant=tenant, scope="tenant", period="day", limit=Decimal(1), kind="soft"
    )
    budget_create(
        actor=SYSTEM, tenant=tenant, scope="tenant", period="month", limit=Decimal(2), kind="soft"
    )
    response = signed_in(make_staff("operator")).get(reverse("web:console_fleet"), {"range": "1h"})
    [row] = [r for r in response.context["rows"] if r.tenant == tenant]
    with tenant_context(tenant):
        worst = max(budget_status(now=now), key=lambda s: s.used)
    assert row.budget is not None and row.budget.used == worst.used
    today_is_the_first = month_start.date() == now.date()
    assert row.budget.used == (Decimal("0.75") if today_is_the_first else Decimal("0.375"))


def fleet_queries(client: Client) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("web:console_fleet"), {"range": "1h"})
    assert response.status_code == 200
    return len(queries)


def test_the_fleet_reads_as_many_queries_for_six_tenants_as_for_two(
    make_staff: Callable[..., User],
) -> None:
    now = timezone.now()
    client = signed_in(make_staff("operator"))
    tenants = budgeted_tenants(range(2), now)
    fleet_queries(client)  # the session's first reads
    two = fleet_queries(client)
    tenants += budgeted_tenants(range(2, 6), now)
    six = fleet_queries(client)
    assert six == two

    response = client.get(reverse("web:console_fleet"), {"range": "1h"})
    body = response.content.decode()
    for tenant in tenants:
        with tenant_context(tenant):
            worst = max(budget_status(now=now), key=lambda s: s.used)
        row = next(r for r in response.context["rows"] if r.tenant == tenant)
        assert row.budget is not None and row.budget.used == worst.used
        assert (row.edges_up, row.edges_late, row.edges_down, row.edges_total) == (0, 0, 0, 1)
    # Fleet 0 spent $0.75 of its $1.50 a month, Fleet 1 all of it.
    assert "50 % of $1.50" in body and "100 % of $1.50" in body and "meter-over" in body


def test_edge_nodes_counted_in_sql_as_node_state_judges_each(tenant_a: Tenant) -> None:
    now = timezone.now()
    fleet = make_fleet(tenant_a)
    recent = now - dt.timedelta(seconds=5)
    host: Callable[..., dict[str, Any]] = lambda **figures: {"host": figures}  # noqa: E731
    nanos = int((now - dt.timedelta(minutes=20)).timestamp() * 1e9)
    nodes: list[dict[str, Any]] = [
        {"last_success_at": recent},
        {"last_success_at": recent, "heartbeat": host(cpu_percent=12.5, disk_percent=40)},
        {"last_success_at": recent, "heartbeat": host(cpu_percent=95)},
        {"last_success_at": recent, "heartbeat": host(memory_percent="95")},  # no number
        {"last_success_at": recent, "heartbeat": host(disk_percent=True)},
        {"last_success_at": recent, "heartbeat": {"host": [95]}},
        {"last_success_at": recent, "heartbeat": {"spool": {"bytes": 90, "max_bytes": 100}}},
        {"last_success_at": recent, "heartbeat": {"spool": {"bytes": 90, "max_bytes": 0}}},
        {
            "last_success_at": recent,
            "heartbeat": {"spool": {"oldest_unpulled_unix_nano": nanos}},
            "heartbeat_at": now,
        },
        {"last_success_at": recent, "heartbeat": {"spool": {"oldest_unpulled_unix_nano": nanos}}},
        {"last_success_at": recent, "dead_letter_count": 2},
        {"last_success_at": now - dt.timedelta(minutes=2)},
        {"last_success_at": now - dt.timedelta(minutes=2), "heartbeat": host(cpu_percent=99)},
        {"last_success_at": now - dt.timedelta(minutes=10)},
        {"last_success_at": recent, "consecutive_failures": 1},
        {},  # never pulled
    ]
    for i, fields in enumerate(nodes):
        node, _ = edge_node_create(
            actor=SYSTEM,
            site=fleet.site,
            name=f"node-{i}",
            pull_url="https://edge.example.com:4318",
            agent_url="https://edge.example.com:4318",
        )
        with all_tenants_context():
            EdgeNode.unscoped.filter(pk=node.pk).update(**fields)
    with all_tenants_context():
        states = Counter(node_state(n, now) for n in EdgeNode.unscoped.filter(tenant=tenant_a))
        counts = state_counts(now)[tenant_a.pk]
    assert states == {"healthy": 7, "degraded": 4, "late": 2, "down": 2, "pending": 2}
    assert (counts.up, counts.late, counts.down, counts.total) == (7, 2, 2, len(nodes) + 1)

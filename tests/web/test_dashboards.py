"""The dashboards: a tenant's utilization, faults and operations (portal and console) and
the staff fleet view. Numbers come from ClickHouse's per-minute rollup, fed the way the
pull worker feeds it.

chDB keeps its data for the whole test process; every test's tenants are fresh rows
with new ids, so only what a test inserts shows on its pages.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections.abc import Callable
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import json_script

from controlplane.accounts.models import User
from controlplane.agents.models import EdgeNode
from controlplane.agents.services import edge_node_version_observe
from controlplane.core.tenancy import all_tenants_context
from controlplane.dashboards import operations, queries
from controlplane.dashboards.panels import DIMENSIONS
from controlplane.gateway import services as gateway
from controlplane.gateway.models import ConfigChange, ProviderCredential
from controlplane.gateway.services import budget_create
from controlplane.telemetry.dead_letters import Refusal, dead_letters_record
from controlplane.telemetry.models import DeadLetter
from controlplane.web import dashboard_views, fleet
from controlplane.web.templatetags.charts import chart_json
from tenants.services import membership_set_departments
from tests.conftest import SYSTEM, signed_in
from tests.web.conftest import Fleet, World
from tests.web.telemetry import ingest, span
from tests.web.test_traces import a_trace, new_trace_id

pytestmark = pytest.mark.django_db


def portal(world: World, slug: str | None = None) -> str:
    return reverse("web:portal_dashboards", args=[slug or world.a.slug])


def console(world: World, slug: str | None = None) -> str:
    return reverse("web:console_dashboards", args=[slug or world.a.slug])


def panels(response: object) -> dict[str, dict[str, object]]:
    return {p["name"]: p["data"] for p in response.context["panels"]}  # type: ignore[attr-defined]


def ok_spans(fleet: Fleet, count: int, start: dt.datetime) -> None:
    ingest(
        [
            span(fleet, trace_id=new_trace_id(), span_id=f"{i + 1:016x}", start=start)
            for i in range(count)
        ]
    )


# --- access ---------------------------------------------------------------------------------


def test_members_read_their_dashboards_and_outsiders_get_404(
    world: World, make_customer: Callable[..., User]
) -> None:
    for role in ("owner", "admin", "member", "billing", "viewer"):
        response = signed_in(make_customer(world.a, role)).get(portal(world))
        assert response.status_code == 200, role
    assert signed_in(world.a_owner).get(portal(world, world.b.slug)).status_code == 404
    assert signed_in(world.b_member).get(portal(world)).status_code == 404
    assert signed_in(world.a_owner).get(portal(world, "no-such-tenant")).status_code == 404


def test_customers_do_not_reach_the_console_dashboards_or_the_fleet(world: World) -> None:
    client = signed_in(world.a_owner)
    assert client.get(console(world)).status_code == 404
    assert client.get(reverse("web:console_fleet")).status_code == 404


def test_staff_read_every_tenants_dashboards(world: World, make_staff: Callable[..., User]) -> None:
    client = signed_in(make_staff("auditor"))
    response = client.get(console(world, world.b.slug))
    assert response.status_code == 200
    nav = [i["label"] for i in response.context["nav_tenant_items"] if i["current"]]
    assert nav == ["Dashboards"]
    assert client.get(reverse("web:console_fleet")).status_code == 200
    assert client.post(reverse("web:console_fleet")).status_code == 403


# --- numbers --------------------------------------------------------------------------------


def test_totals_equal_what_was_inserted_and_stay_within_the_tenant(
    world: World, fleet_a: Fleet, fleet_b: Fleet
) -> None:
    now = timezone.now()
    a_trace(fleet_a, new_trace_id(), now - dt.timedelta(minutes=10))
    a_trace(fleet_a, new_trace_id(), now - dt.timedelta(minutes=30))
    for minutes in (5, 6, 7):  # tenant B: more of everything
        a_trace(fleet_b, new_trace_id(), now - dt.timedelta(minutes=minutes), label="globex-")
    ok_spans(fleet_b, 4, now - dt.timedelta(minutes=3))

    response = signed_in(world.a_member).get(portal(world))
    assert response.status_code == 200
    data = panels(response)
    usage, faults = data["utilization"], data["faults"]
    totals = usage["totals"]
    assert (totals["requests"], totals["faults"]) == (6, 2)  # type: ignore[index]
    assert (totals["input_tokens"], totals["output_tokens"]) == (1624, 240)  # type: ignore[index]
    assert totals["cost_text"] == "$0.00039"  # type: ignore[index]
    assert faults["totals"]["fault_rate"] == "33.3 %"  # type: ignore[index]
    body = response.content.decode()
    assert 'data-total="requests">6<' in body and 'data-total="cost">$0.00039<' in body
    assert fleet_b.agent.name not in body and "globex" not in body
    # Breakdowns: one provider, one model, one agent; the failing tool.
    assert [(r.label, r.requests) for r in usage["by_provider"]] == [("openai", 2)]  # type: ignore[attr-defined]
    assert [(r.label, r.requests) for r in usage["by_agent"]] == [(fleet_a.agent.name, 6)]  # type: ignore[attr-defined]
    assert [(r.label, r.faults) for r in faults["by_tool"]] == [("erp.lookup", 2)]  # type: ignore[attr-defined]
    [provider] = faults["providers"]  # type: ignore[misc]
    assert provider["provider"] == "openai" and provider["success"] == "100.0 %"
    assert provider["p50"] == "1,000 ms" and provider["p95"] == "1,000 ms"

    b_data = panels(signed_in(world.b_member).get(portal(world, world.b.slug)))
    assert b_data["utilization"]["totals"]["requests"] == 13  # type: ignore[index]


def test_latency_over_the_hourly_rollups_cap_shows_as_at_least_30_s(
    world: World, fleet_a: Fleet
) -> None:
    slow = [
        span(
            fleet_a,
            trace_id=new_trace_id(),
            span_id=f"{i + 1:016x}",
            start=timezone.now() - dt.timedelta(minutes=5 + i),
            kind="model",
            provider="slowai",
            model="slow-1",
            duration=dt.timedelta(seconds=45),
        )
        for i in range(3)
    ]
    ingest(slow)
    client = signed_in(world.a_member)

    def slowai(range_: str) -> dict[str, str]:
        data = panels(client.get(portal(world), {"range": range_}))
        return next(p for p in data["faults"]["providers"] if p["provider"] == "slowai")  # type: ignore[attr-defined]

    assert slowai("1h")["p95"] == "≥ 30,000 ms"  # spans_minute
    assert slowai("7d")["p95"] == "≥ 30,000 ms"  # spans_hour


def test_filters_narrow_the_numbers_and_stay_in_the_url(world: World, fleet_a: Fleet) -> None:
    now = timezone.now()
    a_trace(fleet_a, new_trace_id(), now - dt.timedelta(minutes=10))
    a_trace(fleet_a, new_trace_id(), now - dt.timedelta(hours=3))
    client = signed_in(world.a_member)

    def requests(**query: str) -> int:
        response = client.get(portal(world), query)
        assert response.status_code == 200
        return int(panels(response)["utilization"]["totals"]["requests"])  # type: ignore[index]

    assert requests() == 6
    assert requests(range="1h") == 3
    assert requests(range="7d", provider="openai") == 2
    assert requests(range="30d", model="gpt-4o-mini") == 2
    assert requests(range="24h", agent=str(fleet_a.agent.pk)) == 6
    assert requests(range="24h", department=str(world.a_department.pk)) == 0
    assert requests(range="24h", provider="nobody") == 0
    # The panels refresh with the same filters.
    response = client.get(portal(world), {"range": "1h", "provider": "openai"})
    refresh = next(p["url"] for p in response.context["panels"] if p["name"] == "faults")
    assert parse_qs(urlsplit(refresh).query) == {
        "range": ["1h"],
        "provider": ["openai"],
        "panel": ["faults"],
    }
    assert f'hx-get="{refresh.replace("&", "&amp;")}"' in response.content.decode()


def test_a_bad_filter_shows_the_whole_tenant(world: World, fleet_a: Fleet, fleet_b: Fleet) -> None:
    a_trace(fleet_a, new_trace_id(), timezone.now() - dt.timedelta(minutes=1))
    response = signed_in(world.a_member).get(
        portal(world), {"agent": str(fleet_b.agent.pk), "provider": "x' OR 1=1 --"}
    )
    assert response.status_code == 200
    assert response.context["form"].errors.keys() == {"agent", "provider"}
    assert panels(response)["utilization"]["totals"]["requests"] == 3  # type: ignore[index]


def test_htmx_refresh_returns_only_the_panel(world: World, fleet_a: Fleet) -> None:
    a_trace(fleet_a, new_trace_id(), timezone.now() - dt.timedelta(minutes=2))
    client = signed_in(world.a_member)
    response = client.get(portal(world), {"panel": "utilization"}, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in body and "<nav" not in body and "Provider availability" not in body
    assert 'data-total="requests">3<' in body
    assert "HX-Request" in response["Vary"]
    faults = client.get(portal(world), {"panel": "faults"}, HTTP_HX_REQUEST="true")
    assert "Provider availability" in faults.content.decode()
    assert 'data-total="requests"' not in faults.content.decode()
    # Without htmx (or for an unknown panel) the whole page.
    assert "<html" in client.get(portal(world), {"panel": "utilization"}).content.decode()
    other = client.get(portal(world), {"panel": "nope"}, HTTP_HX_REQUEST="true")
    assert "<html" in other.content.decode()


def test_panels_poll_without_piling_up(world: World) -> None:
    body = signed_in(world.a_member).get(portal(world)).content.decode()
    polls = re.findall(r'<div id="panel-(\w+)"[^>]*hx-trigger="([^"]+)" hx-sync="this:drop"', body)
    assert polls == [
        ("utilization", "every 10s"),
        ("faults", "every 10s"),
        ("operations", "every 30s"),
    ]


def test_empty_state_says_what_to_do(world: World) -> None:
    response = signed_in(world.a_member).get(portal(world))
    body = response.content.decode()
    assert "No agent activity in this time range yet" in body
    assert reverse("web:portal_sites", args=[world.a.slug]) in body
    assert "data-chart" not in body
    filtered = signed_in(world.a_member).get(portal(world), {"provider": "openai"})
    assert "Nothing matches these filters" in filtered.content.decode()


@pytest.mark.usefixtures("clickhouse_down")
def test_store_outage_keeps_the_page(world: World) -> None:
    response = signed_in(world.a_member).get(portal(world))
    assert response.status_code == 200
    assert "analytics store did not answer" in response.content.decode()
    assert panels(response)["operations"]["ok"] is True


# --- charts ---------------------------------------------------------------------------------


def test_chart_data_is_escaped_as_djangos_json_script_escapes_it() -> None:
    hostile = {
        "name": "</script><script>alert(1)</script>",
        "links": ["/traces/?provider=a&model=<b>", "ünïcode \"quotes\" and 'these'"],
        "y": [1.5, None, Decimal("0.25")],
    }
    written = chart_json(hostile, "chart-x")
    assert written == json_script(hostile, "chart-x")
    assert "</script><script>" not in written and "<b>" not in written
    body = re.fullmatch(r'<script id="chart-x" type="application/json">(.*)</script>', written)
    assert body is not None and json.loads(body[1])["name"] == hostile["name"]


def test_charts_are_data_blocks_whose_points_link_to_their_traces(
    world: World, fleet_a: Fleet
) -> None:
    now = timezone.now()
    trace_id = new_trace_id()
    start = (now - dt.timedelta(minutes=5)).replace(second=5)  # its spans in one minute
    a_trace(fleet_a, trace_id, start)
    client = signed_in(world.a_member)
    response = client.get(portal(world), {"range": "1h"})
    body = response.content.decode()
    # CSP script-src 'self': the only inline scripts are JSON data, never executed.
    for tag in re.findall(r"<script(?![^>]*\ssrc=)[^>]*>", body):
        assert 'type="application/json"' in tag, tag
    assert "/static/vendor/plotly-basic.min.js" in body and "/static/js/dashboards.js" in body
    chart = panels(response)["utilization"]["requests_chart"]
    [bars, line] = chart["traces"]  # type: ignore[index]
    assert sum(bars["y"]) == 3 and sum(line["y"]) == 1
    # every minute of the hour, its start and its traces given once for the chart
    assert len(chart["x"]) == len(chart["links"]) == len(bars["y"]) == 60  # type: ignore[arg-type]
    assert "x" not in bars and "customdata" not in bars
    index = bars["y"].index(3)
    link = chart["links"][index]  # type: ignore[index]
    query = parse_qs(urlsplit(link).query)
    since = dt.datetime.fromisoformat(query["since"][0])
    until = dt.datetime.fromisoformat(query["until"][0])
    assert until - since == dt.timedelta(minutes=1)
    assert since <= start < until
    listing = client.get(link)
    assert [row.trace_id for row in listing.context["rows"]] == [trace_id]
    assert "Showing traces that started from" in listing.content.decode()


def test_trace_list_window_filter(world: World, fleet_a: Fleet) -> None:
    now = timezone.now().replace(second=30, microsecond=0)
    inside, before = new_trace_id(), new_trace_id()
    a_trace(fleet_a, inside, now - dt.timedelta(hours=30))  # outside the default 24 h
    a_trace(fleet_a, before, now - dt.timedelta(hours=31))
    client = signed_in(world.a_member)
    base = reverse("web:portal_traces", args=[world.a.slug])
    start = (now - dt.timedelta(hours=30, minutes=1)).isoformat()
    end = (now - dt.timedelta(hours=29)).isoformat()
    rows = client.get(base, {"since": start, "until": end}).context["rows"]
    assert [row.trace_id for row in rows] == [inside]
    # Reversed or malformed windows fall back to the time range.
    for bad in ({"since": end, "until": start}, {"since": "yesterday", "until": end}):
        response = client.get(base, {**bad, "range": "7d"})
        assert {row.trace_id for row in response.context["rows"]} == {inside, before}


# --- operations -----------------------------------------------------------------------------


def _credential(tenant: object, name: str, age_days: int) -> ProviderCredential:
    provider = gateway.provider_create(
        actor=SYSTEM,
        tenant=tenant,  # type: ignore[arg-type]
        name=name,
        kind="openai",
        base_url="https://api.example.com/v1",
    )
    gateway.credential_set(actor=SYSTEM, provider=provider, secret=f"sk-test-{name}-abcd1234")
    with all_tenants_context():
        ProviderCredential.unscoped.filter(provider=provider).update(
            created_at=timezone.now() - dt.timedelta(days=age_days)
        )
        return ProviderCredential.unscoped.get(provider=provider)


def test_operations_versions_changes_and_credential_ages(
    world: World, fleet_a: Fleet, make_staff: Callable[..., User]
) -> None:
    with all_tenants_context():
        EdgeNode.unscoped.filter(pk=fleet_a.node.pk).update(
            heartbeat={"version": "0.0.9", "spool": {"records": 42}}, heartbeat_at=timezone.now()
        )
        ConfigChange.unscoped.create(
            tenant=world.a,
            site=fleet_a.site,
            version=7,
            previous_version=6,
            actor_kind="user",
            actor_label="ops@msp.example",
            summary="since v6: agents: 1 changed",
            diff={"sections": {"agents": {"changed": [{"key": "x"}]}}, "from_version": 6},
            payload_sha256="0" * 64,
        )
    _credential(world.a, "acme-fresh", 10)
    _credential(world.a, "acme-old", 120)
    _credential(None, "msp-shared", 200)
    _credential(world.b, "globex-own", 300)

    response = signed_in(world.a_member).get(portal(world))
    ops = panels(response)["operations"]
    [node] = ops["nodes"]  # type: ignore[misc]
    assert node.reported_version == "0.0.9" and node.expected_version == "0.1.0" and node.outdated
    assert [c.change.version for c in ops["changes"]] == [7]  # type: ignore[attr-defined]
    names = [(c.provider_name, c.overdue) for c in ops["credentials"]]  # type: ignore[attr-defined]
    assert names == [("acme-old", True), ("acme-fresh", False)]
    assert ops["msp_credentials"] == []
    body = response.content.decode()
    assert "ops@msp.example" in body and "msp-shared" not in body and "globex-own" not in body
    assert "42" in body  # the spool depth, in the utilization panel

    staff_ops = panels(signed_in(make_staff("auditor")).get(console(world)))["operations"]
    assert [c.provider_name for c in staff_ops["msp_credentials"]] == ["msp-shared"]  # type: ignore[attr-defined]
    assert [c.provider_name for c in staff_ops["credentials"]] == ["acme-old", "acme-fresh"]  # type: ignore[attr-defined]


def _dead_letter(fleet: Fleet, reason: str) -> None:
    dead_letters_record(
        node=fleet.node,
        after=0,
        upto=1,
        refusals=[Refusal(f'{{"note": "{reason}"}}'.encode(), DeadLetter.Store.LEDGER, reason)],
    )


def test_operations_lists_the_tenants_dead_letters_and_the_node_is_degraded(
    world: World, fleet_a: Fleet, fleet_b: Fleet, make_staff: Callable[..., User]
) -> None:
    _dead_letter(fleet_a, "CheckViolation: acme's refused row")
    _dead_letter(fleet_b, "CheckViolation: globex's refused row")
    with all_tenants_context():
        EdgeNode.unscoped.filter(pk__in=[fleet_a.node.pk, fleet_b.node.pk]).update(
            last_success_at=timezone.now()
        )

    member = signed_in(world.a_member).get(portal(world))
    staff = signed_in(make_staff("auditor")).get(console(world))
    for response in (member, staff):
        ops = panels(response)["operations"]
        assert [d.reason for d in ops["dead_letters"]] == ["CheckViolation: acme's refused row"]  # type: ignore[attr-defined]
        assert ops["dead_letter_total"] == 1
        [node] = ops["nodes"]  # type: ignore[misc]
        assert node.state == "degraded"
        body = response.content.decode()
        assert "acme&#x27;s refused row" in body and "globex" not in body
        assert "replay_dead_letters --tenant acme" in body
    other = signed_in(world.b_member).get(portal(world, world.b.slug)).content.decode()
    assert "globex&#x27;s refused row" in other and "acme&#x27;s" not in other


# --- fleet ----------------------------------------------------------------------------------


def test_fleet_lists_every_tenant_worst_first(
    world: World, fleet_a: Fleet, fleet_b: Fleet, make_staff: Callable[..., User]
) -> None:
    now = timezone.now()
    a_trace(fleet_a, new_trace_id(), now - dt.timedelta(minutes=3))  # 1 of 3 fails
    ok_spans(fleet_b, 5, now - dt.timedelta(minutes=3))
    client = signed_in(make_staff("auditor"))
    response = client.get(reverse("web:console_fleet"))
    rows = response.context["rows"]
    assert [r.tenant for r in rows] == [world.a, world.b]
    assert (rows[0].requests, rows[0].faults, rows[0].fault_rate_text) == (3, 1, "33.3 %")
    assert (rows[1].requests, rows[1].faults) == (5, 0)
    body = response.content.decode()
    assert reverse("web:console_dashboards", args=[world.a.slug]) in body

    # An edge node down puts a tenant without errors ahead of a quiet one.
    with all_tenants_context():
        EdgeNode.unscoped.filter(pk=fleet_b.node.pk).update(consecutive_failures=3)
    ordered = client.get(reverse("web:console_fleet"), {"range": "1h"}).context["rows"]
    assert [r.tenant for r in ordered] == [world.a, world.b]
    assert ordered[1].edges_down == 1

    fragment = client.get(
        reverse("web:console_fleet"), {"panel": "fleet", "range": "1h"}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "<html" not in fragment and world.a.name in fragment


def test_fleet_shows_trend_change_budget_burn_and_edges_and_sorts(
    world: World, fleet_a: Fleet, fleet_b: Fleet, make_staff: Callable[..., User]
) -> None:
    now = timezone.now()
    ok_spans(fleet_a, 2, now - dt.timedelta(hours=30))  # the 24 hours before
    ok_spans(fleet_a, 6, now - dt.timedelta(hours=2))
    ok_spans(fleet_b, 1, now - dt.timedelta(hours=1))
    budget_create(
        actor=SYSTEM,
        tenant=world.a,
        scope="tenant",
        period="month",
        limit=Decimal("10"),
        kind="soft",
    )
    client = signed_in(make_staff("operator"))
    response = client.get(reverse("web:console_fleet"), {"range": "24h"})
    rows = {r.tenant: r for r in response.context["rows"]}
    acme = rows[world.a]
    assert (acme.requests, acme.previous_requests, acme.requests_change) == (6, 2, "+200 %")
    assert rows[world.b].requests_change == "new"
    assert acme.spark and len(acme.spark.split()) == 48  # a point per 30 minutes
    assert acme.budget is not None and acme.budget.limit == "$10.00"
    assert rows[world.b].budget is None
    assert (acme.edges_up, acme.edges_late, acme.edges_down) == (0, 0, 0)  # never pulled
    body = response.content.decode()
    assert '<polyline points="' in body and "+200 %" in body and "of $10.00" in body

    by_requests = client.get(reverse("web:console_fleet"), {"range": "24h", "sort": "requests"})
    assert [r.tenant for r in by_requests.context["rows"]][:2] == [world.a, world.b]
    fewest = client.get(reverse("web:console_fleet"), {"range": "24h", "sort": "-requests"})
    assert [r.tenant for r in fewest.context["rows"]].index(world.b) < [
        r.tenant for r in fewest.context["rows"]
    ].index(world.a)
    assert "sort=requests" in by_requests.context["panel_url"]


def test_fleet_ranks_down_edges_among_tenants_without_errors(
    world: World, fleet_a: Fleet, fleet_b: Fleet
) -> None:
    now = timezone.now()
    ok_spans(fleet_a, 2, now - dt.timedelta(minutes=3))
    ok_spans(fleet_b, 1, now - dt.timedelta(minutes=3))
    with all_tenants_context():
        EdgeNode.unscoped.filter(pk=fleet_b.node.pk).update(consecutive_failures=1)
    window = dashboard_views.window_of("1h", now)
    rows = fleet.fleet_rows(window, now)
    assert [r.tenant for r in rows] == [world.b, world.a]


def test_window_buckets() -> None:
    now = dt.datetime(2026, 1, 1, 12, 7, 30, tzinfo=dt.UTC)
    window = dashboard_views.window_of("24h", now)
    assert window.until == dt.datetime(2026, 1, 1, 12, 15, tzinfo=dt.UTC)
    assert window.since == window.until - dt.timedelta(hours=24)
    assert window.bucket_seconds == 900
    assert dashboard_views.window_of("30d", now).bucket_seconds == 6 * 3600
    assert uuid.UUID(int=0)  # the rollup's "no department"


def test_panel_queries_treat_filter_values_as_values(world: World, fleet_a: Fleet) -> None:
    """Every panel query against the real store: a filter value full of SQL matches
    nothing and breaks nothing, and an unknown breakdown is refused."""
    now = timezone.now()
    a_trace(fleet_a, new_trace_id(), now - dt.timedelta(minutes=10))
    window = dashboard_views.window_of("24h", now)
    tenant_id = world.a.pk
    hostile = queries.Filters(provider="x' OR 1=1 --")

    def requests() -> int:
        return int(queries.usage_overview(tenant_id, window, queries.Filters()).totals["requests"])

    assert requests() > 0
    assert queries.usage_overview(tenant_id, window, hostile).totals["requests"] == 0
    for dimension in DIMENSIONS:
        assert queries.usage_by(tenant_id, window, hostile, dimension) == []
    for group in queries.breakdown_groups(window, hostile, DIMENSIONS):
        found = queries.breakdowns(tenant_id, window, hostile, group)
        assert not any(found.usage.values()) and not any(found.hotspots.values())
        assert not found.availability
    assert queries.provider_attempts(tenant_id, window, hostile) == []
    with pytest.raises(KeyError):
        queries.usage_by(tenant_id, window, hostile, "status; DROP TABLE spans")
    assert requests() > 0


def test_provider_availability_shows_failovers_and_breaker_trips(
    world: World, fleet_a: Fleet, fleet_b: Fleet
) -> None:
    """The gateway's attempts, read from its records: failures charged to the provider
    that failed, with the failover and the breaker trip, even when another one served."""

    def attempt(provider: str, status: str, tripped: bool = False) -> dict[str, object]:
        return {
            "provider_id": str(uuid.uuid4()),
            "provider": provider,
            "model": "gpt-4o-mini",
            "status": status,
            "breaker_tripped": tripped,
        }

    def served(fleet: Fleet, attempts: list[dict[str, object]], minutes: int) -> bytes:
        return span(
            fleet,
            trace_id=new_trace_id(),
            span_id=f"{minutes:016x}",
            kind="model",
            provider="backup",
            model="gpt-4o-mini",
            start=timezone.now() - dt.timedelta(minutes=minutes),
            attributes={"acp.gateway.attempts": attempts},
        )

    ingest(
        [
            served(
                fleet_a, [attempt("primary", "error", tripped=True), attempt("backup", "ok")], 3
            ),
            served(fleet_a, [attempt("primary", "timeout"), attempt("backup", "ok")], 4),
            served(fleet_a, [attempt("backup", "ok")], 5),
            served(
                fleet_b, [attempt("primary", "error", tripped=True), attempt("backup", "ok")], 3
            ),
        ]
    )

    response = signed_in(world.a_member).get(portal(world))
    rows = {p["provider"]: p for p in panels(response)["faults"]["providers"]}  # type: ignore[attr-defined]
    assert set(rows) == {"backup", "primary"}
    assert (rows["backup"]["requests"], rows["backup"]["success"]) == (3, "100.0 %")
    assert (rows["backup"]["failovers"], rows["backup"]["breaker_trips"]) == (0, 0)
    primary = rows["primary"]
    assert (primary["requests"], primary["faults"], primary["timeouts"]) == (2, 2, 1)
    assert (primary["success"], primary["failovers"], primary["breaker_trips"]) == ("0.0 %", 2, 1)
    assert 'data-breaker-trips="primary">1<' in response.content.decode()

    # A filter on another provider's name leaves the primary's attempts out.
    filtered = signed_in(world.a_member).get(portal(world), {"provider": "backup"})
    names = [p["provider"] for p in panels(filtered)["faults"]["providers"]]  # type: ignore[attr-defined]
    assert names == ["backup"]


def test_task_queue_depths_show_to_staff_only(
    world: World, make_staff: Callable[..., User]
) -> None:
    staff = signed_in(make_staff("auditor"))
    for response in (staff.get(reverse("web:console_fleet")), staff.get(console(world))):
        body = response.content.decode()
        for queue in ("default", "telemetry", "maintenance"):
            assert re.search(rf'data-queue="{queue}">\d+<', body), queue
    customer = signed_in(world.a_owner).get(portal(world)).content.decode()
    assert "data-queue=" not in customer and "Task queues" not in customer


def test_patch_levels_against_the_current_release() -> None:
    assert operations.patch_level("1.4.2", "1.4.2") == operations.CURRENT
    assert operations.patch_level("v1.4.1", "1.4.2") == operations.PATCH_BEHIND
    assert operations.patch_level("1.3.9", "1.4.2") == operations.MINOR_BEHIND
    assert operations.patch_level("0.9.9", "1.4.2") == operations.MAJOR_BEHIND
    assert operations.patch_level("1.5.0-rc1", "1.4.2") == operations.NEWER
    assert operations.patch_level("", "1.4.2") == operations.UNKNOWN
    assert operations.patch_level("nightly", "1.4.2") == operations.UNKNOWN


def test_deployment_history_lists_installs_upgrades_and_rollbacks(
    world: World, fleet_a: Fleet, fleet_b: Fleet
) -> None:
    start = timezone.now() - dt.timedelta(days=2)
    for hours, version in ((0, "0.0.8"), (1, "0.0.8"), (2, "0.0.9"), (3, "0.0.8")):
        edge_node_version_observe(
            node=fleet_a.node, version=version, at=start + dt.timedelta(hours=hours)
        )
    edge_node_version_observe(node=fleet_b.node, version="9.9.9", at=start)
    with all_tenants_context():
        EdgeNode.unscoped.filter(pk=fleet_a.node.pk).update(
            heartbeat={"version": "0.0.8"}, heartbeat_at=timezone.now()
        )

    response = signed_in(world.a_member).get(portal(world))
    ops = panels(response)["operations"]
    history = [(d.previous_version, d.version) for d in ops["deployments"]]  # type: ignore[attr-defined]
    assert history == [("0.0.9", "0.0.8"), ("0.0.8", "0.0.9"), ("", "0.0.8")]
    [node] = ops["nodes"]  # type: ignore[misc]
    assert node.patch_level == operations.patch_level("0.0.8")
    body = response.content.decode()
    assert f'data-patch-level="{fleet_a.node.name}">' in body
    assert "9.9.9" not in body  # the other tenant's node


def test_a_department_scoped_member_sees_only_their_departments_numbers(
    world: World, fleet_a: Fleet
) -> None:
    """fleet_a's spans have no department; three more are Finance's. Limited to Finance,
    a member's every panel counts those three only, for every range (each reads another
    rollup), and the agent filter offers no agent of another department."""
    now = timezone.now()
    a_trace(fleet_a, new_trace_id(), now - dt.timedelta(minutes=10))
    finance = str(world.a_department.pk)
    ingest(
        [
            span(
                fleet_a,
                trace_id=new_trace_id(),
                span_id=f"{i + 1:016x}",
                start=now - dt.timedelta(minutes=5),
                department_id=finance,
                kind="model",
                provider="openai",
                model="gpt-4o-mini",
                input_tokens=10,
            )
            for i in range(3)
        ]
    )
    membership_set_departments(
        actor=SYSTEM, membership=world.membership(world.a_member), departments=[world.a_department]
    )
    client = signed_in(world.a_member)
    for range_key in dashboard_views.RANGES:
        data = panels(client.get(portal(world), {"range": range_key}))
        totals = data["utilization"]["totals"]
        assert (totals["requests"], totals["input_tokens"]) == (3, 30), range_key  # type: ignore[index]
        assert data["faults"]["totals"]["faults"] == 0, range_key  # type: ignore[index]
        providers = data["faults"]["providers"]
        assert [(p["provider"], p["requests"]) for p in providers] == [("openai", 3)]  # type: ignore[attr-defined]
    form = client.get(portal(world)).context["form"]
    assert [value for value, _ in form.fields["agent"].choices] == [""]
    assert [value for value, _ in form.fields["department"].choices] == ["", finance]
    # An agent of no department of theirs is refused, and the panels stay theirs.
    refused = client.get(portal(world), {"agent": str(fleet_a.agent.pk)})
    assert "Select a valid choice" in refused.content.decode()
    assert panels(refused)["utilization"]["totals"]["requests"] == 3  # type: ignore[index]
    # The owner sees the whole tenant.
    whole = panels(signed_in(world.a_owner).get(portal(world)))["utilization"]["totals"]
    assert whole["requests"] == 6  # type: ignore[index]


def test_a_custom_range_of_whole_days_and_the_change_on_the_period_before(
    world: World, fleet_a: Fleet
) -> None:
    today = timezone.now().date()
    first = today - dt.timedelta(days=3)
    noon = dt.datetime.combine(first, dt.time(12), dt.UTC)
    ok_spans(fleet_a, 4, noon)  # in the range
    ok_spans(fleet_a, 2, noon - dt.timedelta(days=4))  # in the four days before
    ok_spans(fleet_a, 3, noon + dt.timedelta(days=5))  # after it
    client = signed_in(world.a_member)
    query = {
        "range": "24h",  # the dates win
        "since": first.isoformat(),
        "until": (first + dt.timedelta(days=3)).isoformat(),
    }
    response = client.get(portal(world), query)
    assert response.status_code == 200
    usage = response.context["panels"][0]["data"]
    assert usage["totals"]["requests"] == 4
    assert usage["changes"]["requests"] == "+100 %"
    assert response.context["range_label"] == f"From {first} to {first + dt.timedelta(days=3)}"
    assert response.context["ctx"].window.bucket_seconds == 3600
    assert "+100 % vs the period before" in response.content.decode()

    backwards = client.get(
        portal(world), {**query, "until": (first - dt.timedelta(days=1)).isoformat()}
    )
    assert "The last day comes before the first." in backwards.content.decode()
    missing = client.get(portal(world), {"since": first.isoformat()})
    assert "Give both dates, or neither to use the time range." in missing.content.decode()

"""Trace list and waterfall, read from ClickHouse, in the portal and the console.

chDB keeps its data for the whole test process, so every test uses fresh trace ids
(and its tenants are fresh rows with new ids): nothing one test writes shows up in
another's pages.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable

import pytest
from django.urls import reverse
from django.utils import timezone

from controlplane.accounts.models import User
from controlplane.web.formatting import (
    format_change,
    format_count,
    format_duration,
    format_money,
)
from controlplane.web.trace_views import pretty_body
from tests.conftest import signed_in
from tests.web.conftest import Fleet, World
from tests.web.telemetry import ingest, span

pytestmark = pytest.mark.django_db


def url(name: str, world: World, *args: object) -> str:
    return reverse(f"web:portal_{name}", args=[world.a.slug, *args])


def new_trace_id() -> str:
    return uuid.uuid4().hex


REQUEST = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})


def a_trace(fleet: Fleet, trace_id: str, start: dt.datetime, *, label: str = "") -> None:
    """A run with a model call and a failing tool call under it."""
    ingest(
        [
            span(
                fleet,
                trace_id=trace_id,
                span_id="1000000000000001",
                start=start,
                duration=dt.timedelta(seconds=2),
                name=f"{label}agent run",
            ),
            span(
                fleet,
                trace_id=trace_id,
                span_id="1000000000000002",
                parent_span_id="1000000000000001",
                start=start + dt.timedelta(milliseconds=100),
                duration=dt.timedelta(seconds=1),
                name=f"{label}chat gpt-4o-mini",
                kind="model",
                provider="openai",
                model="gpt-4o-mini",
                input_tokens=812,
                output_tokens=120,
                request_body=REQUEST,
                response_body="plain text answer",
            ),
            span(
                fleet,
                trace_id=trace_id,
                span_id="1000000000000003",
                parent_span_id="1000000000000001",
                start=start + dt.timedelta(milliseconds=1500),
                duration=dt.timedelta(milliseconds=300),
                name=f"{label}execute_tool erp.lookup",
                kind="tool",
                tool="erp.lookup",
                status="error",
                status_message="ERP answered 503",
            ),
        ]
    )


# --- list ---------------------------------------------------------------------------------


def test_trace_list_shows_the_tenants_traces_newest_first(
    world: World, fleet_a: Fleet, fleet_b: Fleet
) -> None:
    now = timezone.now()
    older, newer, shared, b_only = (new_trace_id() for _ in range(4))
    a_trace(fleet_a, older, now - dt.timedelta(minutes=20))
    a_trace(fleet_a, newer, now - dt.timedelta(minutes=5))
    a_trace(fleet_a, shared, now - dt.timedelta(minutes=10))
    # Tenant B: the same trace id as one of A's, and one of its own.
    a_trace(fleet_b, shared, now - dt.timedelta(minutes=1), label="globex-")
    a_trace(fleet_b, b_only, now - dt.timedelta(minutes=2), label="globex-")

    response = signed_in(world.a_member).get(url("traces", world))
    body = response.content.decode()
    assert response.status_code == 200
    assert [row.trace_id for row in response.context["rows"]] == [newer, shared, older]
    row = response.context["rows"][0]
    assert row.agent_name == fleet_a.agent.name
    assert row.root_name == "agent run"
    assert row.spans == 3
    assert (row.input_tokens, row.output_tokens) == (812, 120)
    assert row.cost == "$0.00019"
    assert row.status == "error"
    assert row.duration == "2.00 s"
    assert b_only not in body and "globex-" not in body and fleet_b.agent.name not in body
    assert url("trace", world, newer) in body


def test_trace_list_filters(world: World, fleet_a: Fleet) -> None:
    now = timezone.now()
    recent, old, ok_trace = new_trace_id(), new_trace_id(), new_trace_id()
    a_trace(fleet_a, recent, now - dt.timedelta(minutes=10))
    a_trace(fleet_a, old, now - dt.timedelta(hours=3))
    ingest([span(fleet_a, trace_id=ok_trace, span_id="2" * 16, start=now)])
    client = signed_in(world.a_member)

    def ids(**query: str) -> list[str]:
        response = client.get(url("traces", world), query)
        assert response.status_code == 200
        return [row.trace_id for row in response.context["rows"]]

    assert ids() == [ok_trace, recent, old]  # the last 24 hours unless told otherwise
    assert ids(range="1h") == [ok_trace, recent]
    assert ids(range="24h") == [ok_trace, recent, old]
    assert ids(range="24h", status="error") == [recent, old]
    assert ids(range="24h", status="ok") == [ok_trace]
    assert ids(agent=str(uuid.uuid4())) == []  # not one of the tenant's agents: invalid
    assert ids(agent=str(fleet_a.agent.pk), range="1h") == [ok_trace, recent]


def test_trace_list_of_another_tenants_agent_is_refused(
    world: World, fleet_a: Fleet, fleet_b: Fleet
) -> None:
    trace_id = new_trace_id()
    a_trace(fleet_b, trace_id, timezone.now())
    response = signed_in(world.a_owner).get(url("traces", world), {"agent": str(fleet_b.agent.pk)})
    assert response.status_code == 200
    assert response.context["rows"] == []
    assert "Select a valid choice" in response.content.decode()


def test_empty_trace_list_explains_how_to_get_data(world: World) -> None:
    body = signed_in(world.a_member).get(url("traces", world)).content.decode()
    assert "No traces in this time range yet" in body
    assert "issue a key" in body and "OTEL_EXPORTER_OTLP_ENDPOINT" in body


@pytest.mark.usefixtures("clickhouse_down")
def test_trace_store_outage_is_explained(world: World) -> None:
    response = signed_in(world.a_member).get(url("traces", world))
    assert response.status_code == 200
    assert "Traces cannot be loaded right now" in response.content.decode()


# --- one trace ----------------------------------------------------------------------------


def test_waterfall_shows_spans_with_tokens_cost_and_bodies(world: World, fleet_a: Fleet) -> None:
    trace_id = new_trace_id()
    a_trace(fleet_a, trace_id, timezone.now() - dt.timedelta(minutes=1))
    response = signed_in(world.a_member).get(url("trace", world, trace_id))
    body = response.content.decode()
    assert response.status_code == 200
    spans = response.context["trace"].spans
    assert [(s.name, s.depth) for s in spans] == [
        ("agent run", 0),
        ("chat gpt-4o-mini", 1),
        ("execute_tool erp.lookup", 1),
    ]
    root, model, tool = spans
    assert (root.bar_offset, root.bar_width) == ("0.000", "100.000")
    assert (model.bar_offset, model.bar_width) == ("5.000", "50.000")
    assert (tool.bar_offset, tool.bar_width) == ("75.000", "15.000")
    assert 'style="--offset:5.000;--width:50.000"' in body
    assert "openai / gpt-4o-mini" in body
    assert "812 / 120" in body
    assert "$0.00019" in body
    assert "erp.lookup" in body and "ERP answered 503" in body
    assert model.start_offset == "100 ms" and model.duration == "1.00 s"
    # JSON bodies are indented; others shown as they are
    assert "<summary>Request</summary>" in body
    assert "&quot;messages&quot;: [\n" in body
    assert "plain text answer" in body
    assert response.context["trace"].cost == "$0.00019"
    assert response.context["trace"].agent_names == [fleet_a.agent.name]


def test_trace_detail_is_the_tenants_own(world: World, fleet_a: Fleet, fleet_b: Fleet) -> None:
    shared, b_only = new_trace_id(), new_trace_id()
    now = timezone.now()
    a_trace(fleet_a, shared, now)
    a_trace(fleet_b, shared, now, label="globex-")
    a_trace(fleet_b, b_only, now, label="globex-")
    client = signed_in(world.a_owner)
    assert client.get(url("trace", world, b_only)).status_code == 404
    body = client.get(url("trace", world, shared)).content.decode()
    assert "agent run" in body and "globex-" not in body
    # B's owner sees B's spans under the same id
    b_body = signed_in(world.b_owner).get(reverse("web:portal_trace", args=[world.b.slug, shared]))
    assert "globex-agent run" in b_body.content.decode()


@pytest.mark.parametrize(
    "trace_id",
    [
        "ABCDEF0123456789ABCDEF0123456789",
        "abc",
        "0" * 33,
        "g" * 32,
        "0af7651916cd43dd8448eb21-c80319c",
    ],
)
def test_malformed_trace_id_is_404(world: World, trace_id: str) -> None:
    assert signed_in(world.a_member).get(url("trace", world, trace_id)).status_code == 404


def test_unknown_trace_is_404(world: World) -> None:
    assert signed_in(world.a_member).get(url("trace", world, new_trace_id())).status_code == 404


# --- console ------------------------------------------------------------------------------


def test_staff_read_a_tenants_traces_in_the_console(
    world: World, fleet_a: Fleet, fleet_b: Fleet, make_staff: Callable[..., User]
) -> None:
    trace_id, b_trace = new_trace_id(), new_trace_id()
    a_trace(fleet_a, trace_id, timezone.now())
    a_trace(fleet_b, b_trace, timezone.now(), label="globex-")
    client = signed_in(make_staff("auditor"))
    listing = client.get(reverse("web:console_traces", args=[world.a.slug]))
    assert [row.trace_id for row in listing.context["rows"]] == [trace_id]
    nav = [i["label"] for i in listing.context["nav_tenant_items"] if i["current"]]
    assert nav == ["Traces"]
    detail = client.get(reverse("web:console_trace", args=[world.a.slug, trace_id]))
    assert detail.status_code == 200 and "$0.00019" in detail.content.decode()
    other = client.get(reverse("web:console_trace", args=[world.a.slug, b_trace]))
    assert other.status_code == 404


# --- formatting ---------------------------------------------------------------------------


def test_formatting() -> None:
    from decimal import Decimal

    assert format_money(Decimal("0")) == "$0.00"
    assert format_money(Decimal("1.5")) == "$1.50"
    assert format_money(Decimal("0.409859")) == "$0.41"
    assert format_money(Decimal("1234567.005")) == "$1,234,567.01"
    assert format_money(Decimal("0.000193800")) == "$0.00019"
    assert format_money(Decimal("0.000000120")) == "$0.00000012"
    assert format_money(Decimal("-3"), "EUR") == "-€3.00"
    assert format_money(Decimal("10"), "CHF") == "CHF 10.00"
    assert format_count(183881) == "183,881"
    assert format_change(112, 100) == "+12 %" and format_change(92, 100) == "-8 %"
    assert format_change(38677, 100) == "387 times" and format_change(5, 0) == "new"
    assert format_duration(0.0004) == "<1 ms"
    assert format_duration(0.25) == "250 ms"
    assert format_duration(75) == "1 min 15 s"
    assert pretty_body('{"a":1}') == '{\n  "a": 1\n}'
    assert pretty_body("not json") == "not json"
    assert pretty_body("x" * 70000).endswith("(4464 more characters not shown)")


# --- totals and export ---------------------------------------------------------------------


def test_trace_list_totals_cover_every_page_of_the_search(
    world: World, fleet_a: Fleet, fleet_b: Fleet
) -> None:
    now = timezone.now()
    for minutes in (3, 6, 9):
        a_trace(fleet_a, new_trace_id(), now - dt.timedelta(minutes=minutes))
    ok_trace = new_trace_id()
    ingest([span(fleet_a, trace_id=ok_trace, span_id="2" * 16, start=now)])
    a_trace(fleet_b, new_trace_id(), now - dt.timedelta(minutes=2))  # another tenant
    client = signed_in(world.a_member)
    totals = client.get(url("traces", world)).context["totals"]
    assert totals == {
        "traces": 4,
        "spans": 10,
        "input_tokens": 3 * 812,
        "output_tokens": 3 * 120,
        "cost": "$0.00058",
        "not_ok": 3,
    }
    only_errors = client.get(url("traces", world), {"status": "error"})
    assert only_errors.context["totals"]["traces"] == 3
    assert "<strong>3</strong> traces" in only_errors.content.decode()


def test_trace_list_exports_the_search_as_csv(world: World, fleet_a: Fleet) -> None:
    now = timezone.now()
    failing, fine = new_trace_id(), new_trace_id()
    a_trace(fleet_a, failing, now - dt.timedelta(minutes=4), label="=HYPERLINK(1)")
    ingest([span(fleet_a, trace_id=fine, span_id="3" * 16, start=now)])
    client = signed_in(world.a_member)
    page = client.get(url("traces", world), {"status": "error"}).content.decode()
    assert "status=error&amp;export=csv" in page

    export = client.get(url("traces", world), {"status": "error", "export": "csv"})
    assert export["Content-Type"].startswith("text/csv")
    assert 'filename="traces-acme-' in export["Content-Disposition"]
    lines = export.content.decode().splitlines()
    assert lines[0].split(",")[:3] == ["trace_id", "started_at", "agent"]
    assert len(lines) == 2 and lines[1].startswith(failing)
    cells = lines[1].split(",")
    assert cells[4] == "'=HYPERLINK(1)agent run"  # never a formula in a spreadsheet
    assert cells[5:9] == ["3", "812", "120", "0.000193800"]
    assert cells[9] == "error"


def test_another_tenant_cannot_export_these_traces(world: World, fleet_a: Fleet) -> None:
    a_trace(fleet_a, new_trace_id(), timezone.now())
    outsider = signed_in(world.b_owner).get(url("traces", world), {"export": "csv"})
    assert outsider.status_code == 404

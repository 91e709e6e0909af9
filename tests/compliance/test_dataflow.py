"""The data-flow graph built from a tenant's spans in ClickHouse, and its SVG.

chDB keeps its data for the whole test process; every test's tenants are new rows with
new ids, so one test's spans never reach another's graph.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
import xml.etree.ElementTree as ET

import pytest
from django.utils import timezone

from compliance.dataflow import (
    DIRECT,
    EXTERNAL_CALL,
    GATEWAY,
    TELEMETRY,
    TOOL,
    Names,
    build_graph,
    canonical_json,
    content_hash,
    render_svg,
)
from compliance.selectors import dataflow_graph
from controlplane.agents.services import agent_create
from tests.compliance.traffic import find, send_traffic
from tests.conftest import SYSTEM
from tests.web.conftest import Fleet, World
from tests.web.telemetry import ingest, span

pytestmark = pytest.mark.django_db

SVG = "{http://www.w3.org/2000/svg}"


def window() -> tuple[dt.datetime, dt.datetime]:
    now = timezone.now()
    return now - dt.timedelta(hours=3), now + dt.timedelta(minutes=5)


def test_graph_has_the_tenants_nodes_volumes_and_data_classes(
    world: World, fleet_a: Fleet, fleet_b: Fleet
) -> None:
    finance_agent = agent_create(
        actor=SYSTEM,
        tenant=world.a,
        name="ledger-bot",
        device=fleet_a.device,
        department=world.a_department,
    )
    start = timezone.now() - dt.timedelta(hours=1)
    send_traffic(fleet_a, start)
    send_traffic(fleet_a, start + dt.timedelta(minutes=1))
    send_traffic(fleet_a, start, agent=finance_agent)
    send_traffic(fleet_b, start)
    ingest(  # A's, but before the range
        [
            span(
                fleet_a,
                trace_id="b" * 32,
                span_id="b" * 16,
                start=start - dt.timedelta(hours=5),
                kind="model",
                provider="mistral",
                model="too-old",
            )
        ]
    )

    since, until = window()
    graph = dataflow_graph(tenant=world.a, since=since, until=until)

    agent, edge = fleet_a.agent.name, fleet_a.node.name
    labels = {node.label for node in graph.nodes}
    assert labels == {
        agent,
        "ledger-bot",
        edge,
        "crm.search",
        "Control plane (ledger, traces)",
        "gpt-4o-mini",
        "claude-3-5-haiku",
        "crm.example.com",
        "api.weather.example",
    }
    assert [b.label for b in graph.boundaries] == [
        f"Customer site: {fleet_a.site.name}",
        "MSP: Agent Control Plane",
        "Provider: anthropic",
        "Provider: openai",
        "External systems",
    ]
    assert graph.spans == 21
    groups = {node.label: node.group for node in graph.nodes if node.kind == "agent"}
    assert groups == {agent: "No department", "ledger-bot": "Finance"}

    through_gateway = find(graph, agent, edge, GATEWAY)
    assert (through_gateway.requests, through_gateway.refused) == (4, 2)
    assert (through_gateway.input_tokens, through_gateway.output_tokens) == (200, 40)
    assert through_gateway.data_classes == {"pii", "finance"}
    to_openai = find(graph, edge, "gpt-4o-mini", GATEWAY)
    assert (to_openai.requests, to_openai.input_tokens, to_openai.output_tokens) == (3, 300, 60)
    assert to_openai.data_classes == {"pii"}
    # The agent's own span of a gateway call is not a second, direct call.
    assert not [f for f in graph.flows if f.channel == DIRECT and "gpt" in f.target]
    direct = find(graph, agent, "claude-3-5-haiku", DIRECT)
    assert (direct.requests, direct.input_tokens, direct.data_classes) == (2, 100, {"finance"})
    tool = find(graph, agent, "crm.search", TOOL)
    assert (tool.requests, tool.errors) == (2, 2)
    assert find(graph, "crm.search", "crm.example.com", EXTERNAL_CALL).requests == 3
    assert find(graph, agent, "api.weather.example", EXTERNAL_CALL).requests == 2
    assert find(graph, agent, edge, TELEMETRY).requests == 14
    assert find(graph, "ledger-bot", edge, TELEMETRY).requests == 7
    to_msp = find(graph, edge, "Control plane (ledger, traces)", TELEMETRY)
    assert to_msp.requests == 21 and to_msp.data_classes == {"pii", "finance"}
    text = canonical_json(graph) + render_svg(graph)
    assert "globex" not in text and fleet_b.agent.name not in text
    assert "mistral" not in text and "too-old" not in text


def test_graph_of_a_range_without_traffic_is_empty(world: World, fleet_a: Fleet) -> None:
    since, until = window()
    graph = dataflow_graph(tenant=world.a, since=since, until=until)
    assert graph.empty and graph.spans == 0
    document = ET.fromstring(render_svg(graph))
    assert "No traffic in this time range." in "".join(document.itertext())


def test_same_graph_gives_the_same_svg_bytes(world: World, fleet_a: Fleet) -> None:
    send_traffic(fleet_a, timezone.now() - dt.timedelta(minutes=30))
    since, until = window()
    first = dataflow_graph(tenant=world.a, since=since, until=until)
    again = dataflow_graph(tenant=world.a, since=since, until=until)
    assert render_svg(first) == render_svg(again)
    assert canonical_json(first) == canonical_json(again)
    svg = render_svg(first)
    assert content_hash(svg) == hashlib.sha256(svg.encode()).hexdigest()


HOSTILE = "<script>alert('x')</script> & \"quoted\" \x01\x1f end"


def test_svg_is_well_formed_and_escapes_hostile_names() -> None:
    agent_id, node_id, site_id = (
        "00000000-0000-0000-0000-00000000000a",
        "00000000-0000-0000-0000-00000000000b",
        "00000000-0000-0000-0000-00000000000c",
    )
    rows = [
        {
            "site_id": site_id,
            "edge_node_id": node_id,
            "department_id": "00000000-0000-0000-0000-000000000000",
            "agent_id": agent_id,
            "kind": "tool",
            "path": "",
            "provider": "",
            "model": "",
            "tool": "</text><script>alert(1)</script>",
            "host": 'evil.example"><script>',
            "spans": 3,
            "errors": 0,
            "refused": 0,
            "input_tokens": 0,
            "output_tokens": 0,
            "data_classes": ["<pii>"],
        },
        {
            "site_id": site_id,
            "edge_node_id": node_id,
            "department_id": "00000000-0000-0000-0000-000000000000",
            "agent_id": agent_id,
            "kind": "model",
            "path": "agent",
            "provider": "]]><x>",
            "model": HOSTILE,
            "tool": "",
            "host": "",
            "spans": 1,
            "errors": 0,
            "refused": 0,
            "input_tokens": 5,
            "output_tokens": 1,
            "data_classes": [],
        },
    ]
    names = Names(
        agents={agent_id: HOSTILE},
        departments={},
        sites={site_id: "Site & <HQ>"},
        edge_nodes={node_id: "edge'1"},
    )
    now = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    graph = build_graph(
        rows,
        names=names,
        tenant_name="Tenant <b>&</b>",
        tenant_slug="t",
        since=now - dt.timedelta(days=1),
        until=now,
    )
    svg = render_svg(graph)
    document = ET.fromstring(svg)  # raises on malformed XML
    assert document.tag == f"{SVG}svg"
    assert not [element for element in document.iter() if "script" in element.tag]
    assert not [element for element in document.iter() if element.tag.endswith("x")]
    titles = {element.text for element in document.iter(f"{SVG}title")}
    assert "<script>alert('x')</script> & \"quoted\" \ufffd\ufffd end" in titles
    assert "</text><script>alert(1)</script>" in titles
    text = "".join(document.itertext())
    assert "Site & <HQ>" in text and "Tenant <b>&</b>" in text
    assert "<script>" not in svg


def test_graph_does_not_depend_on_row_order(world: World, fleet_a: Fleet) -> None:
    send_traffic(fleet_a, timezone.now() - dt.timedelta(minutes=30))
    since, until = window()
    from compliance.dataflow_queries import flow_rows
    from compliance.selectors import dataflow_names

    rows = flow_rows(world.a.pk, since=since, until=until)
    names = dataflow_names(world.a)
    shuffled = list(rows)
    random.Random(3).shuffle(shuffled)

    def draw(found: list[dict[str, object]]) -> str:
        graph = build_graph(
            found, names=names, tenant_name="Acme", tenant_slug="acme", since=since, until=until
        )
        return render_svg(graph)

    assert draw(rows) == draw(shuffled)


def test_agent_span_above_its_http_hop_to_the_gateway_is_not_a_bypass(
    world: World, fleet_a: Fleet
) -> None:
    """GenAI client span -> HTTP client span (whose traceparent the gateway got) ->
    gateway span: one call, through the gateway, and the hop is not an external system."""
    trace_id, start = "c" * 32, timezone.now() - dt.timedelta(minutes=30)
    model = {"kind": "model", "provider": "openai", "model": "gpt-4o", "input_tokens": 7}
    ingest(
        [
            span(fleet_a, trace_id=trace_id, span_id="c000000000000001", start=start, **model),
            span(
                fleet_a,
                trace_id=trace_id,
                span_id="c000000000000002",
                parent_span_id="c000000000000001",
                start=start,
                name="POST",
                attributes={"url.full": "https://edge.acme.example:4318/v1/chat/completions"},
            ),
            span(
                fleet_a,
                trace_id=trace_id,
                span_id="c000000000000003",
                parent_span_id="c000000000000002",
                start=start,
                attributes={"acp.gateway.route": "r"},
                **model,
            ),
        ]
    )
    since, until = window()
    graph = dataflow_graph(tenant=world.a, since=since, until=until)
    assert {flow.channel for flow in graph.flows} == {GATEWAY, TELEMETRY}
    assert find(graph, fleet_a.node.name, "gpt-4o", GATEWAY).input_tokens == 7
    assert "edge.acme.example" not in {node.label for node in graph.nodes}


def test_a_span_pulled_twice_counts_once(world: World, fleet_a: Fleet) -> None:
    start = timezone.now() - dt.timedelta(minutes=30)
    line = span(
        fleet_a, trace_id="d" * 32, span_id="d" * 16, start=start, kind="tool", tool="erp.read"
    )
    ingest([line])
    ingest([line])  # a second batch, another dedup token: a second row until a merge
    since, until = window()
    graph = dataflow_graph(tenant=world.a, since=since, until=until)
    assert find(graph, fleet_a.agent.name, "erp.read", TOOL).requests == 1
    assert graph.spans == 1

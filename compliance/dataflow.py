"""The data-flow diagram of one tenant: a graph built from its traces, drawn as SVG.

Pure functions, no I/O: ``build_graph`` turns the aggregated span rows of
``compliance.dataflow_queries`` and the tenant's names into a ``Graph``; ``render_svg``
draws it. Both are deterministic (everything is sorted, the layout is fixed columns,
nothing reads the clock), so the same graph always gives the same SVG bytes and a
snapshot's hash can be checked by anyone who downloads it (docs/dataflow.md).

Trust boundaries are boxes: each customer site (its agents, its edge node, the tools
that run there), the MSP (the control plane that pulls telemetry from the edge), each
model provider, and external systems the agents' tools reach.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

GRAPH_VERSION = 1
ZERO_UUID = str(uuid.UUID(int=0))
NO_DEPARTMENT = "No department"
MSP_NODE = "msp:control-plane"

# Boundary kinds, in the order the diagram stacks them.
SITE, MSP, PROVIDER, EXTERNAL = "site", "msp", "provider", "external"

# What crosses an arrow. "direct" is a model call the gateway never saw.
GATEWAY, DIRECT, TOOL, EXTERNAL_CALL, TELEMETRY = (
    "gateway",
    "direct",
    "tool",
    "external",
    "telemetry",
)
CHANNELS = (GATEWAY, DIRECT, TOOL, EXTERNAL_CALL, TELEMETRY)
CHANNEL_LABELS = {
    GATEWAY: "model calls via the gateway",
    DIRECT: "model calls bypassing the gateway",
    TOOL: "tool calls",
    EXTERNAL_CALL: "calls to an external system",
    TELEMETRY: "telemetry (spans, bodies)",
}


@dataclass(frozen=True)
class Names:
    """Display names from PostgreSQL, by id as text."""

    agents: Mapping[str, str]
    departments: Mapping[str, str]
    sites: Mapping[str, str]
    edge_nodes: Mapping[str, str]


@dataclass(frozen=True)
class Boundary:
    id: str
    kind: str
    label: str


@dataclass(frozen=True)
class Node:
    id: str
    kind: str
    label: str
    boundary: str
    group: str = ""


@dataclass
class Flow:
    source: str
    target: str
    channel: str
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    errors: int = 0
    refused: int = 0
    data_classes: set[str] = field(default_factory=set)

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "target": self.target,
            "channel": self.channel,
            "requests": self.requests,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "errors": self.errors,
            "refused": self.refused,
            "data_classes": sorted(self.data_classes),
        }


@dataclass(frozen=True)
class Graph:
    tenant_name: str
    tenant_slug: str
    since: dt.datetime
    until: dt.datetime
    boundaries: tuple[Boundary, ...]
    nodes: tuple[Node, ...]
    """In drawing order: by boundary, then group, then label."""
    flows: tuple[Flow, ...]
    """Numbered in this order on the diagram, from 1."""
    spans: int
    truncated: bool = False

    @property
    def empty(self) -> bool:
        return not self.flows

    def node(self, node_id: str) -> Node:
        return self._by_id[node_id]

    @functools.cached_property
    def _by_id(self) -> dict[str, Node]:
        return {node.id: node for node in self.nodes}

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": GRAPH_VERSION,
            "tenant": {"name": self.tenant_name, "slug": self.tenant_slug},
            "since": _iso(self.since),
            "until": _iso(self.until),
            "spans": self.spans,
            "truncated": self.truncated,
            "boundaries": [{"id": b.id, "kind": b.kind, "label": b.label} for b in self.boundaries],
            "nodes": [
                {
                    "id": n.id,
                    "kind": n.kind,
                    "label": n.label,
                    "boundary": n.boundary,
                    "group": n.group,
                }
                for n in self.nodes
            ],
            "flows": [flow.as_dict() for flow in self.flows],
        }


def canonical_json(graph: Graph) -> str:
    """The graph as stored with a snapshot: sorted keys, no whitespace."""
    return json.dumps(graph.as_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def content_hash(svg: str) -> str:
    """What a snapshot's hash is: SHA-256 of the SVG file's bytes (UTF-8), so
    ``sha256sum`` of the downloaded file shows the same value."""
    return hashlib.sha256(svg.encode("utf-8")).hexdigest()


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat()


# --- building the graph -----------------------------------------------------------------


class _Builder:
    def __init__(self, names: Names, *, group_agents: bool = False) -> None:
        self.names = names
        self.group_agents = group_agents
        self.boundaries: dict[str, Boundary] = {}
        self.nodes: dict[str, Node] = {}
        self.flows: dict[tuple[str, str, str], Flow] = {}
        self.members: dict[str, set[str]] = {}  # a department's node: the agents in it

    def boundary(self, boundary_id: str, kind: str, label: str) -> str:
        self.boundaries.setdefault(boundary_id, Boundary(boundary_id, kind, label))
        return boundary_id

    def node(self, node_id: str, kind: str, label: str, boundary: str, group: str = "") -> str:
        self.nodes.setdefault(node_id, Node(node_id, kind, label, boundary, group))
        return node_id

    def flow(self, source: str, target: str, channel: str, row: Mapping[str, Any]) -> None:
        flow = self.flows.setdefault((source, target, channel), Flow(source, target, channel))
        flow.requests += int(row.get("spans") or 0)
        if channel != TELEMETRY:  # a failed call is still a delivered span
            flow.errors += int(row.get("errors") or 0)
            flow.refused += int(row.get("refused") or 0)
            flow.input_tokens += int(row.get("input_tokens") or 0)
            flow.output_tokens += int(row.get("output_tokens") or 0)
        flow.data_classes.update(str(c) for c in row.get("data_classes") or [] if str(c))

    def site(self, site_id: str) -> str:
        if site_id == ZERO_UUID:
            label = "Customer site (not registered)"
        else:
            label = f"Customer site: {self.names.sites.get(site_id) or _unknown('site', site_id)}"
        return self.boundary(f"site:{site_id}", SITE, label)

    def add(self, row: Mapping[str, Any]) -> None:
        site_id = str(row["site_id"])
        site = self.site(site_id)
        agent_id, node_id = str(row["agent_id"]), str(row["edge_node_id"])
        department_id = str(row.get("department_id") or ZERO_UUID)
        department = (
            NO_DEPARTMENT
            if department_id == ZERO_UUID
            else self.names.departments.get(department_id) or _unknown("department", department_id)
        )
        if self.group_agents:  # one node per department and site, with its agents counted
            agent = self.node(f"agents:{site_id}:{department_id}", "agent", "", site, department)
            self.members.setdefault(agent, set()).add(agent_id)
        else:  # an agent that changed department in the range is drawn once under each
            agent = self.node(
                f"agent:{site_id}:{department_id}:{agent_id}",
                "agent",
                self.names.agents.get(agent_id) or _unknown("agent", agent_id),
                site,
                department,
            )
        edge = self.node(
            f"edge:{node_id}",
            "edge",
            self.names.edge_nodes.get(node_id) or _unknown("edge node", node_id),
            site,
        )
        msp = self.boundary("msp", MSP, "MSP: Agent Control Plane")
        control_plane = self.node(MSP_NODE, "msp", "Control plane (ledger, traces)", msp)
        self.flow(agent, edge, TELEMETRY, row)
        self.flow(edge, control_plane, TELEMETRY, row)

        kind, path = str(row.get("kind") or ""), str(row.get("path") or "")
        host = str(row.get("host") or "")
        if kind == "model":
            if path == "gateway":
                self.flow(agent, edge, GATEWAY, row)
                if row.get("provider"):
                    self.flow(edge, self.model(row), GATEWAY, row)
            elif path == "agent":
                self.flow(agent, self.model(row), DIRECT, row)
        elif kind == "tool":
            tool_name = str(row.get("tool") or "") or "(unnamed tool)"
            tool = self.node(f"tool:{site_id}:{tool_name}", "tool", tool_name, site)
            self.flow(agent, tool, TOOL, row)
            if host:
                self.flow(tool, self.external(host), EXTERNAL_CALL, row)
        elif host:
            self.flow(agent, self.external(host), EXTERNAL_CALL, row)

    def named_groups(self) -> None:
        """Label each department's node with how many agents it stands for."""
        for node_id, agents in self.members.items():
            node = self.nodes[node_id]
            label = f"{len(agents)} agent{'' if len(agents) == 1 else 's'}"
            self.nodes[node_id] = Node(node.id, node.kind, label, node.boundary, node.group)

    def model(self, row: Mapping[str, Any]) -> str:
        provider = str(row.get("provider") or "") or "unknown provider"
        model = str(row.get("model") or "") or "(model not reported)"
        boundary = self.boundary(f"provider:{provider}", PROVIDER, f"Provider: {provider}")
        return self.node(f"model:{provider}:{model}", "model", model, boundary)

    def external(self, host: str) -> str:
        boundary = self.boundary("external", EXTERNAL, "External systems")
        return self.node(f"external:{host}", "external", host, boundary)


def _unknown(what: str, key: str) -> str:
    return f"unknown {what} {key[:8]}"


def _department_key(group: str) -> tuple[int, str]:
    return (1 if group == NO_DEPARTMENT else 0, group)


_NODE_KIND_ORDER = {"agent": 0, "edge": 1, "tool": 2, "msp": 3, "model": 4, "external": 5}
_BOUNDARY_KIND_ORDER = {SITE: 0, MSP: 1, PROVIDER: 2, EXTERNAL: 3}


def build_graph(
    rows: Iterable[Mapping[str, Any]],
    *,
    names: Names,
    tenant_name: str,
    tenant_slug: str,
    since: dt.datetime,
    until: dt.datetime,
    truncated: bool = False,
    group_agents: bool = False,
) -> Graph:
    """The graph of ``rows`` (``dataflow_queries.flow_rows``), everything sorted. With
    ``group_agents`` each department of a site is one node for all its agents, which
    keeps a site of fifty agents readable."""
    builder = _Builder(names, group_agents=group_agents)
    spans = 0
    for row in rows:
        builder.add(row)
        spans += int(row.get("spans") or 0)
    builder.named_groups()
    boundaries = sorted(
        builder.boundaries.values(),
        key=lambda b: (_BOUNDARY_KIND_ORDER[b.kind], b.label, b.id),
    )
    boundary_rank = {b.id: index for index, b in enumerate(boundaries)}
    nodes = sorted(
        builder.nodes.values(),
        key=lambda n: (
            boundary_rank[n.boundary],
            _NODE_KIND_ORDER[n.kind],
            _department_key(n.group),
            n.label,
            n.id,
        ),
    )
    node_rank = {n.id: index for index, n in enumerate(nodes)}
    flows = sorted(
        builder.flows.values(),
        key=lambda f: (node_rank[f.source], node_rank[f.target], CHANNELS.index(f.channel)),
    )
    return Graph(
        tenant_name=tenant_name,
        tenant_slug=tenant_slug,
        since=since.astimezone(dt.UTC),
        until=until.astimezone(dt.UTC),
        boundaries=tuple(boundaries),
        nodes=tuple(nodes),
        flows=tuple(flows),
        spans=spans,
        truncated=truncated,
    )


# --- drawing -----------------------------------------------------------------------------

MARGIN = 24
HEADER_HEIGHT = 86
NODE_WIDTH, NODE_HEIGHT, NODE_GAP = 220, 34, 10
PAD, BOX_HEADER, GROUP_HEADER, BOX_GAP = 16, 28, 18, 24
COLUMN_GAP, REGION_GAP = 90, 170
SITE_WIDTH = 2 * PAD + 2 * NODE_WIDTH + COLUMN_GAP
RIGHT_X = MARGIN + SITE_WIDTH + REGION_GAP
RIGHT_WIDTH = 2 * PAD + NODE_WIDTH
WIDTH = RIGHT_X + RIGHT_WIDTH + MARGIN
LEGEND_ROW = 18
LEGEND_COLUMNS = (  # (heading, x, characters that fit)
    ("#", MARGIN, 4),
    ("From", MARGIN + 32, 26),
    ("To", MARGIN + 202, 26),
    ("What crosses", MARGIN + 372, 34),
    ("Volume", MARGIN + 588, 48),
    ("Data classes", MARGIN + 880, 20),
)
FONT = 'font-family="Helvetica, Arial, sans-serif"'

BOUNDARY_STYLE = {  # stroke, fill
    SITE: ("#2563eb", "#eff6ff"),
    MSP: ("#7c3aed", "#f5f3ff"),
    PROVIDER: ("#c2410c", "#fff7ed"),
    EXTERNAL: ("#b91c1c", "#fef2f2"),
}
NODE_FILL = {
    "agent": "#ffffff",
    "edge": "#dbeafe",
    "tool": "#ecfdf5",
    "msp": "#ede9fe",
    "model": "#ffedd5",
    "external": "#fee2e2",
}
CHANNEL_STYLE = {  # stroke, dash
    GATEWAY: ("#2563eb", ""),
    DIRECT: ("#dc2626", ""),
    TOOL: ("#059669", ""),
    EXTERNAL_CALL: ("#b91c1c", ""),
    TELEMETRY: ("#7c3aed", "6 4"),
}

# Characters XML 1.0 forbids even escaped; a name carrying one would break the file.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def xml_text(value: object) -> str:
    """``value`` as XML character data or attribute value: escaped, forbidden
    characters replaced, never invalid UTF-8."""
    text = str(value).encode("utf-8", "replace").decode("utf-8")
    text = _NOT_XML.sub("\ufffd", text)
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&apos;")
    )


def _fit(text: str, characters: int) -> str:
    return text if len(text) <= characters else text[: characters - 1] + "…"


def _number(value: int) -> str:
    return f"{value:,}"


def _count(value: int, unit: str) -> str:
    return f"{_number(value)} {unit}{'' if value == 1 else 's'}"


def volume_text(flow: Flow) -> str:
    """``12 calls, 3,400 in / 560 out tokens (1 failed, 2 refused)``."""
    text = _count(flow.requests, "span" if flow.channel == TELEMETRY else "call")
    if flow.channel != TELEMETRY and (flow.input_tokens or flow.output_tokens):
        text += f", {_number(flow.input_tokens)} in / {_number(flow.output_tokens)} out tokens"
    problems = []
    if flow.errors:
        problems.append(f"{_number(flow.errors)} failed")
    if flow.refused:
        problems.append(f"{_number(flow.refused)} refused")
    return text + (f" ({', '.join(problems)})" if problems else "")


@dataclass(frozen=True)
class _Box:
    boundary: Boundary
    x: int
    y: int
    width: int
    height: int


@dataclass(frozen=True)
class _Place:
    x: int
    y: int


@dataclass(frozen=True)
class _Heading:
    text: str
    x: int
    y: int


@dataclass
class _Layout:
    boxes: list[_Box] = field(default_factory=list)
    places: dict[str, _Place] = field(default_factory=dict)
    headings: list[_Heading] = field(default_factory=list)
    height: int = 0


def _layout(graph: Graph) -> _Layout:
    layout = _Layout()
    by_boundary: dict[str, list[Node]] = {}
    for node in graph.nodes:
        by_boundary.setdefault(node.boundary, []).append(node)
    top = MARGIN + HEADER_HEIGHT
    left_y = right_y = top
    for boundary in graph.boundaries:
        members = by_boundary.get(boundary.id, [])
        if boundary.kind == SITE:
            box_x = MARGIN
            columns = [
                [n for n in members if n.kind == "agent"],
                [n for n in members if n.kind != "agent"],
            ]
            bottom = left_y + BOX_HEADER
            for index, column in enumerate(columns):
                x = box_x + PAD + index * (NODE_WIDTH + COLUMN_GAP)
                y, group = left_y + BOX_HEADER, None
                for node in column:
                    if node.kind == "agent" and node.group != group:
                        group = node.group
                        layout.headings.append(_Heading(group, x, y + 12))
                        y += GROUP_HEADER
                    layout.places[node.id] = _Place(x, y)
                    y += NODE_HEIGHT + NODE_GAP
                bottom = max(bottom, y)
            height = bottom - left_y - NODE_GAP + PAD
            layout.boxes.append(_Box(boundary, box_x, left_y, SITE_WIDTH, height))
            left_y += height + BOX_GAP
        else:
            y = right_y + BOX_HEADER
            for node in members:
                layout.places[node.id] = _Place(RIGHT_X + PAD, y)
                y += NODE_HEIGHT + NODE_GAP
            height = y - right_y - NODE_GAP + PAD
            layout.boxes.append(_Box(boundary, RIGHT_X, right_y, RIGHT_WIDTH, height))
            right_y += height + BOX_GAP
    layout.height = max(left_y, right_y, top + 40)
    return layout


@dataclass(frozen=True)
class _Route:
    """Where a flow leaves its source and enters its target, and where its number goes
    (a fraction of the way along; flows between the same two nodes are staggered)."""

    start: tuple[float, float]
    end: tuple[float, float]
    badge_at: float


def _routes(graph: Graph, layout: _Layout) -> list[_Route]:
    """Each node spreads its outgoing flows over its right edge and its incoming flows
    over its left edge, ordered by the other end's height, so arrows do not share a
    point and cross less."""
    outgoing: dict[str, list[int]] = {}
    incoming: dict[str, list[int]] = {}
    pairs: dict[tuple[str, str], list[int]] = {}
    for index, flow in enumerate(graph.flows):
        outgoing.setdefault(flow.source, []).append(index)
        incoming.setdefault(flow.target, []).append(index)
        pairs.setdefault((flow.source, flow.target), []).append(index)

    def spread(groups: dict[str, list[int]], other_end: str) -> dict[int, float]:
        heights = {}
        for node_id, indexes in groups.items():
            place = layout.places[node_id]
            indexes.sort(key=lambda i: (layout.places[getattr(graph.flows[i], other_end)].y, i))
            for rank, index in enumerate(indexes, start=1):
                heights[index] = place.y + NODE_HEIGHT * rank / (len(indexes) + 1)
        return heights

    out_y, in_y = spread(outgoing, "target"), spread(incoming, "source")
    badge_at = {}
    for indexes in pairs.values():
        for rank, index in enumerate(indexes, start=1):
            badge_at[index] = rank / (len(indexes) + 1)
    routes = []
    for index, flow in enumerate(graph.flows):
        start, end = layout.places[flow.source], layout.places[flow.target]
        routes.append(
            _Route(
                start=(start.x + NODE_WIDTH, out_y[index]),
                end=(end.x, in_y[index]),
                badge_at=badge_at[index],
            )
        )
    return routes


def _curve(route: _Route) -> tuple[str, tuple[float, float]]:
    """A left-to-right cubic between the route's ends, and the point where its number
    goes."""
    (x1, y1), (x2, y2) = route.start, route.end
    bend = max(40.0, (x2 - x1) / 2)
    c1x, c2x = x1 + bend, x2 - bend
    path = f"M{x1:.1f},{y1:.1f} C{c1x:.1f},{y1:.1f} {c2x:.1f},{y2:.1f} {x2:.1f},{y2:.1f}"
    t = route.badge_at
    weights = ((1 - t) ** 3, 3 * (1 - t) ** 2 * t, 3 * (1 - t) * t**2, t**3)
    x = sum(w * v for w, v in zip(weights, (x1, c1x, c2x, x2), strict=True))
    y = sum(w * v for w, v in zip(weights, (y1, y1, y2, y2), strict=True))
    return path, (x, y)


def _text(x: float, y: float, text: str, *, size: int = 12, extra: str = "") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" {FONT} font-size="{size}"'
        f"{' ' + extra if extra else ''}>{xml_text(text)}</text>"
    )


def render_svg(graph: Graph, *, legend: bool = True) -> str:
    """The diagram as a standalone SVG document (no XML declaration: UTF-8 is the
    default). Without ``legend`` (the page, whose table of flows is the legend) it ends
    below the diagram. Arrows and nodes carry ``data-flow``/``data-node`` attributes for
    the page to highlight a path."""
    layout = _layout(graph)
    legend_top = layout.height + 16
    rows = len(graph.flows) or 1
    height = legend_top + 40 + rows * LEGEND_ROW + MARGIN if legend else layout.height + MARGIN
    out: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" role="img" aria-labelledby="dataflow-title">',
        f'<title id="dataflow-title">{xml_text(_title(graph))}</title>',
        "<defs>",
    ]
    for channel in CHANNELS:
        color = CHANNEL_STYLE[channel][0]
        out.append(
            f'<marker id="arrow-{channel}" viewBox="0 0 10 10" refX="10" refY="5" '
            f'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
            f'<path d="M0,0 L10,5 L0,10 z" fill="{color}"/></marker>'
        )
    out.append("</defs>")
    out.append(f'<rect x="0" y="0" width="{WIDTH}" height="{height}" fill="#ffffff"/>')
    out += _header(graph)
    for box in layout.boxes:
        stroke, fill = BOUNDARY_STYLE[box.boundary.kind]
        out.append(
            f'<rect x="{box.x}" y="{box.y}" width="{box.width}" height="{box.height}" rx="8" '
            f'fill="{fill}" stroke="{stroke}" stroke-width="1.5" stroke-dasharray="8 4"/>'
        )
        out.append(
            _text(
                box.x + 10,
                box.y + 18,
                _fit(box.boundary.label, 70 if box.boundary.kind == SITE else 34),
                size=13,
                extra=f'font-weight="bold" fill="{stroke}"',
            )
        )
    for heading in layout.headings:
        out.append(
            _text(heading.x, heading.y, _fit(heading.text, 34), size=11, extra='fill="#475569"')
        )
    badges: list[str] = []
    for number, (flow, route) in enumerate(
        zip(graph.flows, _routes(graph, layout), strict=True), 1
    ):
        arrow, badge = _arrow(number, flow, route)
        out.append(arrow)
        badges += badge
    for node in graph.nodes:
        place = layout.places[node.id]
        title = f"{node.group}: {node.label}" if node.group else node.label
        out.append(
            f'<g data-node="{xml_text(node.id)}"><title>{xml_text(title)}</title>'
            f'<rect x="{place.x}" y="{place.y}" width="{NODE_WIDTH}" height="{NODE_HEIGHT}" rx="5" '
            f'fill="{NODE_FILL[node.kind]}" stroke="#334155" stroke-width="1"/>'
            + _text(place.x + 10, place.y + 21, _fit(node.label, 31))
            + "</g>"
        )
    out += badges  # over the nodes an arrow passes under
    if legend:
        out += _legend(graph, legend_top)
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _title(graph: Graph) -> str:
    return f"Data flow of {graph.tenant_name}"


def _header(graph: Graph) -> list[str]:
    since = graph.since.strftime("%Y-%m-%d %H:%M")
    until = graph.until.strftime("%Y-%m-%d %H:%M")
    lines = [
        _text(MARGIN, MARGIN + 16, _fit(_title(graph), 90), size=18, extra='font-weight="bold"'),
        _text(
            MARGIN,
            MARGIN + 38,
            f"{since} to {until} UTC · {_number(graph.spans)} span records · "
            "generated from traces by Agent Control Plane",
            extra='fill="#334155"',
        ),
    ]
    x = MARGIN
    for kind, label in (
        (SITE, "customer site"),
        (MSP, "MSP"),
        (PROVIDER, "model provider"),
        (EXTERNAL, "external systems"),
    ):
        stroke, fill = BOUNDARY_STYLE[kind]
        lines.append(
            f'<rect x="{x}" y="{MARGIN + 50}" width="14" height="10" fill="{fill}" '
            f'stroke="{stroke}" stroke-dasharray="3 2"/>'
        )
        text = f"{label} (trust boundary)"
        lines.append(_text(x + 20, MARGIN + 59, text, size=11))
        x += 44 + 6 * len(text)
    if graph.truncated:
        lines.append(
            _text(
                MARGIN,
                MARGIN + 78,
                "Too many distinct flows: only the first ones are drawn; narrow the range.",
                size=11,
                extra='fill="#b91c1c"',
            )
        )
    elif graph.empty:
        lines.append(_text(MARGIN, MARGIN + 78, "No traffic in this time range.", size=12))
    return lines


def _arrow(number: int, flow: Flow, route: _Route) -> tuple[str, list[str]]:
    """The flow's arrow and its numbered badge."""
    color, dash = CHANNEL_STYLE[flow.channel]
    path, (mx, my) = _curve(route)
    dashing = f' stroke-dasharray="{dash}"' if dash else ""
    ends = f'data-flow="{number}" data-source="{xml_text(flow.source)}" ' + (
        f'data-target="{xml_text(flow.target)}"'
    )
    arrow = (
        f'<path {ends} d="{path}" fill="none" stroke="{color}" stroke-width="1.6"{dashing} '
        f'marker-end="url(#arrow-{flow.channel})"/>'
    )
    return arrow, [
        f'<g {ends}><circle cx="{mx:.1f}" cy="{my:.1f}" r="9" fill="#ffffff" stroke="{color}"/>'
        + _text(mx, my + 4, str(number), size=10, extra=f'text-anchor="middle" fill="{color}"')
        + "</g>",
    ]


def _legend(graph: Graph, top: int) -> list[str]:
    lines = [_text(MARGIN, top + 10, "Flows", size=14, extra='font-weight="bold"')]
    header_y = top + 30
    for heading, x, _ in LEGEND_COLUMNS:
        lines.append(_text(x, header_y, heading, size=11, extra='font-weight="bold"'))
    if graph.empty:
        lines.append(_text(MARGIN, header_y + LEGEND_ROW, "None.", size=11))
        return lines
    for number, flow in enumerate(graph.flows, start=1):
        y = header_y + number * LEGEND_ROW
        cells = (
            str(number),
            graph.node(flow.source).label,
            graph.node(flow.target).label,
            CHANNEL_LABELS[flow.channel],
            volume_text(flow),
            ", ".join(sorted(flow.data_classes)) or "none recorded",
        )
        for (_, x, fits), cell in zip(LEGEND_COLUMNS, cells, strict=True):
            lines.append(_text(x, y, _fit(cell, fits), size=11))
    return lines


# --- the table under the diagram ----------------------------------------------------------


@dataclass(frozen=True)
class FlowRow:
    number: int
    source: str
    source_boundary: str
    target: str
    target_boundary: str
    crosses_boundary: bool
    what: str
    channel: str
    volume: str
    data_classes: str


def flow_table(doc: Mapping[str, Any]) -> list[FlowRow]:
    """The numbered flows of a graph (``Graph.as_dict()`` or a snapshot's stored graph),
    as the diagram's legend lists them."""
    nodes = {node["id"]: node for node in doc.get("nodes", [])}
    boundaries = {b["id"]: b["label"] for b in doc.get("boundaries", [])}
    rows = []
    for number, item in enumerate(doc.get("flows", []), start=1):
        flow = Flow(
            source=item["source"],
            target=item["target"],
            channel=item["channel"],
            requests=int(item["requests"]),
            input_tokens=int(item["input_tokens"]),
            output_tokens=int(item["output_tokens"]),
            errors=int(item["errors"]),
            refused=int(item["refused"]),
            data_classes=set(item["data_classes"]),
        )
        source, target = nodes[flow.source], nodes[flow.target]
        rows.append(
            FlowRow(
                number=number,
                source=source["label"],
                source_boundary=boundaries.get(source["boundary"], ""),
                target=target["label"],
                target_boundary=boundaries.get(target["boundary"], ""),
                crosses_boundary=source["boundary"] != target["boundary"],
                what=CHANNEL_LABELS.get(flow.channel, flow.channel),
                channel=flow.channel,
                volume=volume_text(flow),
                data_classes=", ".join(sorted(flow.data_classes)),
            )
        )
    return rows

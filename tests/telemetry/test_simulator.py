"""The demo's simulated agents: their traces read like real agent traffic."""

from __future__ import annotations

import random

from controlplane.telemetry.simulator import (
    TOOL_HOSTS,
    TOOLS_BY_ROLE,
    SimulatedAgent,
    TraceFactory,
)


def _attributes(span: object) -> dict[str, object]:
    return {kv.key: kv.value.string_value or kv.value.int_value for kv in span.attributes}  # type: ignore[attr-defined]


def test_tool_calls_to_outside_systems_name_the_host() -> None:
    factory = TraceFactory(random.Random(7), error_rate=0, timeout_rate=0)
    agent = SimulatedAgent(name="mkt-1", role="marketing", headers={}, endpoint="")
    tool_spans = [
        _attributes(span)
        for _ in range(50)
        for span in factory.trace(agent, start_ns=1_700_000_000_000_000_000)
        if span.name.startswith("execute_tool")
    ]
    assert {a["gen_ai.tool.name"] for a in tool_spans} <= set(TOOLS_BY_ROLE["marketing"])
    external = [a for a in tool_spans if a["gen_ai.tool.name"] in TOOL_HOSTS]
    internal = [a for a in tool_spans if a["gen_ai.tool.name"] not in TOOL_HOSTS]
    assert external and internal
    assert all(a["server.address"] == TOOL_HOSTS[str(a["gen_ai.tool.name"])] for a in external)
    assert all("server.address" not in a for a in internal)

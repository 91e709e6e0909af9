"""An OTLP trace request → spool records: whose spans they are (one agent, or a site
collector's many: edge/collector.py), and, for a residency tenant, the bodies kept apart
(edge/residency.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from edge import collector
from edge.auth import Principal
from edge.collector import Collector
from edge.otlp import attributes, span_record
from edge.residency import KeptBodies, keep
from edge.storable import storable_json

MAX_NAMED = 5
"""Unknown agents named in a partial-success message."""


@dataclass
class Intake:
    records: list[tuple[str, bytes]] = field(default_factory=list)
    """``(event_id, record JSON)`` for the spool."""
    bodies: list[KeptBodies] = field(default_factory=list)
    refused_spans: int = 0
    refused_agents: list[str] = field(default_factory=list)

    def refusal(self) -> str:
        """The partial-success message: how many spans, and for which agents."""
        named = ", ".join(self.refused_agents[:MAX_NAMED])
        more = len(self.refused_agents) - MAX_NAMED
        if more > 0:
            named += f" and {more} more"
        return (
            f"{self.refused_spans} span{'s' if self.refused_spans != 1 else ''} refused: "
            f"no agent registered at this site as {named}"
        )


def intake(
    request: ExportTraceServiceRequest,
    speaker: Principal | Collector,
    received_at_unix_nano: int,
    inspect: Callable[[dict[str, Any]], None] | None = None,
) -> Intake:
    """Every span of the request whose agent is known; OtlpError if any of them is
    malformed, so that a request is taken whole or not at all. Text no store can hold is
    replaced (``edge.storable``). ``inspect`` sees each record once the whole request is
    valid (the security fast path, edge/watch.py)."""
    result = Intake()
    checked: list[dict[str, Any]] = []
    for i, resource_spans in enumerate(request.resource_spans):
        resource = attributes(resource_spans.resource.attributes)
        principal = speaker if isinstance(speaker, Principal) else speaker.principal_for(resource)
        if principal is None:
            result.refused_spans += sum(len(scope.spans) for scope in resource_spans.scope_spans)
            name = collector.label(resource)
            if name not in result.refused_agents:
                result.refused_agents.append(name)
            continue
        for j, scope_spans in enumerate(resource_spans.scope_spans):
            for k, span in enumerate(scope_spans.spans):
                where = f"resourceSpans[{i}].scopeSpans[{j}].spans[{k}]"
                record = span_record(span, resource, principal, received_at_unix_nano, where)
                if principal.registers:
                    record["attributes"][collector.REGISTERED] = principal.registers
                if principal.resident:
                    kept = keep(record)
                    if kept is not None:
                        result.bodies.append(kept)
                result.records.append((record["event_id"], storable_json(record)))
                checked.append(record)
    if inspect is not None:
        for record in checked:
            inspect(record)
    return result

"""The scenario kit's spans (controlplane/security/scenarios.py) as OTLP, the way an
OpenTelemetry SDK or a site's collector sends them: for the check that the same data
replayed live through an edge and imported from files gives the same alerts.

Each agent's spans form one resource (``service.name`` = the agent's name); model spans
carry a prompt and an answer as the GenAI conventions write them, so residency has
bodies to keep at the edge.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from controlplane.security.scenario_spans import SpanRow

_HEX16 = re.compile(r"[0-9a-f]{16}")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _nanos(moment: dt.datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 10**9 + delta.microseconds * 1000


def _span_id(text: str) -> bytes:
    """The scenario's span labels as 8-byte ids (they are not all hex)."""
    if _HEX16.fullmatch(text):
        return bytes.fromhex(text)
    return hashlib.sha256(text.encode()).digest()[:8]


def _value(value: Any) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, list):
        return AnyValue(array_value=ArrayValue(values=[_value(item) for item in value]))
    return AnyValue(string_value=str(value))


def _attributes(row: SpanRow) -> dict[str, Any]:
    attributes = dict(row.attributes)
    if row.kind == "step":
        attributes["gen_ai.operation.name"] = "invoke_agent"
    elif row.kind == "model":
        attributes.update(
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": row.provider,
                "gen_ai.request.model": row.model,
                "gen_ai.usage.input_tokens": row.input_tokens,
                "gen_ai.usage.output_tokens": row.output_tokens,
            }
        )
        if row.status == "ok":
            attributes["gen_ai.input.messages"] = (
                f'[{{"role": "user", "content": "task {row.trace} for {row.agent}"}}]'
            )
            attributes["gen_ai.output.messages"] = (
                f'[{{"role": "assistant", "content": "done: {row.trace[:8]}"}}]'
            )
    elif row.kind == "tool":
        attributes["gen_ai.tool.name"] = row.tool
    if row.classes:
        attributes["acp.data_classes"] = list(row.classes)
    return attributes


def otlp_span(row: SpanRow) -> Span:
    start = _nanos(row.start)
    error = row.status != "ok"
    return Span(
        trace_id=bytes.fromhex(row.trace),
        span_id=_span_id(row.span),
        parent_span_id=_span_id(row.parent) if row.parent else b"",
        name=row.name,
        kind=Span.SPAN_KIND_CLIENT if row.kind != "step" else Span.SPAN_KIND_INTERNAL,
        start_time_unix_nano=start,
        end_time_unix_nano=start + row.duration_ms * 1_000_000,
        attributes=[KeyValue(key=k, value=_value(v)) for k, v in _attributes(row).items()],
        status=Status(
            code=Status.STATUS_CODE_ERROR if error else Status.STATUS_CODE_OK,
            message="upstream returned 503" if error else "",
        ),
    )


def otlp_requests(rows: Iterable[SpanRow], *, per_request: int = 2000) -> Iterator[bytes]:
    """The rows as protobuf ExportTraceServiceRequests of at most ``per_request`` spans,
    in row order, one resource per agent (``service.name``)."""
    batch: list[SpanRow] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= per_request:
            yield _request(batch).SerializeToString()
            batch = []
    if batch:
        yield _request(batch).SerializeToString()


def _request(rows: list[SpanRow]) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    by_agent: dict[str, list[SpanRow]] = {}
    for row in rows:
        by_agent.setdefault(row.agent, []).append(row)
    for agent, spans in by_agent.items():
        resource_spans = request.resource_spans.add()
        resource_spans.resource.attributes.append(
            KeyValue(key="service.name", value=AnyValue(string_value=agent))
        )
        scope = resource_spans.scope_spans.add()
        scope.scope.name = "scenario-kit"
        scope.spans.extend(otlp_span(row) for row in spans)
    return request


def as_json_line(message: bytes) -> bytes:
    """One request as the file exporter's JSON line (OTLP/JSON: hex trace and span ids)."""
    request = ExportTraceServiceRequest.FromString(message)
    doc = json_format.MessageToDict(request)
    for resource_spans in doc.get("resourceSpans", []):
        for scope_spans in resource_spans.get("scopeSpans", []):
            for span in scope_spans.get("spans", []):
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = base64.b64decode(span[key]).hex()
    return json.dumps(doc, separators=(",", ":")).encode() + b"\n"

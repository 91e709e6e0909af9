"""OTLP/HTTP trace requests → spool records (one JSON object per span).

Pure functions: decoding (protobuf, OTLP/JSON, gzip) and the GenAI mapping described
in docs/edge-protocol.md. Both encodings are decoded into the protobuf message, so the
mapping exists once.
"""

from __future__ import annotations

import base64
import hashlib
import re
import uuid
import zlib
from collections.abc import Iterable, Iterator
from typing import Any

import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from edge.auth import Principal
from edge.jsondepth import depth_message, too_deep
from edge.storable import loads_json

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
MEDIA_TYPES = (PROTOBUF, JSON)
CONTENT_ENCODINGS = ("identity", "gzip")

EVENT_NAMESPACE = uuid.UUID("6f1e2c3a-9d1b-4b7e-8f3a-2c5d7e9a1b40")
RECORD_VERSION = 1

MODEL_OPERATIONS = frozenset({"chat", "text_completion", "generate_content", "embeddings"})
TOOL_OPERATION = "execute_tool"

_HEX = re.compile(r"(?:[0-9a-fA-F]{2})*")
_ID_KEYS = ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id")
_TIMEOUT_MARKERS = ("timeout", "timed out")
_MAX_INT64 = 2**63 - 1


class OtlpError(ValueError):
    """The request is malformed; the message says where."""


class BodyTooLargeError(Exception):
    """The body, once decompressed, exceeds the limit."""


def gunzip(body: bytes, limit: int) -> bytes:
    """Decompress a gzip body, refusing to inflate past ``limit`` bytes (gzip bombs)."""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        data = inflater.decompress(body, limit + 1)
    except zlib.error:
        raise OtlpError("the body is not valid gzip") from None
    if len(data) > limit:
        raise BodyTooLargeError(f"the decompressed body exceeds {limit} bytes")
    if not inflater.eof:
        raise OtlpError("the gzip stream is truncated")
    return data


def decode_request(
    body: bytes, media_type: str, content_encoding: str, limit: int
) -> ExportTraceServiceRequest:
    """Decode a body whose media type and encoding are among MEDIA_TYPES and
    CONTENT_ENCODINGS; OtlpError if malformed, BodyTooLargeError if it inflates past
    ``limit``."""
    if content_encoding == "gzip":
        body = gunzip(body, limit)
    return parse_protobuf(body) if media_type == PROTOBUF else parse_json(body)


def parse_protobuf(body: bytes) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except DecodeError as error:
        if "UTF-8" in str(error):
            # Protobuf strings must be UTF-8; the decoder names the message, not the field.
            raise OtlpError(f"a string field is not valid UTF-8: {error}") from None
        raise OtlpError("the body is not a protobuf ExportTraceServiceRequest") from None
    return request


def _hex_ids_to_base64(spans: object, where: str) -> None:
    """OTLP/JSON writes trace and span ids as hex, the protobuf JSON mapping as base64."""
    if not isinstance(spans, list):
        return
    for index, span in enumerate(spans):
        if not isinstance(span, dict):
            continue
        for key in _ID_KEYS:
            value = span.get(key)
            if isinstance(value, str):
                if not _HEX.fullmatch(value):
                    raise OtlpError(f"{where}[{index}].{key} must be a hex string")
                span[key] = base64.b64encode(bytes.fromhex(value)).decode()
        _hex_ids_to_base64(span.get("links"), f"{where}[{index}].links")


def _children(parent: object, *keys: str) -> Iterator[tuple[int, str, object]]:
    if not isinstance(parent, dict):
        return
    for key in keys:
        items = parent.get(key)
        if isinstance(items, list):
            for index, item in enumerate(items):
                yield index, key, item


def parse_json(body: bytes) -> ExportTraceServiceRequest:
    if too_deep(body):
        raise OtlpError(depth_message())
    try:
        doc = loads_json(body)
    except orjson.JSONDecodeError:
        raise OtlpError("the body is not valid JSON") from None
    if not isinstance(doc, dict):
        raise OtlpError("the body must be a JSON object")
    for i, rs_key, resource_spans in _children(doc, "resourceSpans", "resource_spans"):
        for j, ss_key, scope_spans in _children(resource_spans, "scopeSpans", "scope_spans"):
            spans = scope_spans.get("spans") if isinstance(scope_spans, dict) else None
            _hex_ids_to_base64(spans, f"{rs_key}[{i}].{ss_key}[{j}].spans")
    request = ExportTraceServiceRequest()
    try:
        json_format.ParseDict(doc, request, ignore_unknown_fields=True)
    except json_format.ParseError as error:
        raise OtlpError(str(error)) from None
    return request


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "int_value":
        return value.int_value
    if kind == "double_value":
        return value.double_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "array_value":
        return [_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return attributes(value.kvlist_value.values)
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    return None


def attributes(pairs: Iterable[KeyValue]) -> dict[str, Any]:
    """OTLP key/values as a plain dict (bytes as base64 text; later duplicates win)."""
    result = {}
    for pair in pairs:
        value = pair.value
        # Text first: most attributes of a GenAI span are strings (one call fewer each).
        kind = value.WhichOneof("value")
        result[pair.key] = value.string_value if kind == "string_value" else _value(value)
    return result


# The mapping moves an attribute into a record field: the attribute whose value was
# used leaves ``attributes``; fallbacks that were not used stay there.


def _take_text(attrs: dict[str, Any], *names: str) -> str:
    for name in names:
        value = attrs.get(name)
        if isinstance(value, str) and value:
            del attrs[name]
            return value
    return ""


def _take_count(attrs: dict[str, Any], *names: str) -> int:
    for name in names:
        value = attrs.get(name)
        if isinstance(value, bool):
            continue
        if (isinstance(value, float) and value.is_integer()) or (
            isinstance(value, str) and value.isascii() and value.isdigit()
        ):
            value = int(value)
        if isinstance(value, int) and 0 <= value <= _MAX_INT64:
            del attrs[name]
            return value
    return 0


def _take_body(attrs: dict[str, Any], *names: str) -> str:
    for name in names:
        value = attrs.get(name)
        if value is None or value == "":
            continue
        del attrs[name]
        return value if isinstance(value, str) else orjson.dumps(value).decode()
    return ""


def _take_strings(attrs: dict[str, Any], name: str) -> list[str]:
    value = attrs.get(name)
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        del attrs[name]
        return list(dict.fromkeys(value))
    return []


def _bodies_from_events(span: Span, request_body: str, response_body: str) -> tuple[str, str]:
    for event in span.events:
        if request_body and response_body:
            break
        event_attrs = attributes(event.attributes)
        if not request_body:
            request_body = _take_body(event_attrs, "gen_ai.input.messages")
            if not request_body and event.name == "gen_ai.content.prompt":
                request_body = _take_body(event_attrs, "gen_ai.prompt")
        if not response_body:
            response_body = _take_body(event_attrs, "gen_ai.output.messages")
            if not response_body and event.name == "gen_ai.content.completion":
                response_body = _take_body(event_attrs, "gen_ai.completion")
    return request_body, response_body


def _kind(operation: str, tool: str, attrs: dict[str, Any]) -> str:
    if operation in MODEL_OPERATIONS:
        return "model"
    if operation == TOOL_OPERATION:
        return "tool"
    if any(name.startswith("gen_ai.usage.") for name in attrs):
        return "model"
    return "tool" if tool else "step"


def _status(status: Status, attrs: dict[str, Any]) -> str:
    code = status.code
    error_type = attrs.get("error.type")
    if code != Status.STATUS_CODE_ERROR and not (
        code == Status.STATUS_CODE_UNSET and error_type is not None
    ):
        return "ok"
    text = f"{error_type or ''} {status.message}".lower()
    return "timeout" if any(marker in text for marker in _TIMEOUT_MARKERS) else "error"


_ZEROS = {16: bytes(16), 8: bytes(8)}


def _hex_id(raw: bytes, size: int, where: str, *, optional: bool = False) -> str:
    if optional and not raw:
        return ""
    if len(raw) != size or raw == _ZEROS[size]:
        raise OtlpError(f"{where} must be {size} bytes and not all zero")
    return raw.hex()


_EVENT_NAMESPACE_BYTES = EVENT_NAMESPACE.bytes


def event_id(tenant_id: str, trace_id: str, span_id: str) -> str:
    """``uuid5(EVENT_NAMESPACE, "<tenant>/<trace>/<span>")`` as text, computed without
    ``uuid.UUID`` objects (a third of the cost, once per span)."""
    name = f"{tenant_id}/{trace_id}/{span_id}".encode()
    digest = bytearray(hashlib.sha1(_EVENT_NAMESPACE_BYTES + name, usedforsecurity=False).digest())
    digest[6] = digest[6] & 0x0F | 0x50  # version 5
    digest[8] = digest[8] & 0x3F | 0x80  # RFC 4122 variant
    text = digest[:16].hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def span_record(
    span: Span,
    resource: dict[str, Any],
    principal: Principal,
    received_at_unix_nano: int,
    where: str = "span",
) -> dict[str, Any]:
    trace_id = _hex_id(span.trace_id, 16, f"{where}.traceId")
    span_id = _hex_id(span.span_id, 8, f"{where}.spanId")
    parent_span_id = _hex_id(span.parent_span_id, 8, f"{where}.parentSpanId", optional=True)
    attrs = attributes(span.attributes)
    _drop_reserved(attrs)
    status = span.status
    operation = _take_text(attrs, "gen_ai.operation.name")
    tool = _take_text(attrs, "gen_ai.tool.name")
    kind = _kind(operation, tool, attrs)
    request_body, response_body = _bodies_from_events(
        span,
        _take_body(attrs, "gen_ai.input.messages", "gen_ai.prompt"),
        _take_body(attrs, "gen_ai.output.messages", "gen_ai.completion"),
    )
    return {
        "v": RECORD_VERSION,
        "event_id": event_id(principal.tenant_id, trace_id, span_id),
        "tenant_id": principal.tenant_id,
        "agent_id": principal.agent_id,
        "department_id": principal.department_id,
        "device_id": principal.device_id,
        "site_id": principal.site_id,
        "edge_node_id": principal.edge_node_id,
        "trace_id": trace_id,
        "span_id": span_id,
        "parent_span_id": parent_span_id,
        "name": span.name,
        "kind": kind,
        "start_time_unix_nano": span.start_time_unix_nano,
        "end_time_unix_nano": span.end_time_unix_nano,
        "status": _status(status, attrs),
        "status_message": status.message,
        "provider": _take_text(attrs, "gen_ai.provider.name", "gen_ai.system"),
        "model": _take_text(attrs, "gen_ai.response.model", "gen_ai.request.model"),
        "operation": operation,
        "tool": tool,
        "input_tokens": _take_count(
            attrs, "gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"
        ),
        "output_tokens": _take_count(
            attrs, "gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens"
        ),
        "data_classes": _take_strings(attrs, "acp.data_classes"),
        "request_body": request_body,
        "response_body": response_body,
        "attributes": attrs,
        "resource": resource,
        "received_at_unix_nano": received_at_unix_nano,
    }


# Only the edge writes these: dashboards and the data-flow diagram read ``acp.gateway.*``
# as proof that a call went through the gateway, and ``acp.edge.*`` says where bodies are
# kept and which agent a site collector registered; an agent's span must not claim them.
RESERVED_PREFIXES = ("acp.gateway.", "acp.edge.")


def _drop_reserved(attrs: dict[str, Any]) -> None:
    """Remove the edge's own attributes from an agent's span, naming what was removed."""
    reserved = [key for key in attrs if key.startswith(RESERVED_PREFIXES)]
    if reserved:
        reserved.sort()
        for key in reserved:
            del attrs[key]
        attrs["acp.edge.dropped_attributes"] = reserved

"""The OTLP → record mapping of docs/edge-protocol.md, as pure functions."""

from __future__ import annotations

import base64
import gzip
import uuid
from typing import Any

import orjson
import pytest
from google.protobuf import json_format
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue, KeyValueList
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from edge import otlp
from edge.auth import Principal
from edge.intake import intake

from .conftest import AGENT, DEPARTMENT, DEVICE, NODE, SITE, TENANT, export_request, make_span

PRINCIPAL = Principal(
    tenant_id=TENANT,
    agent_id=AGENT,
    department_id=DEPARTMENT,
    device_id=DEVICE,
    site_id=SITE,
    edge_node_id=NODE,
)
NOW = 1_764_000_000_600_000_000


def records_of(*spans: Span, resource: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    request = export_request(list(spans), resource)
    return [orjson.loads(body) for _, body in intake(request, PRINCIPAL, NOW).records]


def record_of(span: Span) -> dict[str, Any]:
    (record,) = records_of(span)
    return record


def test_a_current_semconv_model_span_maps_every_field() -> None:
    messages = [{"role": "user", "parts": [{"type": "text", "content": "refund order 7"}]}]
    record = record_of(
        make_span(
            2,
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.response.model": "gpt-4o-2024-08-06",
                "gen_ai.usage.input_tokens": 812,
                "gen_ai.usage.output_tokens": 120,
                "gen_ai.input.messages": orjson.dumps(messages).decode(),
                "gen_ai.output.messages": '[{"role": "assistant"}]',
                "acp.data_classes": ["pii", "finance", "pii"],
                "server.address": "api.openai.com",
            },
            name="chat gpt-4o",
            trace=0xABC,
            parent=1,
        )
    )
    trace_id = f"{0xABC:032x}"
    assert record == {
        "v": 1,
        "event_id": str(uuid.uuid5(otlp.EVENT_NAMESPACE, f"{TENANT}/{trace_id}/{2:016x}")),
        "tenant_id": TENANT,
        "agent_id": AGENT,
        "department_id": DEPARTMENT,
        "device_id": DEVICE,
        "site_id": SITE,
        "edge_node_id": NODE,
        "trace_id": trace_id,
        "span_id": "0000000000000002",
        "parent_span_id": "0000000000000001",
        "name": "chat gpt-4o",
        "kind": "model",
        "start_time_unix_nano": 1_764_000_000_000_000_002,
        "end_time_unix_nano": 1_764_000_000_500_000_002,
        "status": "ok",
        "status_message": "",
        "provider": "openai",
        "model": "gpt-4o-2024-08-06",
        "operation": "chat",
        "tool": "",
        "input_tokens": 812,
        "output_tokens": 120,
        "data_classes": ["pii", "finance"],
        "request_body": orjson.dumps(messages).decode(),
        "response_body": '[{"role": "assistant"}]',
        # Moved attributes leave; the fallback that was not used stays.
        "attributes": {"gen_ai.request.model": "gpt-4o", "server.address": "api.openai.com"},
        "resource": {"service.name": "support-bot"},
        "received_at_unix_nano": NOW,
    }


def test_the_namespace_is_the_contracts() -> None:
    assert uuid.UUID("6f1e2c3a-9d1b-4b7e-8f3a-2c5d7e9a1b40") == otlp.EVENT_NAMESPACE


def test_older_semconv_names_are_understood() -> None:
    record = record_of(
        make_span(
            3,
            {
                "gen_ai.system": "anthropic",
                "gen_ai.request.model": "claude-sonnet",
                "gen_ai.usage.prompt_tokens": "40",
                "gen_ai.usage.completion_tokens": 7.0,
                "gen_ai.prompt": "hello",
                "gen_ai.completion": "hi",
            },
        )
    )
    assert (record["kind"], record["provider"], record["model"]) == (
        "model",
        "anthropic",
        "claude-sonnet",
    )
    assert (record["input_tokens"], record["output_tokens"]) == (40, 7)
    assert (record["request_body"], record["response_body"]) == ("hello", "hi")
    assert record["attributes"] == {}


def test_bodies_come_from_span_events_when_not_in_attributes() -> None:
    events = [
        Span.Event(name="gen_ai.content.prompt", attributes=_kv(**{"gen_ai.prompt": "q?"})),
        Span.Event(name="gen_ai.content.completion", attributes=_kv(**{"gen_ai.completion": "a"})),
    ]
    record = record_of(make_span(4, {"gen_ai.operation.name": "chat"}, events=events))
    assert (record["request_body"], record["response_body"]) == ("q?", "a")


def test_structured_messages_become_json_text() -> None:
    message = AnyValue(kvlist_value=KeyValueList(values=_kv(role="user", content="hi")))
    span = make_span(5, {"gen_ai.operation.name": "chat"})
    span.attributes.append(
        KeyValue(key="gen_ai.input.messages", value=AnyValue(array_value={"values": [message]}))
    )
    assert orjson.loads(record_of(span)["request_body"]) == [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(
    ("attributes", "kind"),
    [
        ({"gen_ai.operation.name": "chat"}, "model"),
        ({"gen_ai.operation.name": "embeddings"}, "model"),
        ({"gen_ai.operation.name": "generate_content"}, "model"),
        ({"gen_ai.operation.name": "text_completion"}, "model"),
        ({"gen_ai.usage.input_tokens": 3}, "model"),
        ({"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "lookup"}, "tool"),
        ({"gen_ai.tool.name": "lookup"}, "tool"),
        ({"gen_ai.operation.name": "invoke_agent"}, "step"),
        ({"http.method": "GET"}, "step"),
    ],
)
def test_kind(attributes: dict[str, Any], kind: str) -> None:
    assert record_of(make_span(6, attributes))["kind"] == kind


def test_a_tool_span_names_its_tool() -> None:
    record = record_of(
        make_span(7, {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "lookup"})
    )
    assert (record["kind"], record["tool"], record["operation"]) == (
        "tool",
        "lookup",
        "execute_tool",
    )


@pytest.mark.parametrize(
    ("status", "attributes", "expected"),
    [
        (None, {}, "ok"),
        (Status(code=Status.STATUS_CODE_OK), {}, "ok"),
        (Status(code=Status.STATUS_CODE_ERROR, message="boom"), {}, "error"),
        (Status(code=Status.STATUS_CODE_ERROR), {"error.type": "timeout"}, "timeout"),
        (Status(code=Status.STATUS_CODE_ERROR), {"error.type": "TimeoutError"}, "timeout"),
        (
            Status(code=Status.STATUS_CODE_ERROR),
            {"error.type": "openai.APITimeoutError"},
            "timeout",
        ),
        (Status(code=Status.STATUS_CODE_ERROR, message="Request timed out"), {}, "timeout"),
        (Status(code=Status.STATUS_CODE_ERROR), {"error.type": "RateLimitError"}, "error"),
        (None, {"error.type": "timeout"}, "timeout"),
        (None, {"error.type": "500"}, "error"),
        (Status(code=Status.STATUS_CODE_OK), {"error.type": "timeout"}, "ok"),
    ],
)
def test_status(status: Status | None, attributes: dict[str, Any], expected: str) -> None:
    record = record_of(make_span(8, attributes, status=status))
    assert record["status"] == expected
    assert record["attributes"] == attributes, "error.type is not moved"


def test_attribute_values_of_every_type() -> None:
    span = make_span(
        9, {"s": "x", "i": -5, "d": 1.5, "b": True, "a": [1, "two"], "raw": b"\x00\xff"}
    )
    span.attributes.append(
        KeyValue(key="kv", value=AnyValue(kvlist_value=KeyValueList(values=_kv(k="v"))))
    )
    span.attributes.append(KeyValue(key="empty", value=AnyValue()))
    assert record_of(span)["attributes"] == {
        "s": "x",
        "i": -5,
        "d": 1.5,
        "b": True,
        "a": [1, "two"],
        "raw": base64.b64encode(b"\x00\xff").decode(),
        "kv": {"k": "v"},
        "empty": None,
    }


def test_unusable_values_stay_in_attributes() -> None:
    attributes = {
        "gen_ai.usage.input_tokens": -1,
        "gen_ai.usage.output_tokens": "many",
        "gen_ai.usage.prompt_tokens": 1e300,
        "gen_ai.usage.completion_tokens": "9" * 30,
        "acp.data_classes": "pii",
    }
    record = record_of(make_span(10, attributes))
    assert (record["input_tokens"], record["output_tokens"], record["data_classes"]) == (0, 0, [])
    assert record["attributes"] == attributes


def test_an_agent_span_cannot_claim_to_come_from_the_gateway() -> None:
    """``acp.gateway.*`` marks the gateway's own records (dashboards and the data-flow
    diagram trust it): an agent's span loses it, and says so."""
    record = record_of(
        make_span(12, {"acp.gateway.route": "r1", "acp.gateway.attempts": "[]", "x": 1})
    )
    assert record["attributes"] == {
        "x": 1,
        "acp.edge.dropped_attributes": ["acp.gateway.attempts", "acp.gateway.route"],
    }


def test_the_same_span_always_gets_the_same_event_id_and_tenants_do_not_collide() -> None:
    first, again = records_of(make_span(11), make_span(11, {"retry": True}))
    assert first["event_id"] == again["event_id"]
    other = Principal(**{**PRINCIPAL.__dict__, "tenant_id": str(uuid.uuid4())})
    request = export_request([make_span(11)])
    ((other_id, _),) = intake(request, other, NOW).records
    assert other_id != first["event_id"]


@pytest.mark.parametrize(
    ("trace_id", "span_id", "parent", "field"),
    [
        (b"\x01" * 15, b"\x01" * 8, b"", "traceId"),
        (b"\x00" * 16, b"\x01" * 8, b"", "traceId"),
        (b"\x01" * 16, b"", b"", "spanId"),
        (b"\x01" * 16, b"\x01" * 8, b"\x01" * 4, "parentSpanId"),
    ],
)
def test_bad_protobuf_ids_are_refused(
    trace_id: bytes, span_id: bytes, parent: bytes, field: str
) -> None:
    span = Span(trace_id=trace_id, span_id=span_id, parent_span_id=parent, name="x")
    with pytest.raises(otlp.OtlpError, match=field):
        records_of(make_span(1), span)


def test_garbage_is_not_protobuf() -> None:
    with pytest.raises(otlp.OtlpError):
        otlp.parse_protobuf(b"\xff\xff\xff\xff not a protobuf")


# --- OTLP/JSON ------------------------------------------------------------------------


def json_span(**overrides: Any) -> dict[str, Any]:
    span = {
        "traceId": "5B8EFFF798038103D269B633813FC60C",
        "spanId": "EEE19B7EC3C1B174",
        "parentSpanId": "",
        "name": "chat gpt-4o",
        "kind": 3,
        "startTimeUnixNano": "1764000000000000000",
        "endTimeUnixNano": 1764000000500000000,
        "attributes": [
            {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
            {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "812"}},
            {"key": "gen_ai.usage.output_tokens", "value": {"intValue": 120}},
            {"key": "temperature", "value": {"doubleValue": 0.2}},
            {"key": "stream", "value": {"boolValue": False}},
            {"key": "blob", "value": {"bytesValue": "AP8="}},
            {"key": "stops", "value": {"arrayValue": {"values": [{"stringValue": "END"}]}}},
            {"key": "meta", "value": {"kvlistValue": {"values": [{"key": "k", "value": {}}]}}},
        ],
        "status": {"code": 2, "message": "deadline: timed out"},
        "links": [{"traceId": "0102030405060708090a0b0c0d0e0f10", "spanId": "0102030405060708"}],
        "someFutureField": {"ignored": True},
    }
    span.update(overrides)
    return span


def json_body(*spans: dict[str, Any]) -> bytes:
    doc = {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": "bot"}}]
                },
                "scopeSpans": [{"scope": {"name": "openllmetry"}, "spans": list(spans)}],
            }
        ]
    }
    return orjson.dumps(doc)


def json_records(body: bytes) -> list[dict[str, Any]]:
    request = otlp.parse_json(body)
    return [orjson.loads(raw) for _, raw in intake(request, PRINCIPAL, NOW).records]


def test_otlp_json_with_hex_ids_and_every_value_type() -> None:
    (record,) = json_records(json_body(json_span()))
    assert record["trace_id"] == "5b8efff798038103d269b633813fc60c"
    assert record["span_id"] == "eee19b7ec3c1b174"
    assert record["parent_span_id"] == ""
    assert record["start_time_unix_nano"] == 1764000000000000000
    assert record["end_time_unix_nano"] == 1764000000500000000
    assert (record["kind"], record["input_tokens"], record["output_tokens"]) == ("model", 812, 120)
    assert record["status"] == "timeout"
    assert record["attributes"] == {
        "temperature": 0.2,
        "stream": False,
        "blob": "AP8=",
        "stops": ["END"],
        "meta": {"k": None},
    }
    assert record["resource"] == {"service.name": "bot"}


def test_ids_that_also_read_as_base64_are_taken_as_hex() -> None:
    # 32 characters of [0-9a-f] are valid base64 too (24 bytes); OTLP/JSON says hex.
    (record,) = json_records(json_body(json_span(traceId="0123456789abcdef0123456789abcdef")))
    assert record["trace_id"] == "0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"traceId": base64.b64encode(bytes(range(1, 17))).decode()}, "traceId"),
        ({"spanId": "AQIDBAUGBwg="}, "spanId"),
        ({"spanId": "0102 0304 0506 0708"}, "spanId"),
        ({"spanId": "010203"}, "spanId"),
        ({"links": [{"traceId": "zz", "spanId": "0102030405060708"}]}, "links"),
        ({"startTimeUnixNano": "soon"}, "startTimeUnixNano"),
        ({"attributes": [{"key": "x", "value": {"intValue": "1.5"}}]}, "intValue"),
        ({"attributes": "not a list"}, "attributes"),
    ],
)
def test_malformed_otlp_json_is_refused_naming_the_field(
    overrides: dict[str, Any], field: str
) -> None:
    with pytest.raises(otlp.OtlpError, match=field):
        json_records(json_body(json_span(**overrides)))


@pytest.mark.parametrize("body", [b"{", b"[]", b'"x"', b"\xff"])
def test_non_object_json_is_refused(body: bytes) -> None:
    with pytest.raises(otlp.OtlpError):
        otlp.parse_json(body)


def test_json_and_protobuf_of_one_span_give_identical_records() -> None:
    span = make_span(
        12,
        {"gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": 5, "x": [1.5, True]},
        parent=3,
        status=Status(code=Status.STATUS_CODE_ERROR, message="boom"),
    )
    request = export_request([span])
    doc = json_format.MessageToDict(request)
    for resource_spans in doc["resourceSpans"]:
        for scope_spans in resource_spans["scopeSpans"]:
            for item in scope_spans["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    item[key] = base64.b64decode(item[key]).hex()
    from_json = intake(otlp.parse_json(orjson.dumps(doc)), PRINCIPAL, NOW).records
    assert from_json == intake(request, PRINCIPAL, NOW).records


# --- gzip -----------------------------------------------------------------------------


def test_gzip_round_trip_and_decode_request() -> None:
    body = export_request([make_span(13)]).SerializeToString()
    request = otlp.decode_request(gzip.compress(body), otlp.PROTOBUF, "gzip", 1 << 20)
    assert request.resource_spans[0].scope_spans[0].spans[0].span_id == (13).to_bytes(8, "big")


def test_a_gzip_bomb_stops_at_the_limit() -> None:
    bomb = gzip.compress(b"\x00" * (8 << 20))
    assert len(bomb) < 64 << 10
    with pytest.raises(otlp.BodyTooLargeError):
        otlp.gunzip(bomb, 1 << 20)


@pytest.mark.parametrize(
    "body",
    [b"not gzip at all", gzip.compress(b"x" * 1000, mtime=0)[:-12]],
    ids=["not-gzip", "truncated-gzip"],
)
def test_broken_gzip_is_malformed(body: bytes) -> None:
    with pytest.raises(otlp.OtlpError):
        otlp.gunzip(body, 1 << 20)


def _kv(**values: str) -> list[KeyValue]:
    return [KeyValue(key=key, value=AnyValue(string_value=value)) for key, value in values.items()]

"""Text no store can hold (U+0000, lone surrogates) is replaced at the edge, in every
field and attribute, so that no record can stop the control plane's pipeline
(docs/decisions/0014-poison-records.md)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from google.rpc import status_pb2
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from starlette.testclient import TestClient

from edge.storable import REPLACED_ATTRIBUTE, storable_json

from .conftest import (
    AGENT_HEADERS,
    JSON,
    PROTOBUF,
    export_request,
    make_span,
    protobuf_body,
    pulled_records,
)

NUL = "\x00"


def send(client: TestClient, body: bytes, headers: dict[str, str]) -> Any:
    return client.post("/v1/traces", content=body, headers={**AGENT_HEADERS, **headers})


def test_a_protobuf_span_with_nul_in_its_name_and_attributes_is_stored_replaced(
    edge: TestClient,
) -> None:
    span = make_span(
        1,
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": f"gpt{NUL}4o",
            "gen_ai.prompt": f"hello{NUL}",
            f"user{NUL}id": "42",
            "tags": ["a", f"b{NUL}"],
        },
        name=f"chat{NUL}gpt-4o",
    )
    span.status.message = f"bad{NUL}"
    span.events.add(name="e").attributes.add(key="k", value=AnyValue(string_value=NUL))
    span.attributes.append(KeyValue(key="plain", value=AnyValue(string_value="fine")))

    body = export_request([span], {"service.name": f"bot{NUL}"}).SerializeToString()
    response = send(edge, body, PROTOBUF)

    assert response.status_code == 200
    (record,) = pulled_records(edge)
    assert record["name"] == "chat\ufffdgpt-4o"
    assert record["model"] == "gpt\ufffd4o"
    assert record["request_body"] == "hello\ufffd"
    assert record["status_message"] == "bad\ufffd"
    assert record["resource"]["service.name"] == "bot\ufffd"
    assert record["attributes"]["user\ufffdid"] == "42"
    assert record["attributes"]["tags"] == ["a", "b\ufffd"]
    assert record["attributes"]["plain"] == "fine"
    assert sorted(record["attributes"][REPLACED_ATTRIBUTE]) == sorted(
        [
            "name",
            "model",
            "request_body",
            "status_message",
            "resource.service.name",
            "attributes.user\ufffdid",
            "attributes.tags[1]",
        ]
    )
    assert NUL not in orjson.dumps(record).decode("unicode_escape")


def _json_span(name: str) -> bytes:
    # Written by hand: the escapes are what an OTLP/JSON exporter sends on the wire.
    return (
        b'{"resourceSpans": [{"scopeSpans": [{"spans": [{'
        b'"traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174", '
        b'"name": "' + name.encode() + b'", '
        b'"startTimeUnixNano": "1764000000000000000", "endTimeUnixNano": "1764000000500000000",'
        b'"attributes": [{"key": "note", "value": {"stringValue": "' + name.encode() + b'"}}]'
        b"}]}]}]}"
    )


@pytest.mark.parametrize(
    ("escaped", "stored"),
    [
        ("a\\u0000b", "a\ufffdb"),  # NUL
        ("a\\ud800b", "a\ufffdb"),  # a lone high surrogate
        ("a\\udc00b", "a\ufffdb"),  # a lone low surrogate
        ("a\\ud83d\\ude00b", "a\U0001f600b"),  # a pair is a character, kept
        ("a\\\\ud800b", "a\\ud800b"),  # an escaped backslash, then text: kept
    ],
)
def test_otlp_json_escapes_of_unstorable_characters_are_replaced(
    edge: TestClient, escaped: str, stored: str
) -> None:
    response = send(edge, _json_span(escaped), JSON)

    assert response.status_code == 200, response.text
    (record,) = pulled_records(edge)
    assert record["name"] == record["attributes"]["note"] == stored


def test_protobuf_with_invalid_utf8_is_refused_naming_the_problem(edge: TestClient) -> None:
    body = protobuf_body([make_span(1, name="chat-XY")]).replace(b"chat-XY", b"chat\xed\xa0\x80Y")

    response = send(edge, body, PROTOBUF)

    assert response.status_code == 400
    # OTLP's error shape, in the request's encoding (docs/edge-protocol.md)
    assert "not valid UTF-8" in status_pb2.Status.FromString(response.content).message
    assert pulled_records(edge) == []


def test_a_record_without_unstorable_text_is_written_as_is() -> None:
    doc = {"name": "chat", "attributes": {"k": ["v", 1, None, {"n": 2.5}]}}
    assert storable_json(doc) == orjson.dumps(doc)
    # A backslash followed by u0000 is text, not NUL: it stays.
    text = {"name": "\\u0000", "attributes": {}}
    assert orjson.loads(storable_json(text)) == text

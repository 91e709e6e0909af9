"""POST /v1/traces: what agents see, and that a refused request writes nothing."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from google.rpc.status_pb2 import Status as RpcStatus
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from starlette.testclient import TestClient

from .conftest import (
    AGENT,
    AGENT_HEADERS,
    DEPARTMENT,
    DEVICE,
    DEVICE_KEY,
    JSON,
    NODE,
    ON_REVOKED_DEVICE_KEY,
    OTHER_AGENT_KEY,
    OTHER_DEVICE,
    OTHER_DEVICE_KEY,
    PROTOBUF,
    REVOKED_AGENT_KEY,
    REVOKED_DEVICE,
    REVOKED_DEVICE_KEY,
    SITE,
    TENANT,
    make_span,
    protobuf_body,
    pulled_records,
    running_edge,
    spool_stats,
)

MODEL_SPAN = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o-mini",
    "gen_ai.usage.input_tokens": 812,
    "gen_ai.usage.output_tokens": 120,
}


def send(client: TestClient, body: bytes, **headers: str) -> Any:
    return client.post("/v1/traces", content=body, headers={**AGENT_HEADERS, **PROTOBUF, **headers})


def test_protobuf_spans_are_stored_stamped_with_who_sent_them(edge: TestClient) -> None:
    response = send(edge, protobuf_body([make_span(1, MODEL_SPAN), make_span(2, parent=1)]))

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-protobuf"
    ExportTraceServiceResponse.FromString(response.content)
    model, step = pulled_records(edge)
    assert (model["kind"], model["provider"], model["model"]) == ("model", "openai", "gpt-4o-mini")
    assert (model["input_tokens"], model["output_tokens"]) == (812, 120)
    assert step["kind"] == "step"
    assert step["parent_span_id"] == model["span_id"]
    for record in (model, step):
        assert (record["tenant_id"], record["agent_id"], record["department_id"]) == (
            TENANT,
            AGENT,
            DEPARTMENT,
        )
        assert (record["device_id"], record["site_id"], record["edge_node_id"]) == (
            DEVICE,
            SITE,
            NODE,
        )


def test_otlp_json_gets_a_json_response(edge: TestClient) -> None:
    body = orjson.dumps(
        {
            "resourceSpans": [
                {
                    "scopeSpans": [
                        {
                            "spans": [
                                {
                                    "traceId": "5b8efff798038103d269b633813fc60c",
                                    "spanId": "eee19b7ec3c1b174",
                                    "name": "chat",
                                    "startTimeUnixNano": "1764000000000000000",
                                    "endTimeUnixNano": "1764000000500000000",
                                }
                            ]
                        }
                    ]
                }
            ]
        }
    )
    response = send(edge, body, **{"Content-Type": "application/json; charset=utf-8"})

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {}
    (record,) = pulled_records(edge)
    assert (record["trace_id"], record["span_id"]) == (
        "5b8efff798038103d269b633813fc60c",
        "eee19b7ec3c1b174",
    )


def test_gzip_bodies_are_accepted(edge: TestClient) -> None:
    body = gzip.compress(protobuf_body([make_span(1, MODEL_SPAN)]))
    assert send(edge, body, **{"Content-Encoding": "gzip"}).status_code == 200
    assert len(pulled_records(edge)) == 1


def test_a_request_without_spans_is_fine_and_stores_nothing(edge: TestClient) -> None:
    assert send(edge, b"").status_code == 200
    assert spool_stats(edge)["records"] == 0


def test_a_resent_span_keeps_its_event_id(edge: TestClient) -> None:
    body = protobuf_body([make_span(1, MODEL_SPAN)])
    assert send(edge, body).status_code == 200
    assert send(edge, body).status_code == 200

    first, again = pulled_records(edge)
    assert first["event_id"] == again["event_id"]
    assert first["span_id"] == again["span_id"]


def _chunks(data: bytes) -> Iterator[bytes]:
    for start in range(0, len(data), 1000):
        yield data[start : start + 1000]


GOOD = protobuf_body([make_span(1, MODEL_SPAN)])
TOO_BIG = 64 << 10
HALF_BAD = protobuf_body([make_span(1), Span(trace_id=b"\x01" * 16, name="no span id")])


@pytest.mark.parametrize(
    ("headers", "body", "status"),
    [
        pytest.param({}, b"\xff\xff\xff not protobuf", 400, id="garbage protobuf"),
        pytest.param(JSON, b'{"resourceSpans": [', 400, id="truncated json"),
        pytest.param(JSON, b'{"resourceSpans": 7}', 400, id="wrong json shape"),
        pytest.param(JSON, b"[" * 30_000 + b"]" * 30_000, 400, id="json nested 30,000 deep"),
        pytest.param(
            JSON,
            b'{"resourceSpans": [{"resource": {"attributes": [{"key": "k", "value": '
            + b'{"arrayValue": {"values": [' * 50
            + b"{}"
            + b"]}}" * 50
            + b"}]}}]}",
            400,
            id="an attribute nested past the limit",
        ),
        pytest.param({}, HALF_BAD, 400, id="one bad span refuses the whole request"),
        pytest.param({"Content-Encoding": "gzip"}, GOOD, 400, id="not really gzip"),
        pytest.param({"Content-Type": "text/plain"}, GOOD, 415, id="text/plain"),
        pytest.param({"Content-Type": ""}, GOOD, 415, id="no content type"),
        pytest.param({"Content-Encoding": "br"}, GOOD, 415, id="brotli"),
        pytest.param({}, b"\x00" * (TOO_BIG + 1), 413, id="content-length too big"),
        pytest.param({}, _chunks(b"\x00" * (TOO_BIG + 1)), 413, id="chunked too big"),
        pytest.param(
            {"Content-Encoding": "gzip"},
            gzip.compress(b"\x00" * (TOO_BIG * 4)),
            413,
            id="inflates too big",
        ),
        pytest.param({"Authorization": ""}, GOOD, 401, id="no agent key"),
        pytest.param({"Authorization": "Basic YTpi"}, GOOD, 401, id="not bearer"),
        pytest.param({"Authorization": "Bearer acpk_k9_nope"}, GOOD, 401, id="unknown key"),
        pytest.param({"Authorization": f"Bearer {REVOKED_AGENT_KEY}"}, GOOD, 401, id="revoked key"),
        pytest.param(
            {"Authorization": f"Bearer {ON_REVOKED_DEVICE_KEY}"},
            GOOD,
            401,
            id="key of a revoked device",
        ),
        pytest.param({"X-ACP-Device-Key": "acpd_wrong"}, GOOD, 401, id="wrong device key"),
        pytest.param({"X-ACP-Device-Key": ""}, GOOD, 401, id="no device key"),
        pytest.param({"X-ACP-Device-Id": ""}, GOOD, 401, id="no device id"),
        pytest.param(
            {"X-ACP-Device-Id": OTHER_DEVICE, "X-ACP-Device-Key": DEVICE_KEY},
            GOOD,
            401,
            id="device key of another device",
        ),
        pytest.param(
            {"X-ACP-Device-Id": REVOKED_DEVICE, "X-ACP-Device-Key": REVOKED_DEVICE_KEY},
            GOOD,
            401,
            id="revoked device",
        ),
        pytest.param(
            {"X-ACP-Device-Id": OTHER_DEVICE, "X-ACP-Device-Key": OTHER_DEVICE_KEY},
            GOOD,
            403,
            id="valid key from a device it is not bound to",
        ),
        pytest.param(
            {"Authorization": f"Bearer {OTHER_AGENT_KEY}"},
            GOOD,
            403,
            id="valid other-device key from this device",
        ),
    ],
)
def test_refused_requests_answer_an_otlp_status_and_write_nothing(
    tmp_path: Path, headers: dict[str, str], body: Any, status: int
) -> None:
    with running_edge(tmp_path / "edge", max_body_bytes=TOO_BIG) as edge:
        assert send(edge, GOOD).status_code == 200
        before = spool_stats(edge)

        response = edge.post(
            "/v1/traces", content=body, headers={**AGENT_HEADERS, **PROTOBUF, **headers}
        )

        assert response.status_code == status, response.text
        # The OTLP specification: every 4xx carries a google.rpc.Status in the
        # request's encoding (JSON for anything but protobuf).
        media_type = {**PROTOBUF, **headers}["Content-Type"]
        if media_type == PROTOBUF["Content-Type"]:
            assert response.headers["content-type"] == media_type
            answer = RpcStatus.FromString(response.content)
            code, message = answer.code, answer.message
        else:
            assert response.headers["content-type"] == "application/json"
            code, message = response.json()["code"], response.json()["message"]
        assert code == {400: 3, 401: 16, 403: 7, 413: 8, 415: 3}[status]
        assert message
        if status == 401:
            assert response.headers["WWW-Authenticate"] == "Bearer"
        assert spool_stats(edge) == before
        assert len(pulled_records(edge)) == 1


def test_an_edge_that_was_never_configured_refuses_every_agent(tmp_path: Path) -> None:
    with running_edge(tmp_path / "edge", configure=False) as edge:
        response = send(edge, GOOD)
        assert response.status_code == 401
        assert "configuration" in RpcStatus.FromString(response.content).message
        assert spool_stats(edge)["records"] == 0


def test_the_device_id_header_is_case_insensitive(edge: TestClient) -> None:
    response = send(edge, GOOD, **{"X-ACP-Device-Id": DEVICE.upper()})
    assert response.status_code == 200

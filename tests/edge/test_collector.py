"""A site collector at the edge: one key for many agents' spans, mapped by resource
attribute; unknown agents refused per span (OTLP partial success) or registered."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from starlette.testclient import TestClient

from edge.collector import registered_agent_id

from .conftest import (
    AGENT,
    DEPARTMENT,
    JSON,
    NODE_HEADERS,
    OTHER_AGENT,
    OTHER_TENANT,
    PROTOBUF,
    SITE,
    TENANT,
    config_doc,
    export_request,
    make_span,
    pulled_records,
    running_edge,
    sha256,
)

COLLECTOR_KEY = "acpc_c0ffee000001_Y29sbGVjdG9yLXNlY3JldA"
REVOKED_COLLECTOR_KEY = "acpc_c0ffee000002_cmV2b2tlZC1jb2xsZWN0b3I"
HEADERS = {"Authorization": f"Bearer {COLLECTOR_KEY}", **PROTOBUF}


def collector_config(*, auto_register: bool = False, version: int = 1) -> dict[str, Any]:
    doc = config_doc(version)
    doc["collector_keys"] = [
        {
            "key_id": "c0ffee000001",
            "key_sha256": sha256(COLLECTOR_KEY),
            "tenant_id": TENANT,
            "auto_register": auto_register,
            "revoked": False,
        },
        {
            "key_id": "c0ffee000002",
            "key_sha256": sha256(REVOKED_COLLECTOR_KEY),
            "tenant_id": TENANT,
            "auto_register": auto_register,
            "revoked": True,
        },
    ]
    doc["site_agents"] = [
        {"agent_id": AGENT, "tenant_id": TENANT, "department_id": DEPARTMENT, "name": "support"},
        {"agent_id": OTHER_AGENT, "tenant_id": TENANT, "department_id": None, "name": "billing"},
    ]
    return doc


@pytest.fixture
def edge(tmp_path: Path) -> Iterator[TestClient]:
    with running_edge(tmp_path / "edge", configure=False) as client:
        put = client.put("/v1/config", json=collector_config(), headers=NODE_HEADERS)
        assert put.status_code == 200, put.text
        yield client


def request_of(*resources: dict[str, Any]) -> ExportTraceServiceRequest:
    """One resource per entry, each with two spans."""
    request = ExportTraceServiceRequest()
    for number, resource in enumerate(resources):
        request.resource_spans.extend(
            export_request(
                [make_span(10 * number + 1), make_span(10 * number + 2)], resource
            ).resource_spans
        )
    return request


def test_spans_go_to_the_agent_their_resource_names(edge: TestClient) -> None:
    request = request_of(
        {"service.name": "support"},
        {"agent.id": OTHER_AGENT.upper()},
        {"agent.id": "billing", "service.name": "something-else"},
    )
    response = edge.post("/v1/traces", content=request.SerializeToString(), headers=HEADERS)

    assert response.status_code == 200
    assert not ExportTraceServiceResponse.FromString(response.content).HasField("partial_success")
    records = pulled_records(edge)
    assert [r["agent_id"] for r in records] == [AGENT] * 2 + [OTHER_AGENT] * 4
    assert {(r["tenant_id"], r["site_id"], r["device_id"]) for r in records} == {
        (TENANT, SITE, None)
    }
    assert records[0]["department_id"] == DEPARTMENT


def test_unknown_agents_are_refused_per_span_with_a_partial_success(edge: TestClient) -> None:
    request = request_of(
        {"service.name": "support"}, {"service.name": "intruder"}, {"agent.id": OTHER_TENANT}, {}
    )
    response = edge.post("/v1/traces", content=request.SerializeToString(), headers=HEADERS)

    assert response.status_code == 200
    partial = ExportTraceServiceResponse.FromString(response.content).partial_success
    assert partial.rejected_spans == 6
    assert "6 spans refused" in partial.error_message
    assert "intruder" in partial.error_message and OTHER_TENANT in partial.error_message
    assert [r["agent_id"] for r in pulled_records(edge)] == [AGENT, AGENT]

    as_json = edge.post(
        "/v1/traces",
        content=_json_request("intruder"),
        headers={**HEADERS, **JSON},
    )
    assert as_json.status_code == 200
    assert as_json.json()["partialSuccess"]["rejectedSpans"] == "1"


def _json_request(service: str) -> bytes:
    return orjson.dumps(
        {
            "resourceSpans": [
                {
                    "resource": {
                        "attributes": [{"key": "service.name", "value": {"stringValue": service}}]
                    },
                    "scopeSpans": [
                        {
                            "spans": [
                                {
                                    "traceId": "0af7651916cd43dd8448eb211c80319c",
                                    "spanId": "b7ad6b7169203331",
                                    "name": "step",
                                    "startTimeUnixNano": "1764000000000000000",
                                    "endTimeUnixNano": "1764000000500000000",
                                }
                            ]
                        }
                    ],
                }
            ]
        }
    )


def test_with_auto_registration_an_unknown_agent_is_registered_by_name(
    edge: TestClient,
) -> None:
    put = edge.put(
        "/v1/config", json=collector_config(auto_register=True, version=2), headers=NODE_HEADERS
    )
    assert put.status_code == 200
    request = request_of({"service.name": "night-batch"}, {"service.name": "support"})
    response = edge.post("/v1/traces", content=request.SerializeToString(), headers=HEADERS)

    assert response.status_code == 200
    records = pulled_records(edge)
    new, known = records[0], records[2]
    assert new["agent_id"] == registered_agent_id(SITE, "night-batch")
    assert new["attributes"]["acp.edge.registered_agent"] == "night-batch"
    assert known["agent_id"] == AGENT
    assert "acp.edge.registered_agent" not in known["attributes"]


def test_a_span_cannot_claim_the_edges_own_attributes(edge: TestClient) -> None:
    request = export_request(
        [make_span(1, {"acp.edge.registered_agent": "x", "acp.edge.bodies": "edge", "ok": 1})],
        {"service.name": "support"},
    )
    edge.post("/v1/traces", content=request.SerializeToString(), headers=HEADERS)
    (record,) = pulled_records(edge)
    assert record["attributes"] == {
        "ok": 1,
        "acp.edge.dropped_attributes": ["acp.edge.bodies", "acp.edge.registered_agent"],
    }


@pytest.mark.parametrize(
    "authorization",
    [f"Bearer {REVOKED_COLLECTOR_KEY}", "Bearer acpc_c0ffee000001_wrong", "Bearer acpc_"],
)
def test_a_revoked_or_unknown_collector_key_is_refused(
    edge: TestClient, authorization: str
) -> None:
    request = request_of({"service.name": "support"})
    response = edge.post(
        "/v1/traces",
        content=request.SerializeToString(),
        headers={**HEADERS, "Authorization": authorization},
    )
    assert response.status_code == 401
    assert pulled_records(edge) == []


def test_a_collector_key_does_not_open_the_model_gateway(edge: TestClient) -> None:
    response = edge.post(
        "/v1/chat/completions",
        json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
        headers={"Authorization": f"Bearer {COLLECTOR_KEY}"},
    )
    assert response.status_code == 401

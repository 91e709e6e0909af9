"""Residency at the edge: a tenant's bodies stay in the edge's own store, the records the
control plane pulls carry their SHA-256 only, and the control plane reads the bodies on
demand with the node token."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from edge.residency import KeptBodies
from edge.spool import Spool

from .conftest import (
    AGENT_HEADERS,
    NODE_HEADERS,
    PROTOBUF,
    TENANT,
    config_doc,
    make_span,
    protobuf_body,
    pulled_records,
    running_edge,
    spool_stats,
)

PROMPT = '[{"role": "user", "content": "the customer IBAN is DE89 3704 0044 0532 0130 00"}]'
ANSWER = '[{"role": "assistant", "content": "noted"}]'
MODEL = {
    "gen_ai.operation.name": "chat",
    "gen_ai.usage.input_tokens": 10,
    "gen_ai.input.messages": PROMPT,
    "gen_ai.output.messages": ANSWER,
}


def residency_config(*, at_edge: bool, version: int = 1) -> dict[str, Any]:
    doc = config_doc(version)
    doc["residency"] = [{"tenant_id": TENANT, "bodies_at_edge": at_edge, "retention_days": 30}]
    return doc


@pytest.fixture
def edge(tmp_path: Path) -> Iterator[TestClient]:
    with running_edge(tmp_path / "edge", configure=False) as client:
        put = client.put("/v1/config", json=residency_config(at_edge=True), headers=NODE_HEADERS)
        assert put.status_code == 200, put.text
        yield client


def send(client: TestClient, *numbers: int) -> None:
    body = protobuf_body([make_span(n, MODEL) for n in numbers])
    response = client.post("/v1/traces", content=body, headers={**AGENT_HEADERS, **PROTOBUF})
    assert response.status_code == 200, response.text


def bodies(client: TestClient, *event_ids: str, headers: dict[str, str] = NODE_HEADERS) -> Any:
    return client.post("/v1/bodies", json={"event_ids": list(event_ids)}, headers=headers)


def test_records_carry_hashes_and_the_edge_keeps_the_bodies(edge: TestClient) -> None:
    send(edge, 1)
    (record,) = pulled_records(edge)
    pulled = edge.get("/v1/pull", headers=NODE_HEADERS).content.decode()
    assert "IBAN" not in pulled and "noted" not in pulled, "no body leaves in a pull"
    assert record["request_body"] == record["response_body"] == ""
    assert record["attributes"]["acp.edge.bodies"] == "edge"
    assert record["attributes"]["acp.edge.request_body_sha256"] == (
        hashlib.sha256(PROMPT.encode()).hexdigest()
    )
    assert record["attributes"]["acp.edge.response_body_sha256"] == (
        hashlib.sha256(ANSWER.encode()).hexdigest()
    )

    answer = bodies(edge, record["event_id"], "00000000-0000-0000-0000-000000000001")
    assert answer.status_code == 200
    assert answer.json() == {
        "bodies": [
            {
                "event_id": record["event_id"],
                "tenant_id": TENANT,
                "request_body": PROMPT,
                "response_body": ANSWER,
            }
        ],
        "missing": ["00000000-0000-0000-0000-000000000001"],
    }


def test_an_ack_frees_the_spool_but_not_the_kept_bodies(edge: TestClient) -> None:
    send(edge, 1, 2)
    records = pulled_records(edge)
    last = spool_stats(edge)["last_cursor"]
    assert edge.post("/v1/ack", json={"cursor": last}, headers=NODE_HEADERS).status_code == 200
    assert spool_stats(edge)["records"] == 0
    heartbeat = edge.get("/v1/heartbeat", headers=NODE_HEADERS).json()
    assert heartbeat["bodies"]["records"] == 2
    assert heartbeat["bodies"]["bytes"] == 2 * (len(PROMPT) + len(ANSWER))
    assert len(bodies(edge, *(r["event_id"] for r in records)).json()["bodies"]) == 2


def test_bodies_need_the_node_token_and_a_bounded_request(edge: TestClient) -> None:
    send(edge, 1)
    (record,) = pulled_records(edge)
    assert bodies(edge, record["event_id"], headers=AGENT_HEADERS).status_code == 401
    assert bodies(edge, record["event_id"], headers={}).status_code == 401
    too_many = [f"00000000-0000-0000-0000-{n:012d}" for n in range(1001)]
    assert bodies(edge, *too_many).status_code == 400
    malformed = edge.post("/v1/bodies", content=b"[1]", headers=NODE_HEADERS)
    assert malformed.status_code == 400
    assert malformed.headers["content-type"] == "application/problem+json"


def test_without_residency_the_bodies_travel_with_the_record(edge: TestClient) -> None:
    put = edge.put(
        "/v1/config", json=residency_config(at_edge=False, version=2), headers=NODE_HEADERS
    )
    assert put.status_code == 200
    send(edge, 1)
    (record,) = pulled_records(edge)
    assert record["request_body"] == PROMPT and record["response_body"] == ANSWER
    assert "acp.edge.bodies" not in record["attributes"]
    assert bodies(edge, record["event_id"]).json()["bodies"] == []


def test_bodies_past_their_retention_are_forgotten(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.sqlite3", 1 << 20)
    try:
        old = KeptBodies("e-old", TENANT, "old prompt", "")
        new = KeptBodies("e-new", TENANT, "new prompt", "answer")
        spool.append([("e-old", b"{}")], 100, bodies=[old]).result()
        spool.append([("e-new", b"{}")], 200, bodies=[new]).result()
        spool.append([("e-new", b"{}")], 300, bodies=[new]).result()  # an agent's retry
        assert spool.stats.body_records == 2
        assert spool.prune_bodies({TENANT: 150, "another-tenant": 2**62}).result() == 1
        assert spool.read_bodies(["e-old", "e-new"]) == [new]
        assert (spool.stats.body_records, spool.stats.body_bytes) == (1, len("new promptanswer"))
    finally:
        spool.close()

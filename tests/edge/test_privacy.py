"""Retention and erasure at the edge (edge/privacy.py): the control plane's orders
remove or rewrite the tenant's records in the spool and its cached answers, keep what a
legal hold covers, and answer with what they did."""

from __future__ import annotations

import time
from typing import Any

import pytest
from starlette.testclient import TestClient

from edge.gateway.cache import Entry
from edge.identifiers import TOMBSTONE
from tests.edge.conftest import (
    AGENT,
    AGENT_HEADERS,
    NODE_HEADERS,
    OTHER_AGENT,
    OTHER_TENANT,
    PROTOBUF,
    TENANT,
    make_span,
    protobuf_body,
    pulled_records,
    spool_stats,
)

START = 1_764_000_000_000_000_000  # make_span's spans start here (plus their number)


def _send(edge: TestClient, *prompts: str, trace: int = 1) -> None:
    spans = [
        make_span(
            number,
            {"gen_ai.operation.name": "chat", "gen_ai.input.messages": prompt,
             "gen_ai.output.messages": "ok", "crm.note": prompt},
            trace=trace,
        )
        for number, prompt in enumerate(prompts, start=trace * 10)
    ]  # fmt: skip
    response = edge.post(
        "/v1/traces", content=protobuf_body(spans), headers={**AGENT_HEADERS, **PROTOBUF}
    )
    assert response.status_code == 200, response.text


def _order(edge: TestClient, kind: str, **doc: Any) -> Any:
    response = edge.post(
        f"/v1/privacy/{kind}", json={"tenant_id": TENANT, **doc}, headers=NODE_HEADERS
    )
    assert response.status_code == 200, response.text
    return response.json()


def _cache(edge: TestClient, tenant: str, content: bytes, age: float) -> None:
    cache = edge.app.state.gateway.cache  # type: ignore[attr-defined]
    now = cache.clock()
    entry = Entry(
        tenant, content, "openai", "gpt-4o-mini", "gpt-4o-mini", 1, 1, 0, now - age, now + 60
    )
    cache._entries[f"{tenant}-{age}"] = entry
    cache.bytes += entry.size


def test_a_purge_deletes_old_records_strips_old_bodies_and_keeps_the_rest(edge: TestClient) -> None:
    _send(edge, "first", "second", trace=1)  # numbers 10, 11
    _send(edge, "third", trace=2)  # number 20
    _cache(edge, TENANT, b'{"answer": 1}', age=7200)
    _cache(edge, TENANT, b'{"answer": 2}', age=1)
    _cache(edge, OTHER_TENANT, b'{"answer": 3}', age=7200)

    an_hour_ago = time.time_ns() - 3600 * 10**9
    done = _order(edge, "purge", delete_before=START + 11, bodies_before=an_hour_ago)

    assert done["spool"] == {"records_deleted": 1, "bodies_removed": 2, "kept_under_hold": 0}
    assert done["cache"] == {"entries_dropped": 1}
    records = pulled_records(edge)
    assert [(r["span_id"][-2:], r["request_body"]) for r in records] == [("0b", ""), ("14", "")]
    assert spool_stats(edge)["records"] == 2
    assert len(edge.app.state.gateway.cache) == 2  # type: ignore[attr-defined]


def test_a_purge_keeps_what_a_legal_hold_covers(edge: TestClient) -> None:
    _send(edge, "first", "second")
    everyone = _order(edge, "purge", delete_before=START + 100, hold_all=True)
    agent = _order(edge, "purge", delete_before=START + 100, held_agents=[AGENT])
    other = _order(edge, "purge", delete_before=START + 100, held_agents=[OTHER_AGENT])

    assert everyone["spool"]["kept_under_hold"] == agent["spool"]["kept_under_hold"] == 2
    assert everyone["spool"]["records_deleted"] == agent["spool"]["records_deleted"] == 0
    assert other["spool"]["records_deleted"] == 2
    assert pulled_records(edge) == []


def test_an_order_for_another_tenant_changes_nothing(edge: TestClient) -> None:
    _send(edge, "mail jane@example.com")
    done = edge.post(
        "/v1/privacy/erase",
        json={
            "tenant_id": OTHER_TENANT,
            "identifiers": [{"kind": "email", "value": "jane@example.com"}],
        },
        headers=NODE_HEADERS,
    ).json()
    assert done["spool"]["records_erased"] == 0
    assert "jane@example.com" in pulled_records(edge)[0]["request_body"]


def test_find_and_erase_a_person_in_the_spool(edge: TestClient) -> None:
    _send(edge, "Mail JANE@example.com about it", "(tool call)", trace=1)
    _send(edge, "call 020 7946 0958", trace=2)
    _send(edge, "unrelated", trace=3)
    _cache(edge, TENANT, b'{"content": "for jane@example.com"}', age=1)
    identifiers = [
        {"kind": "email", "value": "jane@example.com"},
        {"kind": "phone", "value": "+44 20 7946 0958"},
    ]

    found = _order(edge, "find", identifiers=identifiers)
    assert found["spool"]["records"] == 2 and found["cache"]["entries"] == 1
    assert {r["trace_id"][-1] for r in found["spool"]["found"]} == {"1", "2"}

    erased = _order(edge, "erase", identifiers=identifiers)
    assert erased["spool"] == {"records_erased": 3, "kept_under_hold": 0}  # trace 1 whole
    assert erased["cache"] == {"entries_dropped": 1}
    records = {r["span_id"][-2:]: r for r in pulled_records(edge)}
    assert records["0a"]["request_body"] == records["0b"]["request_body"] == TOMBSTONE
    assert records["0a"]["attributes"]["crm.note"] == f"Mail {TOMBSTONE} about it"
    assert records["14"]["attributes"]["crm.note"] == f"call {TOMBSTONE}"
    assert records["1e"]["request_body"] == "unrelated"
    assert _order(edge, "find", identifiers=identifiers)["spool"]["records"] == 0


@pytest.mark.parametrize(
    ("kind", "doc", "field"),
    [
        ("purge", {"tenant_id": "not-a-uuid"}, "tenant_id"),
        ("purge", {"tenant_id": TENANT, "delete_before": -1}, "delete_before"),
        ("purge", {"tenant_id": TENANT, "held_agents": "all"}, "held_agents"),
        ("find", {"tenant_id": TENANT, "identifiers": []}, "identifiers"),
        ("erase", {"tenant_id": TENANT, "identifiers": [{"kind": "email", "value": "x"}]}, "email"),
    ],
)
def test_a_malformed_order_is_refused_naming_the_field(
    edge: TestClient, kind: str, doc: dict[str, Any], field: str
) -> None:
    response = edge.post(f"/v1/privacy/{kind}", json=doc, headers=NODE_HEADERS)
    assert response.status_code == 400
    assert field in response.json()["detail"]


def test_orders_need_the_node_token(edge: TestClient) -> None:
    response = edge.post("/v1/privacy/purge", json={"tenant_id": TENANT}, headers=AGENT_HEADERS)
    assert response.status_code == 401

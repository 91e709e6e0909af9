"""The spool through the control-plane API: pull, ack, size bound, restarts, heartbeat,
and the node token that guards them."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from edge.spool import Spool, SpoolFullError, SpoolUnavailableError

from .conftest import (
    AGENT_HEADERS,
    AGENT_KEY,
    NODE,
    NODE_HEADERS,
    PROTOBUF,
    make_span,
    protobuf_body,
    pull,
    pulled_records,
    running_edge,
    spool_stats,
)


def ingest(client: TestClient, *numbers: int, attributes: dict[str, str] | None = None) -> int:
    body = protobuf_body([make_span(number, attributes) for number in numbers])
    response = client.post("/v1/traces", content=body, headers={**AGENT_HEADERS, **PROTOBUF})
    return response.status_code


def span_numbers(client: TestClient, after: int = 0) -> list[int]:
    return [int(record["span_id"], 16) for record in pulled_records(client, after)]


def ack(client: TestClient, cursor: int) -> int:
    response = client.post("/v1/ack", json={"cursor": cursor}, headers=NODE_HEADERS)
    assert response.status_code == 200, response.text
    acked: int = response.json()["acked_cursor"]
    return acked


def test_pull_pages_through_records_oldest_first(edge: TestClient) -> None:
    assert ingest(edge, 1, 2, 3) == 200
    assert ingest(edge, 4, 5) == 200

    first = pull(edge, after=0, limit=2)
    assert first.headers["content-type"] == "application/x-ndjson"
    assert (first.headers["X-ACP-Count"], first.headers["X-ACP-Next-Cursor"]) == ("2", "2")
    lines = first.content.split(b"\n")
    assert len(lines) == 3 and lines[-1] == b"", "one record per line, newline-terminated"

    rest = pull(edge, after=2)
    assert (rest.headers["X-ACP-Count"], rest.headers["X-ACP-Next-Cursor"]) == ("3", "5")
    empty = pull(edge, after=5)
    assert (empty.headers["X-ACP-Count"], empty.headers["X-ACP-Next-Cursor"], empty.content) == (
        "0",
        "5",
        b"",
    )
    assert span_numbers(edge) == [1, 2, 3, 4, 5]


def test_pull_serves_the_stored_bytes_verbatim(edge: TestClient) -> None:
    ingest(edge, 1, attributes={"note": 'caf\u00e9 \u2603 \\n "quoted"'})
    line = pull(edge).content.rstrip(b"\n")
    assert b"\n" not in line
    assert "caf\u00e9 \u2603".encode() in line


def test_ack_deletes_up_to_the_cursor_and_is_idempotent(edge: TestClient) -> None:
    ingest(edge, 1, 2, 3, 4)

    assert ack(edge, 2) == 2
    assert span_numbers(edge) == [3, 4]
    assert ack(edge, 2) == 2, "acking again is a no-op"
    assert ack(edge, 1) == 2, "acking below the current ack is a no-op"
    assert span_numbers(edge) == [3, 4]
    assert span_numbers(edge, after=0) == span_numbers(edge, after=2)


def test_ack_beyond_the_last_record_is_refused(edge: TestClient) -> None:
    ingest(edge, 1)
    response = edge.post("/v1/ack", json={"cursor": 2}, headers=NODE_HEADERS)
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert span_numbers(edge) == [1]


@pytest.mark.parametrize(
    "body", [b"", b"{", b"[]", b'{"cursor": -1}', b'{"cursor": "3"}', b'{"cursor": true}']
)
def test_a_malformed_ack_is_refused(edge: TestClient, body: bytes) -> None:
    ingest(edge, 1)
    response = edge.post("/v1/ack", content=body, headers=NODE_HEADERS)
    assert response.status_code == 400
    assert span_numbers(edge) == [1]


@pytest.mark.parametrize("query", ["after=-1", "after=x", "limit=0", "limit=ten"])
def test_malformed_pull_parameters_are_refused(edge: TestClient, query: str) -> None:
    assert edge.get(f"/v1/pull?{query}", headers=NODE_HEADERS).status_code == 400


def test_pull_limit_is_capped(edge: TestClient) -> None:
    ingest(edge, *range(1, 12))
    assert pull(edge, limit=10**9).headers["X-ACP-Count"] == "11"


def test_restart_keeps_unacked_records_and_the_acked_cursor(tmp_path: Path) -> None:
    with running_edge(tmp_path / "edge") as edge:
        ingest(edge, 1, 2, 3)
        ack(edge, 1)

    with running_edge(tmp_path / "edge", configure=False) as edge:
        assert spool_stats(edge)["acked_cursor"] == 1
        response = pull(edge, after=1)
        assert response.headers["X-ACP-Next-Cursor"] == "3"
        assert span_numbers(edge, after=1) == [2, 3], "not acked, so served again"


def test_cursors_are_never_reused_even_after_everything_was_acked(tmp_path: Path) -> None:
    with running_edge(tmp_path / "edge") as edge:
        ingest(edge, 1, 2)
        ack(edge, 2)
        assert spool_stats(edge)["records"] == 0

    with running_edge(tmp_path / "edge", configure=False) as edge:
        assert ingest(edge, 3) == 200, "the persisted configuration still authenticates"
        response = pull(edge, after=2)
        assert (response.headers["X-ACP-Count"], response.headers["X-ACP-Next-Cursor"]) == (
            "1",
            "3",
        )


def test_a_full_spool_answers_503_and_keeps_what_it_accepted(tmp_path: Path) -> None:
    with running_edge(tmp_path / "edge", max_spool_bytes=6000) as edge:
        accepted = 0
        while (status := ingest(edge, accepted + 1)) == 200:
            accepted += 1
        assert accepted >= 3

        refused = edge.post(
            "/v1/traces",
            content=protobuf_body([make_span(99)]),
            headers={**AGENT_HEADERS, **PROTOBUF},
        )
        assert (status, refused.status_code) == (503, 503)
        assert int(refused.headers["Retry-After"]) > 0
        assert refused.headers["content-type"] == "application/x-protobuf"  # an OTLP Status
        stats = spool_stats(edge)
        assert stats["records"] == accepted and stats["bytes"] <= stats["max_bytes"] == 6000
        assert span_numbers(edge) == list(range(1, accepted + 1))

        ack(edge, 2)
        assert ingest(edge, 99) == 200
        assert span_numbers(edge) == [*range(3, accepted + 1), 99]


def test_heartbeat_reports_the_spool_and_the_host(tmp_path: Path) -> None:
    with running_edge(tmp_path / "edge") as edge:
        response = edge.get("/v1/heartbeat", headers=NODE_HEADERS)
        beat = response.json()
        assert beat["node_id"] == NODE and beat["config_version"] == 1
        assert beat["version"] == "0.1.0" and beat["uptime_seconds"] >= 0
        assert beat["started_at"].endswith("+00:00")
        assert beat["spool"] == {
            "records": 0,
            "bytes": 0,
            "max_bytes": 1 << 30,
            "oldest_unpulled_unix_nano": None,
            "acked_cursor": 0,
            "last_cursor": 0,
        }
        for name in ("cpu_percent", "memory_percent", "disk_percent"):
            assert 0 <= beat["host"][name] <= 100

        before = time.time_ns()
        ingest(edge, 1, 2)
        time.sleep(0.01)
        ingest(edge, 3)
        spool = spool_stats(edge)
        first, second, _third = pulled_records(edge)
        assert (spool["records"], spool["last_cursor"], spool["acked_cursor"]) == (3, 3, 0)
        assert spool["bytes"] == len(pull(edge).content) - 3, "the bodies, without newlines"
        assert spool["oldest_unpulled_unix_nano"] == first["received_at_unix_nano"] >= before

        ack(edge, 2)
        spool = spool_stats(edge)
        assert (spool["records"], spool["acked_cursor"]) == (1, 2)
        assert spool["oldest_unpulled_unix_nano"] > second["received_at_unix_nano"]

        ack(edge, 3)
        assert spool_stats(edge)["oldest_unpulled_unix_nano"] is None

    with running_edge(tmp_path / "edge", configure=False) as edge:
        spool = spool_stats(edge)
        assert (spool["records"], spool["bytes"], spool["last_cursor"]) == (0, 0, 3)


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/v1/pull"), ("POST", "/v1/ack"), ("GET", "/v1/heartbeat"), ("PUT", "/v1/config")],
)
@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong-token", f"Bearer {AGENT_KEY}", "acpn_node-token"]
)
def test_control_plane_endpoints_need_the_node_token(
    edge: TestClient, method: str, path: str, authorization: str | None
) -> None:
    ingest(edge, 1)
    headers = {"Authorization": authorization} if authorization else {}
    response = edge.request(method, path, json={"cursor": 1}, headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert span_numbers(edge) == [1]


def test_concurrent_appends_are_each_stored_whole(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.sqlite3", max_bytes=1 << 30)
    try:

        def writer(worker: int) -> None:
            for batch in range(20):
                records = [(f"{worker}-{batch}-{n}", b"x" * 100) for n in range(10)]
                spool.append(records, received_at=batch).result(timeout=10)

        threads = [threading.Thread(target=writer, args=(worker,)) for worker in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        rows = spool.read(after=0, limit=10000, max_bytes=1 << 30)
        assert len(rows) == spool.stats.records == spool.stats.last_cursor == 8 * 20 * 10
        assert [cursor for cursor, _ in rows] == list(range(1, 1601))
    finally:
        spool.close()


def test_requests_that_do_not_fit_are_refused_whole(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.sqlite3", max_bytes=250)
    try:
        spool.append([("a", b"x" * 100), ("b", b"x" * 100)], 1).result()
        with pytest.raises(SpoolFullError):
            spool.append([("c", b"x" * 30), ("d", b"x" * 30)], 2).result()
        spool.append([("e", b"x" * 50)], 3).result()
        assert [body for _, body in spool.read(0, 10, 1 << 20)] == [b"x" * 100] * 2 + [b"x" * 50]
    finally:
        spool.close()


def test_pull_responses_are_bounded_in_bytes(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.sqlite3", max_bytes=1 << 30)
    try:
        spool.append([(str(n), b"x" * 400) for n in range(10)], 1).result()
        assert len(spool.read(0, 100, max_bytes=1000)) == 2
        assert len(spool.read(0, 100, max_bytes=10)) == 1, "always at least one record"
    finally:
        spool.close()


def test_a_full_disk_fails_the_request_whole_and_the_spool_recovers(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.sqlite3", max_bytes=1 << 30)
    try:
        spool.append([("a", b"x" * 100)], 1).result()
        # SQLite reports a page limit exactly as a full disk (SQLITE_FULL).
        writer = spool._writer
        (pages,) = writer.execute("PRAGMA page_count").fetchone()
        writer.execute(f"PRAGMA max_page_count = {pages}")
        with pytest.raises(SpoolUnavailableError, match="full"):
            spool.append([("b", b"y" * 50_000), ("c", b"z" * 50_000)], 2).result()
        assert (spool.stats.records, spool.stats.last_cursor) == (1, 1)
        assert [body for _, body in spool.read(0, 10, 1 << 20)] == [b"x" * 100]

        writer.execute("PRAGMA max_page_count = 1073741823")
        spool.append([("d", b"w" * 50_000)], 3).result()
        assert [cursor for cursor, _ in spool.read(0, 10, 1 << 20)] == [1, 2]
    finally:
        spool.close()


def test_budget_spend_is_kept_with_the_records_and_survives_a_reopen(tmp_path: Path) -> None:
    from decimal import Decimal

    path = tmp_path / "spool.sqlite3"
    spool = Spool(path, max_bytes=100)
    key = ("budget-1", "2026-11-26T00:00:00+00:00")
    spool.append([("e1", b"x" * 10)], 1, [(key, Decimal("0.10"))]).result()
    spool.append([("e2", b"x" * 10)], 2, [(key, Decimal("0.0000001"))]).result()
    # Too big for the spool: the record is refused, the money it cost is still counted.
    with pytest.raises(SpoolFullError):
        spool.append([("e3", b"x" * 200)], 3, [(key, Decimal("1"))]).result()
    assert spool.spend_totals() == {key: Decimal("1.1000001")}
    assert spool.stats.records == 2
    spool.close()
    reopened = Spool(path, max_bytes=100)
    try:
        assert reopened.spend_totals() == {key: Decimal("1.1000001")}
    finally:
        reopened.close()

"""The store interface, run against both implementations (chDB and HTTP)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import threading
import uuid
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest
from pytest_django import Settings as SettingsWrapper

from controlplane.analytics import StoreError, get_store, reset_store
from controlplane.analytics.chdb_server import ClickHouseHttpServer
from controlplane.analytics.chdb_store import ChdbStore
from controlplane.analytics.http_store import HttpStore
from controlplane.analytics.store import AnalyticsStore

EVENTS_DDL = """
CREATE TABLE events
(
    id UUID,
    name String,
    at DateTime64(6, 'UTC'),
    tags Array(String),
    amount Decimal(18, 9)
)
ENGINE = MergeTree ORDER BY id
SETTINGS non_replicated_deduplication_window = 100
"""
COLUMNS = ("id", "name", "at", "tags", "amount")
T0 = dt.datetime(2026, 1, 5, 8, 30, 0, 123456, tzinfo=dt.UTC)


def make_events(store: AnalyticsStore, *names: str) -> list[uuid.UUID]:
    store.command(EVENTS_DDL)
    ids = [uuid.uuid4() for _ in names]
    rows = [
        [ids[i], name, T0 + dt.timedelta(hours=i), [name, f"n{i}"], Decimal(i) / 4]
        for i, name in enumerate(names)
    ]
    store.insert("events", rows, COLUMNS)
    return ids


def names(store: AnalyticsStore, where: str, params: dict[str, object]) -> list[str]:
    rows = store.query(f"SELECT name FROM events WHERE {where} ORDER BY at", params)
    return [row["name"] for row in rows]


def test_typed_parameters_select_the_right_rows(store: AnalyticsStore) -> None:
    ids = make_events(store, "alpha", "beta", "gamma")

    assert names(store, "name = {n:String}", {"n": "beta"}) == ["beta"]
    assert names(store, "id = {id:UUID}", {"id": ids[2]}) == ["gamma"]
    assert names(store, "at >= {t:DateTime64(6, 'UTC')}", {"t": T0 + dt.timedelta(hours=1)}) == [
        "beta",
        "gamma",
    ]
    # Microseconds count: one microsecond later than the first row excludes it.
    after_first = {"t": T0 + dt.timedelta(microseconds=1)}
    assert names(store, "at >= {t:DateTime64(6, 'UTC')}", after_first) == ["beta", "gamma"]
    assert names(store, "hasAny(tags, {t:Array(String)})", {"t": ["gamma", "alpha"]}) == [
        "alpha",
        "gamma",
    ]
    assert names(store, "id IN {ids:Array(UUID)}", {"ids": [ids[0], ids[1]]}) == ["alpha", "beta"]


def test_rows_come_back_with_python_types(store: AnalyticsStore) -> None:
    ids = make_events(store, "alpha")

    [row] = store.query(
        "SELECT id, name, at, tags, amount, toStartOfHour(at) AS hour, count() OVER () AS n "
        "FROM events"
    )

    assert row == {
        "id": ids[0],
        "name": "alpha",
        "at": T0,
        "tags": ["alpha", "n0"],
        "amount": Decimal(0),
        "hour": T0.replace(minute=0, second=0, microsecond=0),  # DateTime, not a number
        "n": 1,
    }


def test_a_parameter_is_a_value_never_sql(store: AnalyticsStore) -> None:
    hostile = "x' OR 1=1; DROP TABLE events; --"
    make_events(store, "alpha", hostile)

    assert names(store, "name = {n:String}", {"n": hostile}) == [hostile]
    assert names(store, "name = {n:String}", {"n": "' OR '1'='1"}) == []
    assert names(store, "has(tags, {t:String})", {"t": "\\'); DROP TABLE events; --"}) == []
    assert store.query("SELECT count() AS c FROM events") == [{"c": 2}]


def test_a_parameter_without_placeholder_is_refused(store: AnalyticsStore) -> None:
    with pytest.raises(ValueError, match="typo"):
        store.query("SELECT {n:UInt8} AS n", {"n": 1, "typo": 2})


def test_insert_and_read_back_rows_and_arrow_tables(store: AnalyticsStore) -> None:
    store.command(EVENTS_DDL)
    first = uuid.uuid4()
    store.insert("events", [[first, "row", T0, ["a"], Decimal("1.5")]], COLUMNS)
    # Columns in another order, UUIDs as text: how the telemetry pipeline builds batches.
    second = uuid.uuid4()
    table = pa.table(
        {
            "tags": pa.array([["b", "c"]]),
            "name": pa.array(["arrow"]),
            "id": pa.array([str(second)]),
            "at": pa.array([T0 + dt.timedelta(days=1)], pa.timestamp("us", tz="UTC")),
            "amount": pa.array([Decimal("0.000000001")], pa.decimal128(18, 9)),
        }
    )
    store.insert("events", table, COLUMNS)
    store.insert("events", [], COLUMNS)  # nothing to do

    assert store.query("SELECT * FROM events ORDER BY at") == [
        {"id": first, "name": "row", "at": T0, "tags": ["a"], "amount": Decimal("1.5")},
        {
            "id": second,
            "name": "arrow",
            "at": T0 + dt.timedelta(days=1),
            "tags": ["b", "c"],
            "amount": Decimal("0.000000001"),
        },
    ]


def test_a_batch_sent_again_with_its_token_is_stored_once(store: AnalyticsStore) -> None:
    store.command(EVENTS_DDL)
    batch = [[uuid.uuid4(), f"e{i}", T0, [], Decimal(0)] for i in range(3)]

    store.insert("events", batch, COLUMNS, dedup_token="node-1:0:3")
    store.insert("events", batch, COLUMNS, dedup_token="node-1:0:3")
    assert store.query("SELECT count() AS c FROM events") == [{"c": 3}]

    store.insert("events", batch, COLUMNS, dedup_token="node-1:3:6")
    assert store.query("SELECT count() AS c FROM events") == [{"c": 6}]


def test_a_failed_insert_does_not_use_up_its_token(store: AnalyticsStore) -> None:
    store.command(EVENTS_DDL)
    bad = [["not-a-uuid", "bad", T0, [], Decimal(0)]]
    good = [[uuid.uuid4(), "good", T0, [], Decimal(0)]]

    with pytest.raises(StoreError) as failure:
        store.insert("events", bad, COLUMNS, dedup_token="batch-7")
    assert failure.value.code == 376  # CANNOT_PARSE_UUID

    store.insert("events", good, COLUMNS, dedup_token="batch-7")
    store.insert("events", [[uuid.uuid4(), "other", T0, [], Decimal(0)]], COLUMNS)
    assert sorted(names(store, "1", {})) == ["good", "other"]


def test_table_and_column_names_must_be_identifiers(store: AnalyticsStore) -> None:
    store.command(EVENTS_DDL)
    row = [[uuid.uuid4(), "x", T0, [], Decimal(0)]]

    with pytest.raises(ValueError, match="table name"):
        store.insert("events; DROP TABLE events", row, COLUMNS)
    with pytest.raises(ValueError, match="column name"):
        store.insert("events", row, ("id", "name", "at", "tags", "amount`) --"))
    with pytest.raises(ValueError, match="3 values for 5 columns"):
        store.insert("events", [[uuid.uuid4(), "x", T0]], COLUMNS)
    assert store.query("SELECT count() AS c FROM events") == [{"c": 0}]


def test_clickhouse_errors_are_store_errors_with_their_code(store: AnalyticsStore) -> None:
    with pytest.raises(StoreError) as failure:
        store.query("SELECT * FROM no_such_table")
    assert failure.value.code == 60  # UNKNOWN_TABLE

    with pytest.raises(StoreError) as failure:
        store.command("CREATE TABLE broken (")
    assert failure.value.code == 62  # SYNTAX_ERROR


def test_ping_reports_the_engine(store: AnalyticsStore) -> None:
    info = store.ping()

    assert info["ok"] is True
    assert info["engine"] == store.engine
    assert info["database"] == store.database
    assert info["version"].startswith("26.")


def test_ping_reports_a_server_that_went_away(chdb_path: Path, database: str) -> None:
    with ClickHouseHttpServer(chdb_path) as server:
        store = HttpStore(server.dsn, database, send_receive_timeout=2)
        assert store.ping()["ok"] is True

    info = store.ping()

    assert info["ok"] is False
    assert "Max retries exceeded" in info["error"]
    ChdbStore(chdb_path, database).command("DROP DATABASE {db:Identifier} SYNC", {"db": database})


def test_threads_query_and_insert_at_once(chdb_store: ChdbStore) -> None:
    chdb_store.command(EVENTS_DDL)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(10):
                chdb_store.insert(
                    "events", [[uuid.uuid4(), f"{n}-{i}", T0, [], Decimal(0)]], COLUMNS
                )
                chdb_store.query("SELECT count() FROM events")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert chdb_store.query("SELECT count() AS c FROM events") == [{"c": 40}]


def test_http_store_goes_over_http(
    http_store: HttpStore, clickhouse_http: ClickHouseHttpServer
) -> None:
    before = clickhouse_http.requests
    ids = [uuid.uuid4() for _ in range(300)]  # long enough to be sent as a multipart form

    rows = http_store.query("SELECT length({ids:Array(UUID)}) AS n", {"ids": ids})

    assert rows == [{"n": 300}]
    assert clickhouse_http.requests > before


def test_get_store_follows_the_settings(
    settings: SettingsWrapper,
    fresh_get_store: None,
    chdb_path: Path,
    clickhouse_http: ClickHouseHttpServer,
    database: str,
) -> None:
    settings.CLICKHOUSE_URL = None
    settings.CHDB_PATH = chdb_path
    settings.CLICKHOUSE_DATABASE = database

    embedded = get_store()
    assert isinstance(embedded, ChdbStore)
    assert get_store() is embedded
    assert embedded.query("SELECT currentDatabase() AS db") == [{"db": database}]

    reset_store()
    settings.CLICKHOUSE_URL = clickhouse_http.dsn
    server = get_store()
    assert isinstance(server, HttpStore)
    assert server.query("SELECT currentDatabase() AS db") == [{"db": database}]
    server.command("DROP DATABASE {db:Identifier} SYNC", {"db": database})


def test_a_second_process_is_told_who_holds_the_directory(chdb_store: ChdbStore) -> None:
    script = (
        "import sys\n"
        "from controlplane.analytics.chdb_store import ChdbStore\n"
        "from controlplane.analytics.store import StoreError\n"
        "try:\n"
        "    ChdbStore(sys.argv[1])\n"
        "except StoreError as exc:\n"
        "    print(exc)\n"
        "    sys.exit(3)\n"
    )
    child = subprocess.run(
        [sys.executable, "-c", script, str(chdb_store.path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
        check=False,
    )

    assert child.returncode == 3, child.stderr
    assert "a directory serves one process" in child.stdout
    assert f"PID {os.getpid()}" in child.stdout

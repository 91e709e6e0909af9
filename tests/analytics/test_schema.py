"""The telemetry schema of migrations/0001: spans, its rollup and retention."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from pathlib import Path

from controlplane.analytics.chdb_server import ClickHouseHttpServer
from controlplane.analytics.chdb_store import ChdbStore
from controlplane.analytics.http_store import HttpStore
from controlplane.analytics.migrations_runner import migrate
from controlplane.analytics.store import AnalyticsStore
from tests.analytics.helpers import AGENT, MINUTE, TENANT, insert_spans, span

ROLLUP = """
SELECT minute, agent_id, status, sum(requests) AS requests, sum(errors) AS errors,
       sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
       sum(cost) AS cost, sum(duration_ms_sum) AS duration_ms_sum,
       max(duration_ms_max) AS duration_ms_max,
       quantileTimingMerge(0.5)(duration_ms_timing) AS p50
FROM spans_minute
WHERE tenant_id = {tenant:UUID}
GROUP BY minute, agent_id, status
ORDER BY minute, agent_id, status
"""


def rollup(store: AnalyticsStore) -> list[dict[str, object]]:
    return store.query(ROLLUP, {"tenant": TENANT})


def test_the_materialized_view_rolls_spans_up_per_minute(migrated: AnalyticsStore) -> None:
    other_agent = uuid.uuid4()
    later = MINUTE + dt.timedelta(minutes=1)
    insert_spans(
        migrated,
        [
            span(input_tokens=100, output_tokens=10, cost=Decimal("0.5")),
            span(
                input_tokens=200,
                output_tokens=20,
                cost=Decimal("0.25"),
                end_time=MINUTE + dt.timedelta(seconds=5, milliseconds=750),
            ),
            span(
                input_tokens=0,
                output_tokens=0,
                cost=Decimal(0),
                end_time=MINUTE + dt.timedelta(seconds=5, milliseconds=100),
            ),
            span(status="error", input_tokens=0, output_tokens=0, cost=Decimal(0)),
            span(agent_id=other_agent, start_time=later, end_time=later),
            span(tenant_id=uuid.uuid4()),  # another tenant's span is not in this rollup
        ],
    )

    rows = rollup(migrated)

    assert rows[:2] == [
        {
            "minute": MINUTE,
            "agent_id": AGENT,
            "status": "error",
            "requests": 1,
            "errors": 1,
            "input_tokens": 0,
            "output_tokens": 0,
            "cost": Decimal(0),
            "duration_ms_sum": 250.0,
            "duration_ms_max": 250.0,
            "p50": 250.0,
        },
        {
            "minute": MINUTE,
            "agent_id": AGENT,
            "status": "ok",
            "requests": 3,
            "errors": 0,
            "input_tokens": 300,
            "output_tokens": 30,
            "cost": Decimal("0.75"),
            "duration_ms_sum": 1100.0,
            "duration_ms_max": 750.0,
            "p50": 250.0,
        },
    ]
    assert [(row["minute"], row["agent_id"], row["requests"]) for row in rows[2:]] == [
        (later, other_agent, 1)
    ]
    # One latency state per row: the t-digest nothing read is gone (migration 0013).
    columns = migrated.query(
        "SELECT name FROM system.columns "
        "WHERE database = currentDatabase() AND table = 'spans_minute' ORDER BY position"
    )
    assert [c["name"] for c in columns if c["name"].startswith("duration_ms_")] == [
        "duration_ms_sum",
        "duration_ms_max",
        "duration_ms_timing",
    ]


def test_a_replayed_batch_counts_once_in_spans_and_rollup(migrated: AnalyticsStore) -> None:
    batch = [span(), span(), span(status="error")]

    insert_spans(migrated, batch, token="edge-1:100:103")
    insert_spans(migrated, batch, token="edge-1:100:103")

    assert migrated.query("SELECT count() AS n FROM spans") == [{"n": 3}]
    assert [(row["status"], row["requests"]) for row in rollup(migrated)] == [
        ("error", 1),
        ("ok", 2),
    ]


def test_a_replay_without_the_token_collapses_on_event_id(migrated: AnalyticsStore) -> None:
    batch = [span(), span()]
    insert_spans(migrated, batch, token="pull-1")
    insert_spans(migrated, [batch[0]], token="repair-1")  # same event, another batch

    assert migrated.query("SELECT count() AS n FROM spans") == [{"n": 3}]
    assert migrated.query("SELECT count() AS n FROM spans FINAL") == [{"n": 2}]
    assert migrated.query("SELECT uniqExact(event_id) AS n FROM spans") == [{"n": 2}]


def test_defaults_and_no_removal_by_ttl(migrated: AnalyticsStore) -> None:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    old = now - dt.timedelta(days=500)
    recent = span(start_time=now, end_time=now + dt.timedelta(milliseconds=1500))
    expired = span(start_time=old, end_time=old)
    kept = span(start_time=old, end_time=old, retention_days=1000)
    columns = [name for name in recent if name != "retention_days"]
    migrated.insert(
        "spans", [[row[name] for name in columns] for row in (recent, expired)], columns
    )
    insert_spans(migrated, [kept])

    [row] = migrated.query(
        "SELECT duration_ms, retention_days, ingested_at FROM spans WHERE event_id = {e:UUID}",
        {"e": recent["event_id"]},
    )
    assert row["duration_ms"] == 1500.0
    assert row["retention_days"] == 395
    assert abs(row["ingested_at"] - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=1)

    # Rows past their retention_days stay until the retention task removes and counts
    # them (docs/decisions/0035-retention-everywhere.md): no TTL drops them on a merge.
    migrated.command("OPTIMIZE TABLE spans FINAL")
    remaining = migrated.query("SELECT event_id FROM spans ORDER BY start_time, event_id")
    assert {r["event_id"] for r in remaining} == {
        kept["event_id"],
        expired["event_id"],
        recent["event_id"],
    }


SAME_RESULT_QUERIES: list[tuple[str, dict[str, object]]] = [
    (
        """
        SELECT toStartOfHour(start_time) AS hour, count() AS events,
               sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens
        FROM (
            SELECT start_time, input_tokens, output_tokens FROM spans
            WHERE tenant_id = {tenant_id:UUID}
              AND start_time >= {since:DateTime64(6, 'UTC')}
              AND start_time < {until:DateTime64(6, 'UTC')}
            LIMIT 1 BY event_id
        )
        GROUP BY hour ORDER BY hour
        """,
        {
            "tenant_id": TENANT,
            "since": MINUTE - dt.timedelta(days=1),
            "until": MINUTE + dt.timedelta(days=1),
        },
    ),
    (
        """
        SELECT trace_id, min(start_time) AS started_at, count() AS spans, sum(cost) AS cost,
               argMin(name, start_time) AS root_name
        FROM spans
        WHERE tenant_id = {tenant_id:UUID}
          AND ({agent_id:Nullable(UUID)} IS NULL OR agent_id = {agent_id:Nullable(UUID)})
        GROUP BY trace_id
        HAVING {status:Nullable(String)} IS NULL OR any(status) = {status:Nullable(String)}
        ORDER BY started_at DESC, trace_id
        LIMIT {limit:UInt32}
        """,
        {"tenant_id": TENANT, "agent_id": None, "status": None, "limit": 10},
    ),
    (
        "SELECT * EXCEPT (ingested_at) FROM spans FINAL WHERE tenant_id = {tenant_id:UUID} "
        "AND has({kinds:Array(String)}, kind) ORDER BY start_time, event_id",
        {"tenant_id": TENANT, "kinds": ["model", "tool"]},
    ),
    (ROLLUP, {"tenant": TENANT}),
]


def test_the_same_sql_gives_the_same_rows_on_both_stores(
    chdb_path: Path, clickhouse_http: ClickHouseHttpServer
) -> None:
    embedded = ChdbStore(chdb_path, f"test_{uuid.uuid4().hex[:12]}")
    server = HttpStore(clickhouse_http.dsn, f"test_{uuid.uuid4().hex[:12]}")
    trace = uuid.uuid4().hex
    batch = [
        span(trace_id=trace, name="agent run", kind="step"),
        span(
            trace_id=trace,
            kind="tool",
            tool="search",
            status="timeout",
            status_message="took too long",
        ),
        span(
            start_time=MINUTE + dt.timedelta(hours=2), data_classes=[], cost=Decimal("0.000000001")
        ),
        span(request_body="é ünïcode \x00 and 'quotes'\n\t", attributes='{"k": "v;--"}'),
    ]
    try:
        for store in (embedded, server):
            migrate(store)
            insert_spans(store, batch, token="same")
        for sql, params in SAME_RESULT_QUERIES:
            expected = embedded.query_arrow(sql, params)
            assert expected.num_rows > 0
            got = server.query_arrow(sql, params)
            assert got.schema == expected.schema
            assert got.to_pylist() == expected.to_pylist()
    finally:
        for store in (embedded, server):
            store.command("DROP DATABASE IF EXISTS {db:Identifier} SYNC", {"db": store.database})
            store.close()

"""The hourly and quarter-hour rollups fed from the minute rollup (migrations/0009) hold
what aggregating the spans directly gives: the same sums, maxima and latency
percentiles, and a retried batch counts once through the chain."""

from __future__ import annotations

import datetime as dt
import random
import shutil
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

from controlplane.analytics.migrations_runner import (
    MIGRATIONS_DIR,
    migrate,
    render,
    split_statements,
)
from controlplane.analytics.store import AnalyticsStore
from tests.analytics.helpers import MINUTE, TENANT, insert_spans, span

# Each rollup: its time slot from a span's start, and the columns it groups by.
ROLLUPS = {
    "tenants_hour": ("hour", "toStartOfHour(start_time)", ["status"]),
    "tenants_quarter_hour": ("quarter_hour", "toStartOfFifteenMinutes(start_time)", ["status"]),
    "spans_hour": (
        "hour",
        "toStartOfHour(start_time)",
        ["department_id", "kind", "provider", "model", "tool", "status"],
    ),
    "agents_hour": ("hour", "toStartOfHour(start_time)", ["agent_id", "department_id", "status"]),
    "agent_models_hour": (
        "hour",
        "toStartOfHour(start_time)",
        ["agent_id", "department_id", "kind", "provider", "model", "status"],
    ),
}
LEVELS = "(0.5, 0.9, 0.95, 0.99)"


def traffic(rng: random.Random, count: int) -> list[dict[str, Any]]:
    """Spans over three hours: agents, departments, models, tools, statuses, and
    latencies from a millisecond to past quantileTiming's 30-second ceiling."""
    agents = [uuid.uuid4() for _ in range(4)]
    departments = [uuid.UUID(int=0), uuid.uuid4()]
    spans = []
    for _ in range(count):
        start = MINUTE + dt.timedelta(
            seconds=rng.randrange(3 * 3600), microseconds=rng.randrange(10**6)
        )
        kind = rng.choice(["model", "tool", "step"])
        spans.append(
            span(
                agent_id=rng.choice(agents),
                department_id=rng.choice(departments),
                kind=kind,
                provider=rng.choice(["openai", "anthropic"]) if kind == "model" else "",
                model=rng.choice(["gpt-4o", "claude-sonnet"]) if kind == "model" else "",
                tool=rng.choice(["crm.search", "mail.send"]) if kind == "tool" else "",
                status=rng.choice(["ok", "ok", "ok", "error", "timeout"]),
                start_time=start,
                end_time=start
                + dt.timedelta(
                    microseconds=rng.choice(
                        [
                            rng.randrange(1_000, 1_024_000),
                            rng.randrange(1_024_000, 30_000_000),
                            rng.randrange(30_000_000, 90_000_000),
                        ]
                    )
                ),
                input_tokens=rng.randrange(2000),
                output_tokens=rng.randrange(500),
                cost=Decimal(rng.randrange(10**6)) / 10**9,
            )
        )
    return spans


def from_rollup(store: AnalyticsStore, table: str) -> list[dict[str, Any]]:
    slot, _, keys = ROLLUPS[table]
    return store.query(
        f"SELECT {slot} AS slot, {', '.join(keys)}, sum(requests) AS requests, "
        "sum(errors) AS errors, sum(input_tokens) AS input_tokens, "
        "sum(output_tokens) AS output_tokens, sum(cost) AS cost, "
        "round(sum(duration_ms_sum), 3) AS duration_ms_sum, "
        "max(duration_ms_max) AS duration_ms_max, "
        f"quantilesTimingMerge{LEVELS}(duration_ms_timing) AS latency "
        f"FROM {table} WHERE tenant_id = {{tenant:UUID}} "
        f"GROUP BY slot, {', '.join(keys)} ORDER BY slot, {', '.join(keys)}",
        {"tenant": TENANT},
    )


def from_spans(store: AnalyticsStore, table: str) -> list[dict[str, Any]]:
    _, slot, keys = ROLLUPS[table]
    return store.query(
        f"SELECT toDateTime({slot}, 'UTC') AS slot, {', '.join(keys)}, "
        "toUInt64(count()) AS requests, toUInt64(countIf(status != 'ok')) AS errors, "
        "toUInt64(sum(input_tokens)) AS input_tokens, "
        "toUInt64(sum(output_tokens)) AS output_tokens, "
        "toDecimal128(sum(cost), 9) AS cost, round(sum(duration_ms), 3) AS duration_ms_sum, "
        f"max(duration_ms) AS duration_ms_max, quantilesTiming{LEVELS}(duration_ms) AS latency "
        "FROM (SELECT * FROM spans WHERE tenant_id = {tenant:UUID} LIMIT 1 BY event_id) "
        f"GROUP BY slot, {', '.join(keys)} ORDER BY slot, {', '.join(keys)}",
        {"tenant": TENANT},
    )


def test_chained_rollups_equal_the_spans_aggregated_directly(migrated: AnalyticsStore) -> None:
    rng = random.Random(9)
    first, second = traffic(rng, 1500), traffic(rng, 1500)
    insert_spans(migrated, first, token="edge-1:0:1500")
    insert_spans(migrated, second, token="edge-1:1500:3000")
    insert_spans(migrated, second, token="edge-1:1500:3000")  # a retried batch

    for table in ROLLUPS:
        expected = from_spans(migrated, table)
        assert sum(row["requests"] for row in expected) == 3000
        assert from_rollup(migrated, table) == expected, table


def migrations_before(tmp_path: Path, number: str) -> Path:
    """A directory holding the shipped migrations numbered below ``number``: a store as
    it was before that migration."""
    earlier = tmp_path / f"before_{number}"
    earlier.mkdir()
    for migration in sorted(MIGRATIONS_DIR.glob("*.sql")):
        if migration.name < number:
            shutil.copy(migration, earlier)
    return earlier


def test_minutes_written_before_the_timing_state_get_one_from_their_spans(
    store: AnalyticsStore, tmp_path: Path
) -> None:
    """A store that took spans before migration 0009 gave spans_minute its quantileTiming
    state: after 0012 every minute's latency is its spans', and the hourly tables chained
    from spans_minute (whose states held those spans already) count them once."""
    migrate(store, directory=migrations_before(tmp_path, "0009"))
    insert_spans(store, traffic(random.Random(4), 1200), token="edge-1:0:1200")

    migrate(store)

    minutes = store.query(
        "SELECT minute, agent_id, kind, status, "
        f"quantilesTimingMerge{LEVELS}(duration_ms_timing) AS latency, "
        "sum(requests) AS requests FROM spans_minute WHERE tenant_id = {tenant:UUID} "
        "GROUP BY minute, agent_id, kind, status ORDER BY minute, agent_id, kind, status",
        {"tenant": TENANT},
    )
    expected = store.query(
        "SELECT toStartOfMinute(start_time) AS minute, agent_id, kind, status, "
        f"quantilesTiming{LEVELS}(duration_ms) AS latency, count() AS requests "
        "FROM spans WHERE tenant_id = {tenant:UUID} "
        "GROUP BY minute, agent_id, kind, status ORDER BY minute, agent_id, kind, status",
        {"tenant": TENANT},
    )
    assert sum(row["requests"] for row in minutes) == 1200
    assert minutes == expected
    for table in ROLLUPS:
        assert from_rollup(store, table) == from_spans(store, table), table
    tables = {row["name"] for row in store.query("SHOW TABLES")}
    assert "spans_minute_timing_backfill" not in tables


def _minute_rows(store: AnalyticsStore) -> list[dict[str, Any]]:
    return store.query(
        "SELECT minute, agent_id, department_id, kind, provider, model, tool, status, "
        "sum(requests) AS requests, sum(cost) AS cost, "
        f"quantilesTimingMerge{LEVELS}(duration_ms_timing) AS latency FROM spans_minute "
        "WHERE tenant_id = {tenant:UUID} "
        "GROUP BY minute, agent_id, department_id, kind, provider, model, tool, status "
        "ORDER BY minute, agent_id, department_id, kind, provider, model, tool, status",
        {"tenant": TENANT},
    )


def _minute_table_ddl(store: AnalyticsStore) -> str:
    [row] = store.query(
        "SELECT create_table_query FROM system.tables "
        "WHERE database = currentDatabase() AND name = 'spans_minute'"
    )
    return str(row["create_table_query"])


def test_the_minute_rollup_rebuilt_with_finer_granules_keeps_its_rows_and_views(
    store: AnalyticsStore, tmp_path: Path
) -> None:
    """Migration 0014 rebuilds spans_minute with 1,024-row granules: the rows it had stay,
    the views write into the new table and through it into the chained tables, and the
    file run again (after a failure half-way) changes nothing."""
    migrate(store, directory=migrations_before(tmp_path, "0014"))
    rng = random.Random(14)
    insert_spans(store, traffic(rng, 1200), token="edge-1:0:1200")
    before = _minute_rows(store)
    assert "index_granularity = 1024" not in _minute_table_ddl(store)

    migrate(store)

    assert "index_granularity = 1024" in _minute_table_ddl(store)
    assert _minute_rows(store) == before
    insert_spans(store, traffic(rng, 800), token="edge-1:1200:2000")
    assert sum(row["requests"] for row in _minute_rows(store)) == 2000
    for table in ROLLUPS:
        assert from_rollup(store, table) == from_spans(store, table), table

    migrated_rows = _minute_rows(store)
    rebuild = next(MIGRATIONS_DIR.glob("0014_*.sql")).read_text()
    for statement in split_statements(rebuild):
        store.command(render(statement))

    after_again = _minute_rows(store)
    assert sum(row["requests"] for row in after_again) == 2000
    assert after_again == migrated_rows
    assert "index_granularity = 1024" in _minute_table_ddl(store)
    insert_spans(store, traffic(rng, 300), token="edge-1:2000:2300")
    for table in ROLLUPS:
        assert from_rollup(store, table) == from_spans(store, table), table
    tables = {row["name"] for row in store.query("SHOW TABLES")}
    assert "spans_minute_0014" not in tables

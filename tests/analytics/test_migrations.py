"""The ClickHouse migration runner and ``manage.py migrate_clickhouse``."""

from __future__ import annotations

import shutil
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from pytest_django import Settings as SettingsWrapper

from controlplane.analytics.chdb_server import ClickHouseHttpServer
from controlplane.analytics.migrations_runner import (
    MIGRATIONS_DIR,
    MigrationError,
    discover,
    migrate,
    render,
    split_statements,
    states,
)
from controlplane.analytics.store import AnalyticsStore, StoreError

TELEMETRY = (MIGRATIONS_DIR / "0001_telemetry.sql").read_text()
# Every migration the project ships, in order; the tests add theirs after these (9xxx).
SHIPPED = [migration.name for migration in discover()]


def tables(store: AnalyticsStore) -> set[str]:
    rows = store.query("SELECT name FROM system.tables WHERE database = currentDatabase()")
    return {row["name"] for row in rows}


@pytest.fixture
def migrations(tmp_path: Path) -> Path:
    directory = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, directory)
    return directory


def test_a_fresh_store_gets_every_migration_once(store: AnalyticsStore) -> None:
    assert migrate(store) == SHIPPED
    assert {"spans", "spans_minute", "spans_minute_mv", "schema_migrations"} <= tables(store)

    assert migrate(store) == []
    assert [(s.name, s.state) for s in states(store, discover())] == [
        (name, "applied") for name in SHIPPED
    ]


def test_new_files_are_applied_in_order(store: AnalyticsStore, migrations: Path) -> None:
    migrate(store, directory=migrations)
    (migrations / "9003_second.sql").write_text(
        "CREATE TABLE IF NOT EXISTS b (x UInt8)\nENGINE = $ENGINE(MergeTree, b) ORDER BY x;\n"
    )
    (migrations / "9002_first.sql").write_text(
        "-- a comment;\nCREATE TABLE IF NOT EXISTS a (x UInt8) ENGINE = $ENGINE(MergeTree, a) "
        "ORDER BY x;\n\nINSERT INTO a SELECT 1;\n"
    )
    logged: list[str] = []

    assert migrate(store, directory=migrations, log=logged.append) == ["9002_first", "9003_second"]

    assert logged == ["Applying 9002_first", "Applying 9003_second"]
    assert store.query("SELECT x FROM a") == [{"x": 1}]
    assert migrate(store, directory=migrations) == []


def test_an_applied_file_that_changed_is_refused(store: AnalyticsStore, migrations: Path) -> None:
    migrate(store, directory=migrations)
    applied = migrations / "0001_telemetry.sql"

    applied.write_text("-- edited comments are no change\n" + TELEMETRY)
    assert migrate(store, directory=migrations) == []

    applied.write_text(TELEMETRY.replace("DEFAULT 395", "DEFAULT 30"))
    (migrations / "9002_next.sql").write_text(
        "CREATE TABLE IF NOT EXISTS n (x UInt8) ENGINE = Memory;\n"
    )
    with pytest.raises(MigrationError, match="0001_telemetry has changed"):
        migrate(store, directory=migrations)
    assert "n" not in tables(store)  # nothing applied after the refusal


def test_misnamed_and_duplicate_files_are_refused(migrations: Path) -> None:
    (migrations / "0001_again.sql").write_text("SELECT 1;\n")
    with pytest.raises(MigrationError, match="number 0001 is taken"):
        discover(migrations)

    (migrations / "0001_again.sql").unlink()
    (migrations / "2_short.sql").write_text("SELECT 1;\n")
    with pytest.raises(MigrationError, match=r"NNNN_name\.sql"):
        discover(migrations)


def test_statements_split_at_semicolons_ending_a_line() -> None:
    sql = "-- heading;\nCREATE TABLE t (s String DEFAULT 'a;b')\nENGINE = Memory;\n\nSELECT 1 ;  \n"

    assert split_statements(sql) == [
        "CREATE TABLE t (s String DEFAULT 'a;b')\nENGINE = Memory",
        "SELECT 1",
    ]


def test_render_for_a_single_server() -> None:
    sql = render(TELEMETRY)

    assert "ON CLUSTER" not in sql
    assert "$" not in sql
    assert "ENGINE = ReplacingMergeTree(ingested_at)\n" in sql
    assert "ENGINE = AggregatingMergeTree()\n" in sql


def test_render_for_a_cluster() -> None:
    sql = render(TELEMETRY, cluster="analytics_cluster")

    assert "CREATE TABLE IF NOT EXISTS spans ON CLUSTER `analytics_cluster`\n" in sql
    assert "CREATE TABLE IF NOT EXISTS spans_minute ON CLUSTER `analytics_cluster`\n" in sql
    assert "spans_minute_mv ON CLUSTER `analytics_cluster` TO spans_minute" in sql
    assert (
        "ENGINE = ReplicatedReplacingMergeTree("
        "'/clickhouse/tables/{shard}/{database}/spans', '{replica}', ingested_at)\n"
    ) in sql
    assert (
        "ENGINE = ReplicatedAggregatingMergeTree("
        "'/clickhouse/tables/{shard}/{database}/spans_minute', '{replica}')\n"
    ) in sql
    assert "$" not in sql


def test_render_keeps_nested_engine_arguments_and_parameters() -> None:
    sql = "ENGINE = $ENGINE(SummingMergeTree, totals, (a, b)) WHERE x = {x:String}"

    assert render(sql) == "ENGINE = SummingMergeTree((a, b)) WHERE x = {x:String}"
    assert render(sql, "c1") == (
        "ENGINE = ReplicatedSummingMergeTree("
        "'/clickhouse/tables/{shard}/{database}/totals', '{replica}', (a, b)) WHERE x = {x:String}"
    )


@pytest.mark.parametrize(
    ("sql", "cluster", "error"),
    [
        ("ENGINE = $ENGINE(Log, t)", "", "expected \\$ENGINE\\(Family, table"),
        ("ENGINE = $ENGINE(MergeTree)", "", "expected \\$ENGINE\\(Family, table"),
        ("ENGINE = $ENGINE(MergeTree, `t`; DROP)", "", "invalid table name"),
        ("ENGINE = $ENGINE(MergeTree, t", "", "no closing parenthesis"),
        ("CREATE TABLE t $ONCLUSTER", "", "unknown placeholder \\$ONCLUSTER"),
        ("CREATE TABLE t $ON_CLUSTER", "x`; DROP", "invalid cluster"),
    ],
)
def test_render_refuses_what_it_cannot_fill(sql: str, cluster: str, error: str) -> None:
    with pytest.raises((MigrationError, ValueError), match=error):
        render(sql, cluster)


@pytest.fixture
def command_store(
    request: pytest.FixtureRequest,
    settings: SettingsWrapper,
    fresh_get_store: None,
    chdb_path: Path,
    database: str,
) -> str:
    """Settings for ``get_store()``: chDB, or the HTTP endpoint when the test asks for it."""
    settings.CHDB_PATH = chdb_path
    settings.CLICKHOUSE_DATABASE = database
    settings.CLICKHOUSE_CLUSTER = ""
    settings.CLICKHOUSE_URL = None
    if request.param == "http":
        server: ClickHouseHttpServer = request.getfixturevalue("clickhouse_http")
        settings.CLICKHOUSE_URL = server.dsn
    return str(request.param)


def run(*args: str) -> str:
    out = StringIO()
    call_command("migrate_clickhouse", *args, stdout=out)
    return out.getvalue()


@pytest.mark.parametrize("command_store", ["chdb", "http"], indirect=True)
def test_migrate_clickhouse_command(command_store: str) -> None:
    from controlplane.analytics import get_store

    assert run("--plan").split() == SHIPPED
    assert run("--list").split()[:2] == ["pending", "0001_telemetry"]

    assert run() == "".join(f"Applying {name}\n" for name in SHIPPED)
    assert run() == "No ClickHouse migrations to apply.\n"
    assert run("--plan") == "Nothing to apply.\n"
    assert run("--list").split()[:2] == ["applied", "0001_telemetry"]

    store = get_store()
    assert store.engine == command_store
    store.command(
        "INSERT INTO schema_migrations (name, checksum) SELECT '0001_telemetry', 'edited'"
    )
    with pytest.raises(CommandError, match="0001_telemetry has changed"):
        run()
    store.command("DROP DATABASE {db:Identifier} SYNC", {"db": store.database})


def test_the_cluster_ddl_is_what_the_engine_parses(chdb_store: AnalyticsStore) -> None:
    """Every shipped statement, rendered for a cluster, through ClickHouse's own parser.

    chDB has no Keeper and no cluster, so it cannot run ``ON CLUSTER`` or create a
    ``Replicated*`` table; its parser is the same as the server's, and reads back what
    the statement means: the cluster, and each table's replicated engine with its path."""
    for migration in discover():
        for statement in split_statements(render(migration.sql, cluster="analytics_cluster")):
            [row] = chdb_store.query("SELECT formatQuery({sql:String}) AS sql", {"sql": statement})
            parsed = " ".join(row["sql"].split())
            if parsed.startswith("CREATE"):
                assert " ON CLUSTER analytics_cluster " in parsed, parsed
            if parsed.startswith("CREATE TABLE"):
                table = parsed.split()[5]
                assert (
                    "ENGINE = Replicated" in parsed
                    and f"('/clickhouse/tables/{{shard}}/{{database}}/{table}', '{{replica}}'"
                    in parsed
                ), parsed


def test_a_broken_statement_is_refused_by_the_engine_parser(chdb_store: AnalyticsStore) -> None:
    with pytest.raises(StoreError, match="Syntax error"):
        chdb_store.query(
            "SELECT formatQuery({sql:String}) AS sql",
            {"sql": render("CREATE TABLE t $ON_CLUSTER (x UInt8) ORDER BY x ORDER BY y", "c")},
        )

"""ClickHouse schema migrations: numbered ``.sql`` files, applied in order, once.

Files are ``migrations/NNNN_name.sql``. Statements end with ``;`` at the end of a line;
lines starting with ``--`` are comments. Two placeholders, filled from settings only,
make one file serve a single server and a cluster. They start with ``$`` so they cannot
be taken for ClickHouse's ``{name:Type}`` parameters or its ``{shard}``/``{replica}``
macros:

``$ON_CLUSTER``
    ``ON CLUSTER `name``` when ``CLICKHOUSE_CLUSTER`` is set, else nothing.
``$ENGINE(Family, table[, engine arguments...])``
    ``Family(arguments)`` on a single server; on a cluster
    ``ReplicatedFamily('/clickhouse/tables/{shard}/{database}/table', '{replica}',
    arguments)``. Family is one of the ``*MergeTree`` engines in ``ENGINE_FAMILIES``.

Applied files are recorded in ``schema_migrations`` (name, checksum, applied_at). The
checksum covers the statements, not the comments; a changed applied file is refused:
add a new file instead. ClickHouse DDL is not transactional, so statements are written
``IF NOT EXISTS`` and a file that failed half-way can simply run again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from controlplane.analytics.store import AnalyticsStore, identifier, quote_identifier

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
ENGINE_FAMILIES = frozenset(
    {
        "MergeTree",
        "ReplacingMergeTree",
        "SummingMergeTree",
        "AggregatingMergeTree",
        "CollapsingMergeTree",
        "VersionedCollapsingMergeTree",
    }
)

_FILE_NAME = re.compile(r"(\d{4})_([a-z0-9_]+)\.sql")
_ON_CLUSTER = re.compile(r"\$ON_CLUSTER\b")
_ENGINE = re.compile(r"\$ENGINE\(")
_UNKNOWN_PLACEHOLDER = re.compile(r"\$[A-Z][A-Z_]*\b")
_STATEMENT_END = re.compile(r";[ \t]*(?:\r?\n|$)")

_HISTORY_DDL = """
CREATE TABLE IF NOT EXISTS schema_migrations $ON_CLUSTER
(
    name String,
    checksum String,
    applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = $ENGINE(ReplacingMergeTree, schema_migrations, applied_at)
ORDER BY name
"""


class MigrationError(Exception):
    pass


@dataclass(frozen=True)
class Migration:
    name: str
    sql: str

    @property
    def statements(self) -> list[str]:
        return split_statements(self.sql)

    @property
    def checksum(self) -> str:
        return hashlib.sha256(";\n".join(self.statements).encode()).hexdigest()


@dataclass(frozen=True)
class MigrationState:
    name: str
    state: str  # "applied", "pending", "changed" or "missing" (applied, file gone)
    applied_at: dt.datetime | None = None


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migration files in order; a misnamed ``.sql`` file or a reused number is an error."""
    found: dict[str, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_NAME.fullmatch(path.name)
        if match is None:
            raise MigrationError(f"{path.name}: migration files are named NNNN_name.sql")
        number = match.group(1)
        if number in found:
            raise MigrationError(f"{path.name}: number {number} is taken by {found[number].name}")
        found[number] = Migration(name=path.stem, sql=path.read_text(encoding="utf-8"))
    return [found[number] for number in sorted(found)]


def split_statements(sql: str) -> list[str]:
    lines = [line for line in sql.splitlines() if not line.lstrip().startswith("--")]
    statements = (part.strip() for part in _STATEMENT_END.split("\n".join(lines)))
    return [statement for statement in statements if statement]


def render(sql: str, cluster: str = "") -> str:
    """Fill the placeholders for a single server (``cluster=""``) or the named cluster."""
    on_cluster = f"ON CLUSTER {quote_identifier(cluster, 'cluster')}" if cluster else ""
    sql = _ON_CLUSTER.sub(on_cluster, sql)
    parts: list[str] = []
    position = 0
    for match in _ENGINE.finditer(sql):
        if match.start() < position:
            continue
        arguments, end = _arguments(sql, match.end())
        parts += [sql[position : match.start()], _engine(arguments, cluster)]
        position = end
    sql = "".join([*parts, sql[position:]])
    unknown = _UNKNOWN_PLACEHOLDER.search(sql)
    if unknown:
        raise MigrationError(f"unknown placeholder {unknown.group()}")
    return sql


def ensure_history(store: AnalyticsStore, cluster: str = "") -> None:
    store.command(render(_HISTORY_DDL, cluster))


def applied(store: AnalyticsStore) -> dict[str, tuple[str, dt.datetime]]:
    """``{name: (checksum, applied_at)}`` of every migration recorded as applied."""
    rows = store.query(
        "SELECT name, argMax(checksum, applied_at) AS last_checksum, max(applied_at) AS last_at "
        "FROM schema_migrations GROUP BY name"
    )
    return {row["name"]: (row["last_checksum"], row["last_at"]) for row in rows}


def states(
    store: AnalyticsStore, migrations: list[Migration], cluster: str = ""
) -> list[MigrationState]:
    ensure_history(store, cluster)
    done = applied(store)
    result = []
    for migration in migrations:
        if migration.name not in done:
            result.append(MigrationState(migration.name, "pending"))
            continue
        checksum, applied_at = done[migration.name]
        state = "applied" if checksum == migration.checksum else "changed"
        result.append(MigrationState(migration.name, state, applied_at))
    known = {migration.name for migration in migrations}
    result += [
        MigrationState(name, "missing", applied_at)
        for name, (_, applied_at) in sorted(done.items())
        if name not in known
    ]
    return result


def plan(store: AnalyticsStore, migrations: list[Migration], cluster: str = "") -> list[Migration]:
    """The migrations to apply, in order. Refuses if an applied file has changed."""
    by_name = {state.name: state for state in states(store, migrations, cluster)}
    changed = [name for name, state in by_name.items() if state.state == "changed"]
    if changed:
        raise MigrationError(
            f"applied migration {', '.join(changed)} has changed since it was applied "
            "(checksum differs). Restore the file and put the change in a new numbered file."
        )
    return [migration for migration in migrations if by_name[migration.name].state == "pending"]


def migrate(
    store: AnalyticsStore,
    *,
    cluster: str = "",
    directory: Path = MIGRATIONS_DIR,
    log: Callable[[str], None] | None = None,
) -> list[str]:
    """Apply every pending migration in order and return their names."""
    migrations = discover(directory)
    done = []
    for migration in plan(store, migrations, cluster):
        if log is not None:
            log(f"Applying {migration.name}")
        for statement in migration.statements:
            store.command(render(statement, cluster))
        store.command(
            "INSERT INTO schema_migrations (name, checksum) "
            "SELECT {name:String}, {checksum:String}",
            {"name": migration.name, "checksum": migration.checksum},
        )
        done.append(migration.name)
    return done


def _arguments(sql: str, start: int) -> tuple[list[str], int]:
    """The comma-separated arguments from ``start`` to the matching ``)``, and its end."""
    arguments: list[str] = []
    depth = 0
    quote = ""
    current = start
    for index in range(start, len(sql)):
        char = sql[index]
        if quote:
            if char == quote and sql[index - 1] != "\\":
                quote = ""
        elif char in "'\"`":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")" and depth:
            depth -= 1
        elif char in ",)" and not depth:
            arguments.append(sql[current:index].strip())
            current = index + 1
            if char == ")":
                return arguments, index + 1
    raise MigrationError("$ENGINE( has no closing parenthesis")


def _engine(arguments: list[str], cluster: str) -> str:
    if len(arguments) < 2 or arguments[0] not in ENGINE_FAMILIES:
        raise MigrationError(
            f"$ENGINE({', '.join(arguments)}): expected $ENGINE(Family, table[, arguments]) "
            f"with Family one of {', '.join(sorted(ENGINE_FAMILIES))}"
        )
    family, table, rest = arguments[0], identifier(arguments[1], "table name"), arguments[2:]
    if not cluster:
        return f"{family}({', '.join(rest)})"
    zookeeper = [f"'/clickhouse/tables/{{shard}}/{{database}}/{table}'", "'{replica}'"]
    return f"Replicated{family}({', '.join(zookeeper + rest)})"

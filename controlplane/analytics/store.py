"""The analytics store: one small interface to ClickHouse, embedded (chDB) or a server.

Both implementations run the same SQL, with ``{name:Type}`` parameters bound by the
server (serialised by clickhouse-connect's binder in both cases), read results as
Parquet into a ``pyarrow.Table`` and insert Arrow IPC streams, so a query returns the
same rows whichever store runs it. See docs/decisions/0003-analytics-store.md.

Reads use ClickHouse's Parquet output, not ArrowStream: the Arrow writer sends
``DateTime`` as a bare uint32 with no type information, which would turn every
``toStartOfHour()``/``minute`` bucket into an integer; the Parquet writer sends it as a
timestamp.
"""

from __future__ import annotations

import abc
import os
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC
from pathlib import Path
from typing import Any, TypeAlias

import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

READ_FORMAT = "Parquet"
INSERT_FORMAT = "ArrowStream"

# Applied to every session/client. Both stores see UTC regardless of the host's zone.
# parallel_view_processing: an insert feeds its materialized views (the dashboards'
# rollups) on parallel threads instead of one after the other (bench/README.md).
SESSION_SETTINGS: dict[str, str] = {
    "session_timezone": "UTC",
    "parallel_view_processing": "1",
    # A result is read once, whole, by the process that asked: the Parquet writer's
    # compression, bloom filters, page index and checksums only cost time (about half
    # of a small query's, docs/decisions/0051-lean-results-and-one-latency-state.md).
    "output_format_parquet_compression_method": "none",
    "output_format_parquet_write_bloom_filter": "0",
    "output_format_parquet_write_page_index": "0",
    "output_format_parquet_write_checksums": "0",
    # A dashboard refresh reads the same recent blocks of every part again: kept
    # decompressed (the server's ``uncompressed_cache_size``), they are not unpacked at
    # each read. ClickHouse leaves large reads out of the cache by itself
    # (``merge_tree_max_rows_to_use_cache``). docs/decisions/0055-short-reads.md.
    "use_uncompressed_cache": "1",
}

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*):[^{}]+\}")
_ERROR_CODE = re.compile(r"\bCode:\s*(\d+)")

Rows: TypeAlias = Sequence[Sequence[object]] | pa.Table
Params: TypeAlias = Mapping[str, object]


class StoreError(Exception):
    """A ClickHouse error from either store. ``code`` is ClickHouse's error code if known."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code

    @classmethod
    def wrap(cls, exc: BaseException, context: str = "") -> StoreError:
        message = f"{context}: {exc}" if context else str(exc)
        code = getattr(exc, "code", None)
        if not isinstance(code, int):
            match = _ERROR_CODE.search(str(exc))
            code = int(match.group(1)) if match else None
        return cls(message, code)


def identifier(name: str, what: str = "identifier") -> str:
    """``name`` if it is a plain ClickHouse identifier, else ValueError. Never user input."""
    if not isinstance(name, str) or not _IDENTIFIER.fullmatch(name):
        raise ValueError(f"invalid {what} {name!r}: expected {_IDENTIFIER.pattern}")
    return name


def quote_identifier(name: str, what: str = "identifier") -> str:
    return f"`{identifier(name, what)}`"


def check_params(sql: str, params: Params | None) -> dict[str, object] | None:
    """The parameters as a dict, refusing any that has no ``{name:Type}`` placeholder.

    clickhouse-connect formats values into the SQL text when a query has no server-side
    placeholders; refusing unused names keeps every value a bound parameter.
    """
    if not params:
        return None
    unknown = set(params) - set(_PLACEHOLDER.findall(sql))
    if unknown:
        raise ValueError(f"parameters without a {{name:Type}} placeholder: {sorted(unknown)}")
    return dict(params)


def bind(sql: str, params: Params | None) -> tuple[str, dict[str, str]]:
    """SQL and ``{name: text}`` for chDB, serialised exactly as clickhouse-connect sends them."""
    checked = check_params(sql, params)
    if checked is None:
        return sql, {}
    from clickhouse_connect.driver.binding import bind_query

    bound_sql, bound = bind_query(sql, checked, UTC)
    assert isinstance(bound_sql, str)  # bytes only for binary binds, which we never use
    return bound_sql, {key.removeprefix("param_"): value for key, value in bound.items()}


def arrow_table(rows: Rows, column_names: Sequence[str]) -> pa.Table:
    """The rows as an Arrow table with exactly ``column_names``, in that order."""
    names = [identifier(name, "column name") for name in column_names]
    if not names:
        raise ValueError("column_names is empty")
    if isinstance(rows, pa.Table):
        if sorted(rows.column_names) != sorted(names):
            raise ValueError(f"table columns {rows.column_names} do not match {names}")
        return rows.select(names)
    for row in rows:
        if len(row) != len(names):
            raise ValueError(f"row has {len(row)} values for {len(names)} columns: {row!r}")
    return pa.table({name: pa.array([row[i] for row in rows]) for i, name in enumerate(names)})


def ipc_stream(table: pa.Table, compression: str | None = None) -> bytes:
    sink = pa.BufferOutputStream()
    options = ipc.IpcWriteOptions(compression=compression)
    with ipc.new_stream(sink, table.schema, options=options) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def read_result(data: bytes) -> pa.Table:
    """Decode a query result in ``READ_FORMAT``. Statements without output give no columns."""
    if not data:
        return pa.table({})
    # ParquetFile, not read_table: the dataset layer of read_table cost more than the
    # read of a dashboard's small result.
    return pq.ParquetFile(pa.BufferReader(data)).read()


def one_thread(sql: str) -> str:
    """``sql`` read by one thread: a short window's few granules cost less CPU that way
    than spread over several, and leave the other cores to other queries (decision 0055)."""
    return f"{sql.rstrip()}\nSETTINGS max_threads = 1"


def insert_statement(table: str, column_names: Sequence[str]) -> str:
    columns = ", ".join(quote_identifier(name, "column name") for name in column_names)
    return f"INSERT INTO {quote_identifier(table, 'table name')} ({columns})"


class AnalyticsStore(abc.ABC):
    """ClickHouse, whichever way it runs. Thread-safe; one per process via get_store()."""

    engine: str
    database: str

    def query(self, sql: str, params: Params | None = None) -> list[dict[str, Any]]:
        """Rows as dicts: UUID, datetime (aware, UTC), Decimal, list... as pyarrow gives them."""
        return self.query_arrow(sql, params).to_pylist()

    @abc.abstractmethod
    def query_arrow(self, sql: str, params: Params | None = None) -> pa.Table: ...

    @abc.abstractmethod
    def command(self, sql: str, params: Params | None = None) -> None:
        """Run a statement (DDL, INSERT ... SELECT, ...) and discard any output."""

    def insert(
        self,
        table: str,
        rows: Rows,
        column_names: Sequence[str],
        *,
        dedup_token: str | None = None,
    ) -> None:
        """Insert one batch. A batch sent again with the same ``dedup_token`` is dropped
        by ClickHouse (tables need a deduplication window, see migrations/0001)."""
        data = arrow_table(rows, column_names)
        if data.num_rows == 0:
            return
        if dedup_token is not None and not (isinstance(dedup_token, str) and dedup_token):
            raise ValueError("dedup_token must be a non-empty string")
        self._insert_arrow(identifier(table, "table name"), data, dedup_token)

    @abc.abstractmethod
    def _insert_arrow(self, table: str, data: pa.Table, dedup_token: str | None) -> None: ...

    def ping(self) -> dict[str, Any]:
        """``{"ok", "engine", "database", "version"}``; reports a failure instead of raising."""
        info: dict[str, Any] = {"engine": self.engine, "database": self.database}
        try:
            rows = self.query("SELECT version() AS version")
        except StoreError as exc:
            return {"ok": False, **info, "error": str(exc)[:500]}
        return {"ok": True, **info, "version": rows[0]["version"]}

    @abc.abstractmethod
    def close(self) -> None: ...


_store: AnalyticsStore | None = None
_store_pid: int | None = None
_store_lock = threading.Lock()
# A store that get_store() answers in one context (thread) only: see using_store().
_store_override: ContextVar[AnalyticsStore | None] = ContextVar("analytics_store", default=None)


@contextmanager
def using_store(store: AnalyticsStore) -> Iterator[AnalyticsStore]:
    """``get_store()`` is ``store`` for the block, in this thread only (other threads, such
    as the embedded mode's web threads, keep the process's store). The recovery drill
    rebuilds a scratch database through the same query functions with it."""
    token = _store_override.set(store)
    try:
        yield store
    finally:
        _store_override.reset(token)


def get_store() -> AnalyticsStore:
    """The process's store, built from settings on first use.

    ``CLICKHOUSE_URL`` set: a server over HTTP. Otherwise chDB at ``CHDB_PATH``, which
    one process at a time may open. A forked child builds its own store.
    """
    global _store, _store_pid
    override = _store_override.get()
    if override is not None:
        return override
    store = _store
    if store is not None and _store_pid == os.getpid():
        return store
    with _store_lock:
        if _store is None or _store_pid != os.getpid():
            _store = _store_from_settings()
            _store_pid = os.getpid()
        return _store


def store_for_database(database: str) -> AnalyticsStore:
    """A new store on the same ClickHouse as ``get_store()``, on another database. The
    caller closes it."""
    return _store_from_settings(identifier(database, "database"))


def reset_store() -> None:
    """Close and forget the process's store (tests, or after changing settings)."""
    global _store, _store_pid
    with _store_lock:
        store, _store = _store, None
        if store is not None and _store_pid == os.getpid():
            store.close()
        _store_pid = None


def _store_from_settings(database: str | None = None) -> AnalyticsStore:
    """The store the settings describe, on ``database`` if given (created if missing)."""
    from django.conf import settings

    database = database or getattr(settings, "CLICKHOUSE_DATABASE", None) or "controlplane"
    url = getattr(settings, "CLICKHOUSE_URL", None)
    if url:
        from controlplane.analytics.http_store import HttpStore

        cluster = getattr(settings, "CLICKHOUSE_CLUSTER", "") or ""
        return HttpStore(url, database=database, cluster=cluster)
    from controlplane.analytics.chdb_store import ChdbStore

    return ChdbStore(Path(settings.CHDB_PATH), database=database)

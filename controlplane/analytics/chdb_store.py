"""ClickHouse in-process through chDB.

chDB hosts one engine per process, on one data directory, and locks that directory
against other processes. Sessions on the engine are independent (own ``USE``/``SET``),
and a session with a streaming insert open refuses every other statement, so each call
borrows a session of its own from a pool: threads query and insert in parallel with no
lock around the engine. One more session stays open for the life of the store: the
engine stops when its last session closes, and background merges and the removal of old
parts run only while it is up.
"""

from __future__ import annotations

import atexit
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from controlplane.analytics.store import (
    INSERT_FORMAT,
    READ_FORMAT,
    SESSION_SETTINGS,
    AnalyticsStore,
    Params,
    StoreError,
    bind,
    identifier,
    insert_statement,
    ipc_stream,
    read_result,
)

if TYPE_CHECKING:
    from chdb.session import Session

# Sessions left open at interpreter exit sometimes abort or hang the process while the
# engine's threads shut down, so every store closes its sessions first.
_open_stores: weakref.WeakSet[ChdbStore] = weakref.WeakSet()


@atexit.register
def _close_open_stores() -> None:
    for store in list(_open_stores):
        store.close()


# ClickHouse keeps no decompressed blocks unless given room for them
# (``use_uncompressed_cache`` in SESSION_SETTINGS; decision 0055).
UNCOMPRESSED_CACHE_BYTES = 1 << 30


class ChdbStore(AnalyticsStore):
    engine = "chdb"
    # Arrow IPC codec of inserts. None measured fastest in-process (bench_insert.py).
    insert_compression: str | None = None

    def __init__(self, path: Path | str, database: str = "default") -> None:
        self.path = Path(path).resolve()
        self.database = identifier(database, "database")
        self.path.mkdir(parents=True, exist_ok=True)
        self._idle: list[Session] = []
        self._lock = threading.Lock()
        self._closed = False
        # Never lent out, so the engine stays up whatever happens to pooled sessions.
        self._keeper = self._connect()
        try:
            _run(self._keeper, "CREATE DATABASE IF NOT EXISTS {db:Identifier}", {"db": database})
        except BaseException:
            self._keeper.close()
            raise
        _open_stores.add(self)

    def query_arrow(self, sql: str, params: Params | None = None) -> pa.Table:
        bound_sql, bound = bind(sql, params)
        with self._session() as session:
            return read_result(_run(session, bound_sql, bound, READ_FORMAT))

    def command(self, sql: str, params: Params | None = None) -> None:
        bound_sql, bound = bind(sql, params)
        with self._session() as session:
            _run(session, bound_sql, bound)

    def _insert_arrow(self, table: str, data: pa.Table, dedup_token: str | None) -> None:
        payload = ipc_stream(data, self.insert_compression)
        statement = insert_statement(table, data.column_names)
        # After any error the session is closed, not pooled: one still carrying the token
        # would silently drop the next batch inserted through it.
        with self._session(keep_on_error=False) as session:
            # The streaming insert takes no parameters, so the token is a session setting,
            # bound like any value; the session is ours alone until it goes back to the pool.
            if dedup_token is not None:
                _run(session, "SET insert_deduplication_token = {t:String}", {"t": dedup_token})
            try:
                inserter = session.send_insert(statement, INSERT_FORMAT)
                with inserter:
                    inserter.append(payload)
                    inserter.finish()
            except RuntimeError as exc:
                raise StoreError.wrap(exc, f"insert into {table}") from exc
            if dedup_token is not None:
                _run(session, "SET insert_deduplication_token = ''")

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            idle, self._idle = self._idle, []
        for session in [*idle, self._keeper]:
            session.close()

    @contextmanager
    def _session(self, *, keep_on_error: bool = True) -> Iterator[Session]:
        with self._lock:
            if self._closed:
                raise StoreError("the chDB store is closed")
            session = self._idle.pop() if self._idle else None
        if session is None:
            session = self._connect()
            try:
                self._configure(session)
            except BaseException:
                session.close()
                raise
        healthy = False
        try:
            yield session
            healthy = True
        except StoreError:
            healthy = keep_on_error  # ClickHouse refused the statement, the session is fine
            raise
        finally:
            with self._lock:
                if healthy and not self._closed:
                    self._idle.append(session)
                    session = None
            if session is not None:
                session.close()

    def _connect(self) -> Session:
        from chdb.session import Session

        try:
            # Startup arguments: the engine takes them from the session that starts it.
            return Session(f"{self.path}?uncompressed_cache_size={UNCOMPRESSED_CACHE_BYTES}")
        except RuntimeError as exc:
            raise StoreError(
                f"cannot open chDB at {self.path}: {exc}. A process can host one chDB "
                f"directory and a directory serves one process{_holder(self.path)}"
            ) from exc

    def _configure(self, session: Session) -> None:
        _run(session, "USE {db:Identifier}", {"db": self.database})
        for name, value in SESSION_SETTINGS.items():
            _run(session, f"SET {identifier(name, 'setting')} = {{v:String}}", {"v": value})


def _run(
    session: Session, sql: str, params: dict[str, Any] | None = None, fmt: str = "TabSeparated"
) -> bytes:
    try:
        result = session.query(sql, fmt, params=params or {})
    except RuntimeError as exc:
        raise StoreError.wrap(exc) from exc
    return bytes(result.bytes())


def _holder(path: Path) -> str:
    """Who holds the directory, from the status file the engine writes there."""
    try:
        status = (path / "status").read_text(errors="replace")
    except OSError:
        return ""
    pids = [line[4:].strip() for line in status.splitlines() if line.startswith("PID:")]
    pid = pids[0] if pids else ""
    return f" (the directory's status file names PID {pid})" if pid else ""

"""The durable spool: SQLite in WAL mode, fsync on every commit.

A request is answered 200 only after its records are committed, so what an agent was
told is stored survives a crash (kill -9, power loss). One writer thread owns the write
connection and commits the requests that queued up while it was busy in one
transaction (group commit): one fsync serves many requests, each still whole or not at
all. Reads (pull) use a second connection; WAL lets them run beside the writer.

The gateway's budgets keep their cumulative spend here too (``budget_spend``), added in
the transaction that stores the request's record, so spend and evidence agree. So do the
bodies of residency tenants (``bodies``, edge/residency.py): written with their records,
never deleted by an ack, only once older than the tenant's retention.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from contextlib import closing
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from edge.residency import KeptBodies

_SCHEMA = """
CREATE TABLE IF NOT EXISTS spool (
    cursor INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL,
    body BLOB NOT NULL,
    received_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS budget_spend (
    budget_id TEXT NOT NULL,
    period_start TEXT NOT NULL,
    spent TEXT NOT NULL,
    PRIMARY KEY (budget_id, period_start)
);
CREATE TABLE IF NOT EXISTS bodies (
    event_id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    request_body TEXT NOT NULL,
    response_body TEXT NOT NULL,
    received_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS bodies_by_age ON bodies (tenant_id, received_at);
"""
# Spend is a Decimal string: SQLite has no decimal type and money is never a float.
# AUTOINCREMENT: a cursor is never reused, even once every record has been acked and
# deleted, so the control plane's "after" stays valid across acks and restarts.

_MAX_GROUP = 512


class SpoolFullError(Exception):
    """Accepting the records would exceed the spool's size bound; nothing was written."""


class SpoolUnavailableError(Exception):
    """SQLite could not commit (disk full, I/O error); nothing was written."""


class AckBeyondLastError(ValueError):
    """The cursor is past the last record ever stored."""


@dataclass(frozen=True)
class SpoolStats:
    records: int
    bytes: int
    max_bytes: int
    oldest_unpulled_unix_nano: int | None
    """``received_at`` of the oldest record not yet acked."""
    acked_cursor: int
    last_cursor: int
    body_records: int = 0
    body_bytes: int = 0
    """Bodies kept for residency tenants (UTF-8 bytes of both bodies)."""


SpendKey = tuple[str, str]
"""(budget_id, period_start)"""


@dataclass
class _Append:
    records: Sequence[tuple[str, bytes]]
    received_at: int
    size: int
    future: Future[int]
    spend: Sequence[tuple[SpendKey, Decimal]] = field(default_factory=tuple)
    bodies: Sequence[KeptBodies] = field(default_factory=tuple)


@dataclass
class _Ack:
    cursor: int
    future: Future[int]


@dataclass
class _Maintain:
    work: Callable[[sqlite3.Connection], Any]
    future: Future[Any]


@dataclass
class _Prune:
    before: dict[str, int]
    """Per tenant, the ``received_at`` before which its bodies are deleted."""
    future: Future[int]


_Job = _Append | _Ack | _Maintain | _Prune | None


def _connect(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA busy_timeout = 10000")
    connection.execute("PRAGMA synchronous = FULL")
    return connection


class Spool:
    def __init__(self, path: Path, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._writer = _connect(path)
        # Records are a few KB: with 4 KiB pages most spill into overflow pages, and
        # commits were about half as fast; 64 KiB rather than 16 KiB pages take ~40 %
        # less CPU to delete acked records (fewer pages to rebalance and log per record,
        # decision 0054). Takes effect only when the file is created.
        self._writer.execute("PRAGMA page_size = 65536")
        self._writer.execute("PRAGMA journal_mode = WAL")
        self._writer.execute("PRAGMA journal_size_limit = 67108864")
        self._writer.executescript(_SCHEMA)
        self._reader = _connect(path)
        self._read_lock = threading.Lock()
        self._records, self._bytes = self._writer.execute(
            "SELECT count(*), coalesce(sum(length(body)), 0) FROM spool"
        ).fetchone()
        (self._last_cursor,) = self._writer.execute(
            "SELECT coalesce(max(seq), 0) FROM sqlite_sequence WHERE name = 'spool'"
        ).fetchone()
        (self._acked_cursor,) = self._writer.execute(
            "SELECT coalesce(max(value), 0) FROM meta WHERE key = 'acked_cursor'"
        ).fetchone()
        self._oldest = self._query_oldest()
        self._body_records, self._body_bytes = self._writer.execute(
            "SELECT count(*), coalesce(sum(length(CAST(request_body AS BLOB)) "
            "+ length(CAST(response_body AS BLOB))), 0) FROM bodies"
        ).fetchone()
        self._spend: dict[SpendKey, Decimal] = {
            (budget_id, period_start): Decimal(spent)
            for budget_id, period_start, spent in self._writer.execute(
                "SELECT budget_id, period_start, spent FROM budget_spend"
            )
        }
        self.stats = self._snapshot()
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="edge-spool-writer", daemon=True)
        self._thread.start()

    def append(
        self,
        records: Sequence[tuple[str, bytes]],
        received_at: int,
        spend: Sequence[tuple[SpendKey, Decimal]] = (),
        bodies: Sequence[KeptBodies] = (),
    ) -> Future[int]:
        """Queue ``(event_id, body)`` records for one commit, with amounts to add to
        budgets' spend and the bodies kept apart for residency tenants; the future
        resolves to the last cursor once they are durable, or fails with SpoolFullError /
        SpoolUnavailableError having written none of the records (nor their bodies).
        Spend is money already spent: it is committed even when the spool is too full
        for the records."""
        future: Future[int] = Future()
        size = sum(len(body) for _, body in records)
        self._submit(_Append(records, received_at, size, future, spend, bodies))
        return future

    def prune_bodies(self, before: dict[str, int]) -> Future[int]:
        """Delete each tenant's bodies received before its ``before`` (Unix ns);
        resolves to how many were deleted."""
        future: Future[int] = Future()
        self._submit(_Prune(before, future))
        return future

    def read_bodies(self, event_ids: Sequence[str]) -> list[KeptBodies]:
        """The kept bodies of those events that have any."""
        if not event_ids:
            return []
        marks = ",".join("?" * len(event_ids))
        with self._read_lock:
            rows = self._reader.execute(
                "SELECT event_id, tenant_id, request_body, response_body FROM bodies "  # noqa: S608
                f"WHERE event_id IN ({marks})",
                list(event_ids),
            ).fetchall()
        return [KeptBodies(*row) for row in rows]

    def spend_totals(self) -> dict[SpendKey, Decimal]:
        """Cumulative spend per (budget_id, period_start) as committed (the gateway
        reads it at start; afterwards it is a snapshot of the writer's state)."""
        return dict(self._spend)

    def ack(self, cursor: int) -> Future[int]:
        """Delete the records up to ``cursor`` and remember it durably; resolves to the
        acked cursor (unchanged when ``cursor`` is not above it)."""
        future: Future[int] = Future()
        self._submit(_Ack(cursor, future))
        return future

    def maintain(self, work: Callable[[sqlite3.Connection], Any]) -> Future[Any]:
        """Run ``work(connection)`` on the writer's connection in one transaction, after
        the appends queued before it (retention and erasure, edge/privacy.py); the future
        resolves to what it returns, or fails with its exception, having changed nothing.
        """
        future: Future[Any] = Future()
        self._submit(_Maintain(work, future))
        return future

    def read(self, after: int, limit: int, max_bytes: int) -> list[tuple[int, bytes]]:
        """Records with cursor > ``after``, oldest first: at most ``limit`` of them and,
        beyond the first, no more than ``max_bytes`` of bodies."""
        batch: list[tuple[int, bytes]] = []
        total = 0
        with (
            self._read_lock,
            closing(
                self._reader.execute(
                    "SELECT cursor, body FROM spool WHERE cursor > ? ORDER BY cursor LIMIT ?",
                    (after, limit),
                )
            ) as rows,
        ):
            for cursor, body in rows:
                if batch and total + len(body) > max_bytes:
                    break
                batch.append((cursor, body))
                total += len(body)
        return batch

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._jobs.put(None)
        self._thread.join()
        # A request that raced with closing must not wait forever.
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is not None and job.future.set_running_or_notify_cancel():
                job.future.set_exception(SpoolUnavailableError("the spool is closed"))
        self._reader.close()
        self._writer.close()

    def _submit(self, job: _Append | _Ack | _Maintain | _Prune) -> None:
        if self._closed:
            raise SpoolUnavailableError("the spool is closed")
        self._jobs.put(job)

    def _snapshot(self) -> SpoolStats:
        return SpoolStats(
            records=self._records,
            bytes=self._bytes,
            max_bytes=self.max_bytes,
            oldest_unpulled_unix_nano=self._oldest,
            acked_cursor=self._acked_cursor,
            last_cursor=self._last_cursor,
            body_records=self._body_records,
            body_bytes=self._body_bytes,
        )

    def _query_oldest(self) -> int | None:
        row = self._writer.execute(
            "SELECT received_at FROM spool ORDER BY cursor LIMIT 1"
        ).fetchone()
        return None if row is None else int(row[0])

    def _run(self) -> None:
        while True:
            group: list[_Append] = []
            job = self._jobs.get()
            while job is not None:
                if job.future.set_running_or_notify_cancel():
                    if isinstance(job, _Ack | _Maintain | _Prune):
                        self._commit_appends(group)
                        group = []
                        if isinstance(job, _Ack):
                            self._commit_ack(job)
                        elif isinstance(job, _Maintain):
                            self._commit_maintain(job)
                        else:
                            self._commit_prune(job)
                    else:
                        group.append(job)
                if len(group) >= _MAX_GROUP:
                    break
                try:
                    job = self._jobs.get_nowait()
                except queue.Empty:
                    break
            self._commit_appends(group)
            if job is None:
                return

    def _commit_appends(self, group: list[_Append]) -> None:
        accepted: list[_Append] = []
        refused: list[_Append] = []
        size = self._bytes
        for job in group:
            if size + job.size > self.max_bytes:
                refused.append(job)
            else:
                size += job.size
                accepted.append(job)
        full = SpoolFullError(f"the spool holds {self._bytes} of {self.max_bytes} bytes")
        rows = [(eid, body, job.received_at) for job in accepted for eid, body in job.records]
        kept = [(job.received_at, bodies) for job in accepted for bodies in job.bodies]
        spend: dict[SpendKey, Decimal] = {}
        for job in group:
            for key, amount in job.spend:
                spend[key] = spend.get(key, self._spend.get(key, Decimal(0))) + amount
        if rows or spend:
            try:
                self._writer.execute("BEGIN IMMEDIATE")
                last = self._last_cursor
                if rows:
                    self._writer.executemany(
                        "INSERT INTO spool (event_id, body, received_at) VALUES (?, ?, ?)", rows
                    )
                    (last,) = self._writer.execute("SELECT last_insert_rowid()").fetchone()
                kept_records, kept_bytes = self._insert_bodies(kept)
                self._writer.executemany(
                    "INSERT OR REPLACE INTO budget_spend (budget_id, period_start, spent) "
                    "VALUES (?, ?, ?)",
                    [(budget_id, start, str(total)) for (budget_id, start), total in spend.items()],
                )
                self._writer.execute("COMMIT")
            except sqlite3.Error as error:
                self._rollback()
                for job in accepted:
                    job.future.set_exception(SpoolUnavailableError(str(error)))
                for job in refused:
                    job.future.set_exception(full)
                return
            self._spend.update(spend)
            if rows:
                self._body_records += kept_records
                self._body_bytes += kept_bytes
                if self._oldest is None:
                    self._oldest = accepted[0].received_at
                self._records += len(rows)
                self._bytes = size
                self._last_cursor = last
                self.stats = self._snapshot()
        for job in accepted:
            job.future.set_result(self._last_cursor)
        # Only now: a refused request's spend is committed by the time it learns.
        for job in refused:
            job.future.set_exception(full)

    def _insert_bodies(self, kept: list[tuple[int, KeptBodies]]) -> tuple[int, int]:
        """Insert bodies not yet kept (an agent's retry sends the same span again);
        how many rows and bytes were new."""
        records = size = 0
        for received_at, bodies in kept:
            inserted = self._writer.execute(
                "INSERT OR IGNORE INTO bodies (event_id, tenant_id, request_body, "
                "response_body, received_at) VALUES (?, ?, ?, ?, ?)",
                (*bodies, received_at),
            ).rowcount
            if inserted:
                records += 1
                size += len(bodies.request_body.encode()) + len(bodies.response_body.encode())
        return records, size

    def _commit_prune(self, job: _Prune) -> None:
        records = size = 0
        try:
            self._writer.execute("BEGIN IMMEDIATE")
            for tenant_id, before in job.before.items():
                where = "WHERE tenant_id = ? AND received_at < ?"
                count, length = self._writer.execute(
                    "SELECT count(*), coalesce(sum(length(CAST(request_body AS BLOB)) "  # noqa: S608
                    f"+ length(CAST(response_body AS BLOB))), 0) FROM bodies {where}",
                    (tenant_id, before),
                ).fetchone()
                if count:
                    self._writer.execute(f"DELETE FROM bodies {where}", (tenant_id, before))  # noqa: S608
                records, size = records + count, size + length
            self._writer.execute("COMMIT")
        except sqlite3.Error as error:
            self._rollback()
            job.future.set_exception(SpoolUnavailableError(str(error)))
            return
        self._body_records -= records
        self._body_bytes -= size
        self.stats = self._snapshot()
        job.future.set_result(records)

    def _commit_ack(self, job: _Ack) -> None:
        if job.cursor > self._last_cursor:
            job.future.set_exception(
                AckBeyondLastError(
                    f"cursor {job.cursor} is past the last record ({self._last_cursor})"
                )
            )
            return
        if job.cursor <= self._acked_cursor:
            job.future.set_result(self._acked_cursor)
            return
        try:
            self._writer.execute("BEGIN IMMEDIATE")
            count, size = self._writer.execute(
                "SELECT count(*), coalesce(sum(length(body)), 0) FROM spool WHERE cursor <= ?",
                (job.cursor,),
            ).fetchone()
            self._writer.execute("DELETE FROM spool WHERE cursor <= ?", (job.cursor,))
            self._writer.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('acked_cursor', ?)",
                (job.cursor,),
            )
            oldest = self._query_oldest()
            self._writer.execute("COMMIT")
        except sqlite3.Error as error:
            self._rollback()
            job.future.set_exception(SpoolUnavailableError(str(error)))
            return
        self._records -= count
        self._bytes -= size
        self._acked_cursor = job.cursor
        self._oldest = oldest
        self.stats = self._snapshot()
        job.future.set_result(self._acked_cursor)

    def _commit_maintain(self, job: _Maintain) -> None:
        try:
            self._writer.execute("BEGIN IMMEDIATE")
            result = job.work(self._writer)
            records, size = self._writer.execute(
                "SELECT count(*), coalesce(sum(length(body)), 0) FROM spool"
            ).fetchone()
            oldest = self._query_oldest()
            self._writer.execute("COMMIT")
        except Exception as error:  # the work's own errors too: nothing was changed
            self._rollback()
            job.future.set_exception(error)
            return
        self._records, self._bytes, self._oldest = records, size, oldest
        self.stats = self._snapshot()
        job.future.set_result(result)

    def _rollback(self) -> None:
        if self._writer.in_transaction:
            self._writer.execute("ROLLBACK")

"""Finding the records a store refuses, by bisection (docs/decisions/0014-poison-records.md).

When a batch insert fails on its data, the batch is split in halves and each half is
tried again, down to single records: the store ends up with every record it takes, and
the ones it refuses are named with the store's reason. The splits are contiguous ranges
of the batch, chosen the same way every time, so a retried batch makes the same
attempts: ClickHouse's deduplication tokens for the parts (``token:start-stop``) match.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
import pyarrow as pa
from django import db
from django.db import transaction

from controlplane.analytics import StoreError
from controlplane.core.tenancy import tenant_context
from controlplane.telemetry.ledger import ledger_insert
from controlplane.telemetry.spans import spans_insert, spans_table

# ClickHouse error codes that are about the inserted data, not the server or the query:
# cannot parse or convert a value (6, 27, 38, 41, 53, 70, 72, 376), out of range (69,
# 321), incorrect or too large (117, 131), array sizes (190), NULL in a plain column
# (349), constraint violated (469).
_CLICKHOUSE_DATA_CODES = frozenset(
    {6, 27, 38, 41, 53, 69, 70, 72, 117, 131, 190, 321, 349, 376, 469}
)


def ledger_refused(exc: BaseException) -> bool:
    """Whether PostgreSQL refused the rows themselves (SQLSTATE classes 22, data
    exception, and 23, integrity constraint violation), not the connection or the SQL."""
    return isinstance(
        exc, db.DataError | db.IntegrityError | psycopg.DataError | psycopg.IntegrityError
    )


def analytics_refused(exc: BaseException) -> bool:
    """Whether the rows could not be made into ClickHouse's columns, or ClickHouse refused
    them (``_CLICKHOUSE_DATA_CODES``), as opposed to the server being unreachable."""
    if isinstance(exc, pa.ArrowException | OverflowError):
        return True
    return isinstance(exc, StoreError) and exc.code in _CLICKHOUSE_DATA_CODES


def reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:2000]


def isolate(
    count: int,
    attempt: Callable[[range], None],
    refused: Callable[[BaseException], bool],
    failure: BaseException,
) -> dict[int, str]:
    """After ``failure`` of the whole batch of ``count`` records, store what the store
    takes with ``attempt(part)`` (all or nothing for the part, idempotent) and return the
    records it refused, by index, with the reason. An error for which ``refused`` is
    false (the store is down, not the data) is raised."""
    if count == 0:
        raise failure
    refusals: dict[int, str] = {}
    parts = [range(count)]
    error: BaseException | None = failure  # of the whole batch, already tried
    while parts:
        part = parts.pop()
        if part != range(count):
            error = _try(attempt, part)
        if error is None:
            continue
        if not refused(error):
            raise error
        if len(part) == 1:
            refusals[part[0]] = reason(error)
            continue
        middle = len(part) // 2
        parts += [part[middle:], part[:middle]]  # the first half is tried first
    return refusals


def _try(attempt: Callable[[range], None], part: range) -> BaseException | None:
    try:
        attempt(part)
    except Exception as exc:
        return exc
    return None


def ledger_insert_isolating(
    tenant_id: uuid.UUID, rows: Sequence[tuple[Any, ...]]
) -> tuple[int, dict[int, str]]:
    """``ledger_insert`` of the tenant's rows: how many were new, and the rows
    PostgreSQL refused (by index) with the reason, every other one inserted."""
    try:
        with tenant_context(tenant_id):
            return ledger_insert(rows), {}
    except Exception as exc:
        failure = exc
    inserted = 0

    def attempt(part: range) -> None:
        nonlocal inserted
        with transaction.atomic():  # a savepoint: a refused part leaves nothing behind
            inserted += ledger_insert(rows[part.start : part.stop])

    with tenant_context(tenant_id):
        refusals = isolate(len(rows), attempt, ledger_refused, failure)
    return inserted, refusals


def spans_insert_isolating(
    columns: dict[str, list[Any]], failure: BaseException, token: str
) -> dict[int, str]:
    """After the batch's ClickHouse insert (``token``) failed: the rows ClickHouse
    refuses (by index) with the reason, every other one inserted. The parts get tokens
    of their own, ``token:start-stop``."""

    def attempt(part: range) -> None:
        table = spans_table(
            {name: values[part.start : part.stop] for name, values in columns.items()}
        )
        spans_insert(table, dedup_token=f"{token}:{part.start}-{part.stop}")

    return isolate(len(columns["event_id"]), attempt, analytics_refused, failure)

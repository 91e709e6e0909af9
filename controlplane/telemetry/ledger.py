"""Writing the usage ledger: COPY into a staging table, then insert what is new.

The staging table is needed: PostgreSQL refuses ``COPY FROM`` into a table under
row-level security ("COPY FROM not supported with row-level security"), and every
partition of the ledger has it forced.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from django.db import IntegrityError, connection, transaction
from psycopg.errors import UniqueViolation
from psycopg.types.string import BytesBinaryDumper

from controlplane.telemetry.partitions import ensure_partitions
from controlplane.telemetry.records import LEDGER_COLUMNS

_COLUMNS = ", ".join(LEDGER_COLUMNS)
# The column types of LEDGER_COLUMNS for a binary COPY, whose C dumpers are about three
# times faster than the text format's (bench/README.md). Binary COPY sends each value
# in its type's binary form, which for the varchar/char columns is the text's bytes
# (the server checks lengths as for text input) and for uuid the 16 bytes that
# build_batch puts in the rows ("bytea" only selects the dumper that sends them).
_COPY_TYPES = {
    "event_id": "bytea",
    "occurred_at": "timestamptz",
    "tenant_id": "bytea",
    "department_id": "bytea",
    "agent_id": "bytea",
    "device_id": "bytea",
    "site_id": "bytea",
    "edge_node_id": "bytea",
    "input_tokens": "int4",
    "output_tokens": "int4",
    "cached_input_tokens": "int4",
    "cache_write_tokens": "int4",
    "reasoning_tokens": "int4",
    "cost": "numeric",
    "latency_ms": "float8",
}
COPY_TYPES = [_COPY_TYPES.get(name, "text") for name in LEDGER_COLUMNS]
_INSERT = (
    f"INSERT INTO telemetry_usageevent ({_COLUMNS}) "  # noqa: S608 (constant columns)
    f"SELECT {_COLUMNS} FROM ledger_staging"
)


def ledger_insert(rows: Sequence[tuple[Any, ...]]) -> int:
    """Insert ``rows`` (from build_batch); rows whose event is already in the ledger are
    skipped.

    Returns how many were new. The caller holds the transaction and an all-tenants
    scope (row-level security checks every row's tenant on insert).
    """
    if not rows:
        return 0
    months = {(row[1].year, row[1].month) for row in rows}
    ensure_partitions(dt.date(year, month, 1) for year, month in months)
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE IF NOT EXISTS ledger_staging "
            "(LIKE telemetry_usageevent INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        )
        raw = cursor.cursor  # psycopg's own cursor, for COPY
        # psycopg.dbapi20 registers a pure-Python dumper as bytea's binary dumper, and
        # set_types looks dumpers up by type: without this, the ids go through Python
        # code one value at a time (about 20 ms of the worker's thread per 5,000 rows).
        raw.adapters.register_dumper(bytes, BytesBinaryDumper)
        with raw.copy(f"COPY ledger_staging ({_COLUMNS}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(COPY_TYPES)
            for row in rows:
                copy.write_row(row)
        # A batch is new to the ledger but for a retry or a replay: a plain INSERT,
        # cheaper than ON CONFLICT's speculative insertion (~1.5 µs of the server's CPU
        # per row, docs/decisions/0052), in a savepoint that a duplicate rolls back;
        # then ON CONFLICT DO NOTHING skips the rows the ledger has.
        try:
            with transaction.atomic():
                cursor.execute(_INSERT)
        except IntegrityError as exc:
            if not isinstance(exc.__cause__, UniqueViolation):
                raise
            cursor.execute(f"{_INSERT} ON CONFLICT DO NOTHING")
        inserted = cursor.rowcount
        cursor.execute("TRUNCATE ledger_staging")
    return inserted

"""Monthly partitions of the usage ledger: created ahead of need, dropped for retention
(compliance.privacy.retention).

Dropping a month is one metadata operation instead of a DELETE of millions of rows,
which is how the ledger stays small and fast however long the product runs.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable

from django.db import connection

from controlplane.core.tenancy import rls_policy_sql

PARENT = "telemetry_usageevent"
_PARTITION_NAME = re.compile(rf"^{PARENT}_y(\d{{4}})m(\d{{2}})$")


def month_start(moment: dt.datetime | dt.date) -> dt.date:
    return dt.date(moment.year, moment.month, 1)


def _next_month(month: dt.date) -> dt.date:
    return dt.date(month.year + (month.month == 12), month.month % 12 + 1, 1)


def partition_name(month: dt.date) -> str:
    return f"{PARENT}_y{month.year:04d}m{month.month:02d}"


def ensure_partitions(months: Iterable[dt.date]) -> None:
    """Create the monthly partitions for ``months`` that do not exist yet, each under
    forced row-level security like its parent.

    Existence is checked first because creating a partition locks the whole ledger.
    """
    wanted = sorted({month_start(m) for m in months})
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name FROM unnest(%s::text[]) AS name WHERE to_regclass(name) IS NULL",
            [[partition_name(m) for m in wanted]],
        )
        missing = {row[0] for row in cursor.fetchall()}
        if missing:
            # Two workers may find the same month missing; IF NOT EXISTS alone races in
            # the catalog, so creators queue on a transaction-scoped lock.
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [PARENT])
        for month in wanted:
            if partition_name(month) not in missing:
                continue
            # Names and bounds come from dates we format ourselves, never from input.
            cursor.execute(
                f'CREATE TABLE IF NOT EXISTS "{partition_name(month)}" PARTITION OF {PARENT} '
                f"FOR VALUES FROM ('{month.isoformat()}') TO ('{_next_month(month).isoformat()}')"
            )
            protect(partition_name(month))


def protect(partition: str) -> None:
    """Forced RLS with the tenant policy on one partition: queried by its own name, a
    partition does not go through its parent's policy."""
    with connection.cursor() as cursor:
        cursor.execute(rls_policy_sql(partition))


def existing_partitions() -> list[dt.date]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT child.relname FROM pg_inherits "
            "JOIN pg_class parent ON parent.oid = pg_inherits.inhparent "
            "JOIN pg_class child ON child.oid = pg_inherits.inhrelid WHERE parent.relname = %s",
            [PARENT],
        )
        names = [row[0] for row in cursor.fetchall()]
    months = []
    for name in names:
        match = _PARTITION_NAME.match(name)
        if match:
            months.append(dt.date(int(match[1]), int(match[2]), 1))
    return sorted(months)

"""One worker at a time per retention run or data-subject request: a PostgreSQL
session lock on its id, released when the work ends or the worker's connection closes
(a worker that dies frees it). A second task for the same run (``privacy.resume``
re-queues a slow one) finds it taken and leaves the run to its holder, so no step runs,
or is counted, twice."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection


@contextmanager
def held(name: str, key: uuid.UUID) -> Iterator[bool]:
    """True inside the block if this process holds the lock, False if another does."""
    lock = f"privacy:{name}:{key}"
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", [lock])
        (taken,) = cursor.fetchone()
    try:
        yield bool(taken)
    finally:
        if taken:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", [lock])

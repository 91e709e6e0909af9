"""Identifiers that cross process boundaries: time-ordered UUIDs (ULID layout)."""

import uuid

from ulid import ULID


def new_id() -> uuid.UUID:
    """A ULID as a UUID: sorts by creation time, so B-tree inserts stay local."""
    return ULID().to_uuid()

"""Panel results kept until new spans could change them
(docs/decisions/0038-dashboard-panels.md).

A result is stored with the freshness token it was read under (``analytics.freshness``):
the tenant's ``settled`` token for a window that ended before the settled hour (it
changes only when late spans arrive), its ``any`` token otherwise (every insert changes
it). A stored result whose token is no longer current is read again. The token is taken
before the query runs, so a result never outlives rows that arrived while it was read.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Callable
from typing import TypeVar

from django.conf import settings
from django.core.cache import caches
from django.utils import timezone

from controlplane.analytics import freshness
from controlplane.dashboards.rollups import Filters, Window

T = TypeVar("T")

SETTLED_SECONDS = 24 * 3600  # how long a settled window's result is kept at most
OPEN_SECONDS = 15 * 60


def cached(
    name: str,
    tenant_id: uuid.UUID | None,
    window: Window,
    filters: Filters,
    compute: Callable[[], T],
    *,
    now: dt.datetime | None = None,
    settled_seconds: int = SETTLED_SECONDS,
) -> T:
    """``compute()``'s result for ``name`` over ``window`` of ``tenant_id`` (None: every
    tenant) with ``filters``, from the cache while the data it read is unchanged; a
    settled result at most ``settled_seconds``."""
    if not settings.DASHBOARD_CACHE:
        return compute()
    scope = str(tenant_id) if tenant_id is not None else freshness.ALL
    settled = window.until <= freshness.settled_until(now or timezone.now())
    token = freshness.token(scope, freshness.SETTLED if settled else freshness.ANY)
    identity = repr((name, scope, window, sorted(filters.values().items())))
    key = "result:" + hashlib.sha256(identity.encode()).hexdigest()
    cache = caches[freshness.CACHE]
    stored = cache.get(key)
    if stored is not None and stored[0] == token:
        result: T = stored[1]
        return result
    result = compute()
    cache.set(key, (token, result), settled_seconds if settled else OPEN_SECONDS)
    return result

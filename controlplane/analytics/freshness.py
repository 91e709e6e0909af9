"""Whether a tenant's spans changed since a result was read: tokens that every insert of
spans renews, for the dashboards' cache (docs/decisions/0038-dashboard-panels.md).

Two tokens per tenant, and two more for the fleet (every tenant, ``ALL``):

- ``any`` is renewed by every insert of the tenant's spans;
- ``settled`` only by an insert holding a span from before the hour of the insert: late
  data (an edge that was cut off and pulled again, a dead letter replayed, a
  reconciliation repair, a seeded history).

A result over a window that ends by ``settled_until(now)`` stays true until the tenant's
``settled`` token changes; any other result until its ``any`` token changes. The tokens
are random, not counters, so a token lost to the cache's eviction comes back different
and only makes results be read again. The insert renews them after ClickHouse has the
rows, and a reader takes the token before it reads: a result stored with a token
never misses rows inserted before that token was made.

``SETTLE_SKEW`` lets the inserting worker's clock run that far behind the reader's: a
window counts as settled only once it ended before the hour of ``now - SETTLE_SKEW``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable

import pyarrow as pa
from django.core.cache import BaseCache, caches

CACHE = "dashboards"
ALL = "*"
ANY, SETTLED = "any", "settled"
SETTLE_SKEW = dt.timedelta(minutes=10)


def _cache() -> BaseCache:
    return caches[CACHE]


def _key(scope: str, kind: str) -> str:
    return f"freshness:{kind}:{scope}"


def hour_start(moment: dt.datetime) -> dt.datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def settled_until(now: dt.datetime) -> dt.datetime:
    """Windows ending by this moment take no more spans but late ones."""
    return hour_start(now - SETTLE_SKEW)


def spans_arrived(spans: pa.Table, *, now: dt.datetime) -> None:
    """Renew the tokens of every tenant in ``spans`` (an insert into ``spans``): ``any``,
    and ``settled`` where a span started before the hour of ``now``."""
    if spans.num_rows == 0:
        return
    earliest = spans.group_by("tenant_id").aggregate([("start_time", "min")])
    late_before = hour_start(now)
    arrivals = {
        str(tenant): start
        for tenant, start in zip(
            earliest["tenant_id"].to_pylist(),
            earliest["start_time_min"].to_pylist(),
            strict=True,
        )
    }
    renew(arrivals.keys(), late=[t for t, start in arrivals.items() if start < late_before])


def renew(tenants: Iterable[str], *, late: Iterable[str] = ()) -> None:
    """New ``any`` tokens for ``tenants`` and the fleet; new ``settled`` tokens for
    ``late`` (and the fleet, if any)."""
    keys = [_key(scope, ANY) for scope in [*tenants, ALL]]
    late = list(late)
    if late:
        keys += [_key(scope, SETTLED) for scope in [*late, ALL]]
    _cache().set_many({key: uuid.uuid4().hex for key in keys}, timeout=None)


def token(scope: str, kind: str) -> str:
    """The current token of ``scope`` (a tenant id as text, or ``ALL``)."""
    key = _key(scope, kind)
    cache = _cache()
    found = cache.get(key)
    if found is None:
        cache.add(key, uuid.uuid4().hex, timeout=None)
        found = cache.get(key)
    # Still none (evicted at once): a token no stored result has.
    return str(found) if found is not None else uuid.uuid4().hex

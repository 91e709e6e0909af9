"""The history a detection run compares with, read in two parts: whole days before
today, read once per tenant and day and kept (per process, for the last CACHED tenants),
and today so far, read at every run. A run every minute, or after every pull, then reads
minutes of rollups instead of weeks (bench/README.md, "the detectors' CPU cost").

Rows are shared between runs: callers must not change them.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from controlplane.security import queries

DAY = dt.timedelta(days=1)
CACHED = 32  # (tenant, query, day) entries kept per process

_cache: OrderedDict[tuple[Any, ...], Any] = OrderedDict()


def _day(moment: dt.datetime) -> dt.datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def _kept(key: tuple[Any, ...], read: Callable[[], Any]) -> Any:
    if key in _cache:
        _cache.move_to_end(key)
        return _cache[key]
    value = read()
    _cache[key] = value
    while len(_cache) > CACHED:
        _cache.popitem(last=False)
    return value


def agent_hours(
    tenant_id: uuid.UUID, since: dt.datetime, until: dt.datetime
) -> list[dict[str, Any]]:
    """queries.agent_hours over [since's day, until): whole days kept, today read."""
    today = _day(until)
    start = _day(since)
    if start >= today:
        return queries.agent_hours(tenant_id, start, until)
    days = _kept(
        ("hours", tenant_id, start, today), lambda: queries.agent_hours(tenant_id, start, today)
    )
    return [*days, *queries.agent_hours(tenant_id, today, until)]


def scope_history(
    tenant_id: uuid.UUID, since: dt.datetime, until: dt.datetime
) -> list[dict[str, Any]]:
    """queries.scope_history over [since's day, until), the kept days and today merged
    per agent and item (``days`` may count today's date twice)."""
    today = _day(until)
    start = _day(since)
    if start >= today:
        return queries.scope_history(tenant_id, start, until)
    days = _kept(
        ("scope", tenant_id, start, today), lambda: queries.scope_history(tenant_id, start, today)
    )
    merged = {(r["agent_id"], r["dimension"], r["item"]): r for r in days}
    for row in queries.scope_history(tenant_id, today, until):
        key = (row["agent_id"], row["dimension"], row["item"])
        known = merged.get(key)
        if known is None:
            merged[key] = row
            continue
        merged[key] = {
            **known,
            "first_seen": min(known["first_seen"], row["first_seen"]),
            "last_seen": max(known["last_seen"], row["last_seen"]),
            "uses": known["uses"] + row["uses"],
            "days": known["days"] + row["days"],
        }
    return list(merged.values())


def first_activity(tenant_id: uuid.UUID, until: dt.datetime) -> dict[uuid.UUID, dt.datetime]:
    """queries.first_activity: before today kept, today's newcomers read."""
    today = _day(until)
    before: dict[uuid.UUID, dt.datetime] = _kept(
        ("first", tenant_id, today), lambda: queries.first_activity(tenant_id, today)
    )
    recent = {
        agent: at
        for agent, at in queries.first_activity(tenant_id, until, since=today).items()
        if agent not in before
    }
    return {**before, **recent}

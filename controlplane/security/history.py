"""The history a detection run compares with, kept between runs (per process).

Hours of activity: whole hours before the run's hour, kept as arrays per agent
(baselines.PastHours), extended as hours close and read again from the start each day;
the run's own hour read at every run. Scope items and first activity: whole days before
today kept, today read at every run. A run every minute, or after every pull, then reads
minutes of rollups instead of weeks (bench/README.md, "Detectors' CPU").

Entries are kept for every tenant up to KEPT_BYTES, least recently used out first (the
first version kept 32 entries, which a fleet of a dozen tenants judged in turn emptied
before any was read again). Values are shared between runs: callers must not change them.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from array import array
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np
import pyarrow as pa

from controlplane.security import queries
from controlplane.security.baselines import HOUR_METRICS, PastHours

KEPT_BYTES = 256 * 1024 * 1024
HOUR_BYTES = 8 * (1 + len(HOUR_METRICS))  # a PastHours hour
ROW_BYTES = 1024  # a row kept as a dict, about

_cache: OrderedDict[tuple[Any, ...], tuple[Any, int]] = OrderedDict()
_cache_bytes = 0
_lock = threading.Lock()


def _day(moment: dt.datetime) -> dt.datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def _get(key: tuple[Any, ...]) -> Any:
    with _lock:
        found = _cache.get(key)
        if found is None:
            return None
        _cache.move_to_end(key)
        return found[0]


def _put(key: tuple[Any, ...], value: Any, size: int) -> None:
    global _cache_bytes
    with _lock:
        if key in _cache:
            _cache_bytes -= _cache.pop(key)[1]
        _cache[key] = (value, size)
        _cache_bytes += size
        while _cache_bytes > KEPT_BYTES and len(_cache) > 1:
            _cache_bytes -= _cache.popitem(last=False)[1][1]


def _kept(key: tuple[Any, ...], read: Callable[[], Any]) -> Any:
    found = _get(key)
    if found is None:
        found = read()
        _put(key, found, ROW_BYTES * len(found))
    return found


@dataclass(frozen=True)
class _Hours:
    """A tenant's kept hours: [start, until)."""

    start: dt.datetime
    until: dt.datetime
    agents: dict[uuid.UUID, PastHours]

    @property
    def size(self) -> int:
        return HOUR_BYTES * sum(len(hours.starts) for hours in self.agents.values())


def _past_hours(table: pa.Table) -> dict[uuid.UUID, PastHours]:
    """queries.agent_hours_table's rows as one PastHours per agent."""
    count = table.num_rows
    if count == 0:
        return {}
    ids = table.column("agent_id").combine_chunks()
    if isinstance(ids, pa.ExtensionArray):  # arrow.uuid over 16 bytes
        ids = ids.storage
    raw = np.frombuffer(ids.buffers()[1], dtype=np.uint8)
    raw = raw[ids.offset * 16 : (ids.offset + count) * 16].reshape(count, 16)
    bounds = [0, *(np.flatnonzero((raw[1:] != raw[:-1]).any(axis=1)) + 1).tolist(), count]
    starts = table.column("hour").cast(pa.timestamp("s", "UTC")).cast(pa.int64()).to_numpy()
    values = np.column_stack(
        [table.column(name).to_numpy().astype(np.float64) for name in HOUR_METRICS]
    )
    agents = {}
    for lo, hi in pairwise(bounds):
        agent_starts, agent_values = array("q"), array("d")
        agent_starts.frombytes(starts[lo:hi].astype(np.int64).tobytes())
        agent_values.frombytes(np.ascontiguousarray(values[lo:hi]).tobytes())
        agents[uuid.UUID(bytes=raw[lo].tobytes())] = PastHours(agent_starts, agent_values)
    return agents


def agent_hours(
    tenant_id: uuid.UUID, since: dt.datetime, until: dt.datetime
) -> tuple[dict[uuid.UUID, PastHours], list[dict[str, Any]]]:
    """queries.agent_hours over [since's day, until): the whole hours before until's
    hour as kept arrays (one entry per tenant), the rest as rows. The arrays are
    extended when hours have closed since the last run and read again when the first
    day moves (each day); a run before the kept hours (a replay) reads them again."""
    start = _day(since)
    hour = until.replace(minute=0, second=0, microsecond=0)
    if hour <= start:
        return {}, queries.agent_hours(tenant_id, start, until)
    key = ("hours", tenant_id)
    kept: _Hours | None = _get(key)
    if kept is None or kept.start != start or kept.until > hour:
        table = queries.agent_hours_table(tenant_id, start, hour)
        kept = _Hours(start, hour, _past_hours(table))
        _put(key, kept, kept.size)
    elif kept.until < hour:
        later = _past_hours(queries.agent_hours_table(tenant_id, kept.until, hour))
        agents = dict(kept.agents)
        for agent_id, hours in later.items():
            earlier = agents.get(agent_id)
            agents[agent_id] = earlier.extended(hours) if earlier is not None else hours
        kept = _Hours(start, hour, agents)
        _put(key, kept, kept.size)
    return kept.agents, queries.agent_hours(tenant_id, hour, until) if hour < until else []


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

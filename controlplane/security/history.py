"""The history a detection run compares with, kept between runs (per process).

Hours of activity: whole hours before the run's hour, kept as arrays per agent
(baselines.PastHours), extended as hours close and read again from the start each day;
the run's own hour made from the minutes the run reads anyway. Scope items: whole days
before today kept, today's settled hours kept until late spans arrive, the rest made
from the scope minutes the run reads anyway. First activity: days before today kept,
today's newcomers read again only when the run's minutes show an agent not known yet. A
run every minute, or after every pull, then reads two rollups of its last hour or so
(decisions 0056 and 0057; bench/README.md, "Detectors' CPU").

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

from controlplane.analytics import freshness
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


def _kept(key: tuple[Any, ...], valid: tuple[Any, ...], read: Callable[[], Any]) -> Any:
    """What ``read`` gives, kept under ``key`` (one entry per tenant and kind) while
    ``valid`` (the window it covers, a freshness token) stays the same."""
    found = _get(key)
    if found is not None and found[0] == valid:
        return found[1]
    value = read()
    _put(key, (valid, value), ROW_BYTES * len(value))
    return value


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
    tenant_id: uuid.UUID,
    since: dt.datetime,
    until: dt.datetime,
    minutes: list[dict[str, Any]],
) -> tuple[dict[uuid.UUID, PastHours], list[dict[str, Any]]]:
    """queries.agent_hours over [since's day, until): the whole hours before until's
    hour as kept arrays (one entry per tenant), the rest as rows made from ``minutes``
    (queries.agent_minutes rows from until's hour or earlier). The arrays are extended
    when hours have closed since the last run and read again when the first day moves
    (each day); a run before the kept hours (a replay) reads them again."""
    start = _day(since)
    hour = until.replace(minute=0, second=0, microsecond=0)
    recent = hours_of_minutes(minutes, hour, until)
    if hour <= start:
        return {}, recent
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
    return kept.agents, recent


def hours_of_minutes(
    minutes: list[dict[str, Any]], since: dt.datetime, until: dt.datetime
) -> list[dict[str, Any]]:
    """queries.agent_hours's rows for [since, until) from queries.agent_minutes's rows:
    per agent and hour, the totals and the busiest ten minutes (ten-minute slots of the
    clock, as toStartOfTenMinutes cuts them)."""
    tens: dict[tuple[uuid.UUID, dt.datetime], list[float]] = {}
    for row in minutes:
        minute = row["minute"]
        if not since <= minute < until:
            continue
        slot = minute.replace(minute=minute.minute - minute.minute % 10)
        sums = tens.get((row["agent_id"], slot))
        if sums is None:
            sums = tens[row["agent_id"], slot] = [0.0] * len(queries.VOLUME_METRICS)
        for index, metric in enumerate(queries.VOLUME_METRICS):
            sums[index] += float(row[metric])
    hours: dict[tuple[uuid.UUID, dt.datetime], dict[str, Any]] = {}
    for (agent_id, slot), sums in sorted(tens.items()):
        hour = slot.replace(minute=0)
        found = hours.get((agent_id, hour))
        if found is None:
            found = hours[agent_id, hour] = {"agent_id": agent_id, "hour": hour}
            found.update(dict.fromkeys(HOUR_METRICS, 0.0))
        for metric, value in zip(queries.VOLUME_METRICS, sums, strict=True):
            found[metric] += value
            found[f"peak_{metric}"] = max(found[f"peak_{metric}"], value)
    return list(hours.values())


def scope(
    tenant_id: uuid.UUID,
    since: dt.datetime,
    until: dt.datetime,
    *,
    history_from: dt.datetime,
    recent_from: dt.datetime,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(queries.scope_history over [history_from's day, since), queries.scope_minutes
    over [recent_from, until)). The history is merged per agent and item from the days
    before today (kept, read again each day), today's hours that take no more spans but
    late ones (kept until late spans arrive: the tenant's ``settled`` token,
    controlplane/analytics/freshness.py) and the rest, an hour or so, summed from the
    minutes read for the recent part: one read at every run."""
    first_day = _day(history_from)
    days_end = max(first_day, _day(since))
    settled = max(days_end, freshness.settled_until(since))
    # Taken before the reads: spans inserted while they read renew it.
    token = freshness.token(str(tenant_id), freshness.SETTLED)

    def read(lo: dt.datetime, hi: dt.datetime) -> list[dict[str, Any]]:
        return queries.scope_history(tenant_id, lo, hi) if lo < hi else []

    minutes = queries.scope_minutes(tenant_id, min(settled, recent_from), until)
    parts = [
        _kept(("scope-days", tenant_id), (first_day, days_end), lambda: read(first_day, days_end)),
        _kept(
            ("scope-today", tenant_id), (days_end, settled, token), lambda: read(days_end, settled)
        ),
        _scope_history_of_minutes(minutes, settled, since),
    ]
    merged: dict[tuple[Any, ...], dict[str, Any]] = {}
    for part in parts:  # in time order: only the last date of one may be the next's first
        for row in part:
            key = (row["agent_id"], row["dimension"], row["item"])
            known = merged.get(key)
            if known is None:
                merged[key] = row
                continue
            shared_day = known["last_seen"].date() == row["first_seen"].date()
            merged[key] = {
                **known,
                "last_seen": row["last_seen"],
                "uses": known["uses"] + row["uses"],
                "days": known["days"] + row["days"] - shared_day,
            }
    recent = [row for row in minutes if row["minute"] >= recent_from]
    return list(merged.values()), recent


def _scope_history_of_minutes(
    minutes: list[dict[str, Any]], since: dt.datetime, until: dt.datetime
) -> list[dict[str, Any]]:
    """queries.scope_history's rows for [since, until) from queries.scope_minutes's."""
    found: dict[tuple[Any, ...], dict[str, Any]] = {}
    dates: dict[tuple[Any, ...], set[dt.date]] = {}
    for row in minutes:  # in minute order
        minute = row["minute"]
        if not since <= minute < until:
            continue
        key = (row["agent_id"], row["dimension"], row["item"])
        known = found.get(key)
        if known is None:
            known = found[key] = {
                "agent_id": row["agent_id"],
                "dimension": row["dimension"],
                "item": row["item"],
                "first_seen": minute,
                "uses": 0,
            }
            dates[key] = set()
        known["last_seen"] = minute
        known["uses"] += row["uses"]
        dates[key].add(minute.date())
    for key, row in found.items():
        row["days"] = len(dates[key])
    return list(found.values())


def first_activity(
    tenant_id: uuid.UUID, until: dt.datetime, minutes: list[dict[str, Any]]
) -> dict[uuid.UUID, dt.datetime]:
    """queries.first_activity: before today kept; today's newcomers kept too, and read
    again only when ``minutes`` (the run's queries.agent_minutes rows, up to ``until``)
    show an agent known to neither. So a newcomer with no minute in ``minutes``, which
    the run judges nothing of, may be left out, and a newcomer's earlier first minute
    that arrives late is not seen until the next day: its first minute only tells
    whether it has learnt long enough, which an agent new today has not unless its
    tenant sets no learning days."""
    today = _day(until)
    before: dict[uuid.UUID, dt.datetime] = _kept(
        ("first", tenant_id), (today,), lambda: queries.first_activity(tenant_id, today)
    )

    def read() -> dict[uuid.UUID, dt.datetime]:
        found = queries.first_activity(tenant_id, until, since=today)
        return {agent: at for agent, at in found.items() if agent not in before}

    newcomers: dict[uuid.UUID, dt.datetime] = _kept(("newcomers", tenant_id), (today,), read)
    if not {row["agent_id"] for row in minutes} <= before.keys() | newcomers.keys():
        newcomers = read()
        _put(("newcomers", tenant_id), ((today,), newcomers), ROW_BYTES * len(newcomers))
    return {**before, **{agent: at for agent, at in newcomers.items() if at < until}}

"""A window that ends now, read as its settled hours and its open tail
(docs/decisions/0048-dashboard-split-windows.md).

The part before ``freshness.settled_until(now)`` takes no more spans but late ones, so it
is cached under the tenant's ``settled`` token (``cache``); only the tail after it, an
hour or so, is read again when spans arrive, the chart's and every breakdown's in one
query (``tail_rows``, decision 0059). The two parts merge into exactly what one query
over the whole window answers:

- chart buckets, totals and the gateway's attempts are sums: added per bucket or
  provider (a bucket across the boundary has a share in each part);
- breakdowns keep every group of each part (not the first twenty), its sums and its
  latency state (``quantileTiming``, ``timing``); groups are ranked after the merge as
  the SQL ranks them, and p50 and p95 are read from the merged states of the groups
  shown. Every rollup keeps ``quantileTiming`` states (the per-minute one too, decision
  0051), so every breakdown splits, whatever its window and filters.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from controlplane.analytics import freshness
from controlplane.analytics.scoped import tenant_query
from controlplane.dashboards import queries
from controlplane.dashboards.cache import cached
from controlplane.dashboards.queries import Breakdowns, Overview
from controlplane.dashboards.rollups import (
    SPANS_MINUTE,
    TIMING_CAP_MS,
    Filters,
    Window,
    render,
)
from controlplane.dashboards.timing import Timing

HOUR = 3600
# A settled part serves until the settled hour moves on (then a new part is read).
SETTLED_PART_SECONDS = 2 * HOUR
_SUMS = ("requests", "faults", "timeouts", "refused", "input_tokens", "output_tokens", "cost")
_ATTEMPTS = ("attempts", "failures", "timeouts", "failovers", "breaker_trips")
_ZERO_UUID = uuid.UUID(int=0)
EVERY_DIMENSION = tuple(queries.DIMENSIONS)
Parts = dict[tuple[str, Any], dict[str, Any]]
# Every group of a ``GroupingSets``, its sums and its latency state (``render`` fills it).
GROUPED = """
    SELECT grouping($KEYS) AS grouping_set, $KEY_COLUMNS, $MEASURES,
           hex($STATE) AS state
    FROM $ROLLUP
    $WHERE
    GROUP BY GROUPING SETS ($SETS)
    HAVING $PRESENT
"""
# The open tail's chart buckets, and its groups by every breakdown's key at once
# (``tail_rows``; ``combination`` is 1 on the latter: ``bucket`` is not in their set).
TAIL = """
    SELECT grouping(bucket) AS combination, provider, model, agent_id, department_id, tool,
           $MODEL_CALL AS model_call, $BUCKET AS bucket, $MEASURES, hex($STATE) AS state
    FROM $ROLLUP
    $WHERE
    GROUP BY GROUPING SETS ((provider, model, agent_id, department_id, tool, model_call), (bucket))
"""
T = TypeVar("T")


def boundary(window: Window, now: dt.datetime) -> dt.datetime | None:
    """Where ``window`` splits into settled and open hours; None when it is all one."""
    settled = freshness.settled_until(now)
    return settled if window.since < settled < window.until else None


def parts(
    name: str,
    tenant_id: uuid.UUID | None,
    window: Window,
    filters: Filters,
    at: dt.datetime,
    now: dt.datetime,
    read: Callable[[Window], T],
) -> tuple[T, T]:
    """``read``'s result over ``[window.since, at)`` (cached while settled) and over
    ``[at, window.until)`` (cached until the next insert), for ``tenant_id`` (None: every
    tenant)."""
    tail = Window(at, window.until, window.bucket_seconds)
    return (
        settled_part(name, tenant_id, window, filters, at, now, read),
        cached(name, tenant_id, tail, filters, partial(read, tail), now=now),
    )


def settled_part(
    name: str,
    tenant_id: uuid.UUID | None,
    window: Window,
    filters: Filters,
    at: dt.datetime,
    now: dt.datetime,
    read: Callable[[Window], T],
) -> T:
    """``read``'s result over ``[window.since, at)``, cached while settled."""
    part = Window(window.since, at, window.bucket_seconds)
    return cached(
        name,
        tenant_id,
        part,
        filters,
        partial(read, part),
        now=now,
        settled_seconds=SETTLED_PART_SECONDS,
    )


def _parts(
    name: str,
    tenant_id: uuid.UUID,
    window: Window,
    filters: Filters,
    at: dt.datetime,
    now: dt.datetime,
    query: Any,
    *args: Any,
) -> tuple[Any, Any]:
    """``parts`` of ``query(tenant_id, part, filters, *args)``."""

    def read(part: Window) -> Any:
        return query(tenant_id, part, filters, *args)

    return parts(name, tenant_id, window, filters, at, now, read)


# --- the open tail --------------------------------------------------------------------


@dataclass(frozen=True)
class TailRows:
    """The open tail's chart buckets (``overview_buckets`` rows) and the groups of every
    breakdown (``breakdown_parts``)."""

    buckets: list[dict[str, Any]]
    groups: Parts


def tail_rows(
    tenant_id: uuid.UUID, tail: Window, filters: Filters, dimensions: tuple[str, ...]
) -> TailRows:
    """What both panels read of the open tail, in one query over ``spans_minute`` (it has
    every column, and a tail holds an hour or so of it; decision 0059): the chart's
    buckets, and the tail by every breakdown's key at once, added up per dimension here.
    A grouping set costs ClickHouse a millisecond or two whatever its rows, more than
    adding up the tail's few hundred combinations of keys (decision 0060)."""
    sql, params = render(
        TAIL,
        tail,
        tenant_id=tenant_id,
        filters=filters,
        rollup=SPANS_MINUTE,
        params={"bucket": tail.bucket_seconds},
        fragments={"$MODEL_CALL": queries.MODEL_CALL, "$BUCKET": queries.BUCKET},
    )
    buckets: list[dict[str, Any]] = []
    groups: Parts = {}
    columns = [(dimension, queries.DIMENSIONS[dimension][0]) for dimension in dimensions]
    served = "provider" in dimensions
    for row in tenant_query(sql, tenant_id=tenant_id, params=params):
        sums = {name: row[name] for name in _SUMS}
        if not row["combination"]:
            buckets.append({"bucket": queries.utc(row["bucket"]), **sums})
            continue
        state = bytes.fromhex(row["state"])
        for dimension, column in columns:
            if (key := row[column]) != "":  # no provider, model or tool: no group
                _add_group(groups, (dimension, key), sums, state)
        if served and row["model_call"] and row["provider"] != "":
            _add_group(groups, ("served", row["provider"]), sums, state)
    return TailRows(buckets=buckets, groups=groups)


def _add_group(groups: Parts, key: tuple[str, Any], sums: dict[str, Any], state: bytes) -> None:
    if (found := groups.get(key)) is None:
        groups[key] = {**sums, "states": [state]}
        return
    for name in _SUMS:
        found[name] += sums[name]
    found["states"].append(state)


@dataclass
class Split:
    """A panel request's window that ends in the open hours: its settled part
    ``[window.since, at)`` and its open tail ``[at, window.until)``. The tail of every
    breakdown and of the chart is read once (``tail_rows``), by whichever of the
    request's queries asks first while the others wait, and kept like any part until the
    next insert."""

    tenant_id: uuid.UUID
    window: Window
    filters: Filters
    at: dt.datetime
    now: dt.datetime
    _lock: threading.Lock = field(
        default_factory=threading.Lock, init=False, repr=False, compare=False
    )
    _tail: TailRows | None = field(default=None, init=False, repr=False, compare=False)

    def settled(self, name: str, window: Window, read: Callable[[Window], T]) -> T:
        """``read``'s result over ``[window.since, at)``."""
        return settled_part(name, self.tenant_id, window, self.filters, self.at, self.now, read)

    def tail(self) -> TailRows:
        with self._lock:
            if self._tail is None:
                tail = Window(self.at, self.window.until, self.window.bucket_seconds)
                self._tail = cached(
                    "open_tail",
                    self.tenant_id,
                    tail,
                    self.filters,
                    partial(tail_rows, self.tenant_id, tail, self.filters, EVERY_DIMENSION),
                    now=self.now,
                )
            return self._tail


def _add(rows: list[dict[str, Any]], key: str, sums: tuple[str, ...]) -> list[dict[str, Any]]:
    """``rows`` with one row per ``key``, the ``sums`` added (first seen order)."""
    merged: dict[Any, dict[str, Any]] = {}
    for row in rows:
        if (found := merged.get(row[key])) is None:
            merged[row[key]] = dict(row)
        else:
            for name in sums:
                found[name] += row[name]
    return list(merged.values())


def overview(window_split: Split) -> Overview:
    """``queries.usage_overview``: the buckets of the range before and the settled hours,
    then those of the tail."""
    window = window_split.window

    def read(part: Window) -> list[dict[str, Any]]:
        return queries.overview_buckets(window_split.tenant_id, part, window_split.filters)

    span = Window(window.before().since, window.until, window.bucket_seconds)
    settled = window_split.settled("overview_buckets", span, read)
    rows = _add([*settled, *window_split.tail().buckets], "bucket", _SUMS)
    return queries.overview_of(sorted(rows, key=lambda row: row["bucket"]), window)


def attempts(
    tenant_id: uuid.UUID, window: Window, filters: Filters, at: dt.datetime, now: dt.datetime
) -> list[dict[str, Any]]:
    """``queries.provider_attempts`` from the two parts, in its order."""
    parts = _parts(
        "provider_attempts", tenant_id, window, filters, at, now, queries.provider_attempts
    )
    rows = _add([*parts[0], *parts[1]], "provider", _ATTEMPTS)
    return sorted(rows, key=lambda row: (-row["breaker_trips"], -row["failovers"], row["provider"]))


# --- breakdowns -----------------------------------------------------------------------


def breakdown_parts(
    tenant_id: uuid.UUID, window: Window, filters: Filters, dimensions: tuple[str, ...]
) -> Parts:
    """Every group of ``dimensions`` over ``window``: its sums and its
    latency state, by (dimension, key); the providers' served model calls as
    ``served``."""
    by_value = set(dimensions) <= queries.BY_VALUE and queries.reads_by_value(window, filters)
    if by_value:
        sql, params = render(
            """
            SELECT dimension, key, $MEASURES, hex($STATE) AS state
            FROM $ROLLUP
            $WHERE
              AND has({dimensions:Array(String)}, dimension)
            GROUP BY dimension, key
            HAVING key != ''
            """,
            window,
            tenant_id=tenant_id,
            columns=queries.BY_VALUE_COLUMNS,
            params={"dimensions": [*dimensions, *(["served"] if "provider" in dimensions else [])]},
        )
        rows = tenant_query(sql, tenant_id=tenant_id, params=params)
        found = {(row["dimension"], row["key"]): row for row in rows}
    else:
        sets = queries.GroupingSets.of(dimensions)
        sql, params = render(
            GROUPED,
            window,
            tenant_id=tenant_id,
            filters=filters,
            columns=frozenset().union(*(queries.breakdown_columns(d) for d in dimensions)),
            fragments=sets.fragments,
        )
        found = _by_group(
            *sets.split(tenant_query(sql, tenant_id=tenant_id, params=params), dimensions)
        )
    return _as_parts(found, by_value=by_value)


def _by_group(
    groups: dict[str, list[dict[str, Any]]], served: list[dict[str, Any]] | None
) -> dict[tuple[str, Any], dict[str, Any]]:
    """``GroupingSets.split``'s rows by (dimension, key), the served ones as ``served``."""
    return {
        (dimension, row["key"]): row
        for dimension, rows in [*groups.items(), ("served", served or [])]
        for row in rows
    }


def _as_parts(found: dict[tuple[str, Any], dict[str, Any]], *, by_value: bool) -> Parts:
    return {
        (dimension, _key(dimension, key, by_value)): {
            **{name: row[name] for name in _SUMS},
            "states": [bytes.fromhex(row["state"])],
        }
        for (dimension, key), row in found.items()
    }


def _key(dimension: str, key: Any, by_value: bool) -> Any:
    return uuid.UUID(key) if by_value and dimension == "department" else key


def breakdowns(window_split: Split, dimensions: tuple[str, ...]) -> Breakdowns:
    """``queries.breakdowns`` from the groups of the settled part and of the tail."""

    def read(part: Window) -> Parts:
        return breakdown_parts(window_split.tenant_id, part, window_split.filters, dimensions)

    settled = window_split.settled(
        "breakdown_parts:" + ",".join(dimensions), window_split.window, read
    )
    wanted = {*dimensions, *(["served"] if "provider" in dimensions else [])}
    merged: Parts = {key: dict(row) for key, row in settled.items()}
    for key, row in window_split.tail().groups.items():
        if key[0] not in wanted:
            continue
        if (found := merged.get(key)) is None:
            merged[key] = row
            continue
        for measure in _SUMS:
            found[measure] += row[measure]
        found["states"] = [*found["states"], *row["states"]]
    window, filters = window_split.window, window_split.filters
    by_value = set(dimensions) <= queries.BY_VALUE and queries.reads_by_value(window, filters)
    return rank(merged, dimensions, by_value=by_value)


def _order(key: Any, by_value: bool) -> tuple[bytes, bytes, str]:
    """ClickHouse's order of a group's key: UUIDs by their second half first; the
    one-row-per-value tables order by ``toUUIDOrZero(key)``, then the text."""
    if isinstance(key, uuid.UUID):
        return key.bytes[8:], key.bytes[:8], ""
    as_uuid = _ZERO_UUID
    if by_value:
        with contextlib.suppress(ValueError):
            as_uuid = uuid.UUID(key)
    return as_uuid.bytes[8:], as_uuid.bytes[:8], key


def latency(states: list[bytes]) -> tuple[float, float]:
    """p50 and p95 of the merged ``states`` (inf at the cap), as the SQL reads them."""
    merged = Timing.merge_all([Timing.parse(state) for state in states])
    p50, p95 = (
        math.inf if value >= TIMING_CAP_MS else value for value in merged.quantiles((0.5, 0.95))
    )
    return p50, p95


def rank(parts: Parts, dimensions: tuple[str, ...], *, by_value: bool) -> Breakdowns:
    """The ranked lists of ``queries.breakdowns`` from every group's sums and states:
    most requests first, highest fault rate then most faults first, ties by key."""
    groups: dict[str, list[dict[str, Any]]] = {dimension: [] for dimension in dimensions}
    served: list[dict[str, Any]] = []
    for (dimension, key), part in parts.items():
        row = {"key": key, **{name: part[name] for name in _SUMS}, "states": part["states"]}
        (served if dimension == "served" else groups[dimension]).append(row)
    for rows in groups.values():
        orders = [_order(row["key"], by_value) for row in rows]
        by_usage = sorted(range(len(rows)), key=lambda i: (-rows[i]["requests"], orders[i]))
        for place, i in enumerate(by_usage, 1):
            rows[i]["usage_rank"] = place
        by_faults = sorted(
            range(len(rows)),
            key=lambda i: (-rows[i]["faults"] / rows[i]["requests"], -rows[i]["faults"], orders[i]),
        )
        for place, i in enumerate(by_faults, 1):
            rows[i]["fault_rank"] = place
    shown = [
        row for rows in groups.values() for row in rows if row["usage_rank"] <= queries.USAGE_LIMIT
    ]
    for row in [*shown, *served]:
        row["p50_ms"], row["p95_ms"] = latency(row["states"])
    return queries.lists(groups, served if "provider" in dimensions else None)

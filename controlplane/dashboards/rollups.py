"""Which rollup a dashboard query reads, and the SQL fragments that read it.

A query reads the smallest rollup that has every column it groups or filters by and
whose time slots tile the window and its chart buckets (``rollup_for``,
docs/decisions/0010-dashboard-rollups.md). A query without chart buckets (a total, a
breakdown) over whole hours reads its whole UTC days from the daily table of that
rollup and only the hours before the first and after the last whole day from the hourly
one, as one ``UNION ALL`` (migration 0007, docs/decisions/0038-dashboard-panels.md): the
same sums and the same ``quantileTiming`` states, a thirtieth of the rows.

Every fragment here is constant text; values are ``{name:Type}`` parameters.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from dataclasses import dataclass

from controlplane.analytics.store import one_thread
from controlplane.telemetry.spans import IN_DEPARTMENTS

# quantileTiming counts every latency above 30 s as 30 s, so a merged percentile at that
# cap means "30 s or more": it is returned as +inf for the pages to say so.
TIMING_CAP_MS = 30_000
# Every rollup's latency column: a quantileTiming state, whose merge does not depend on
# the order of the states (docs/decisions/0051-lean-results-and-one-latency-state.md).
STATE = "duration_ms_timing"
DAY = 86_400
# A window this short reads a few granules of each part (an open tail, the 1-hour
# range): one thread reads them for less CPU than several (decision 0055).
SHORT_READ = dt.timedelta(hours=2)


@dataclass(frozen=True)
class Window:
    """A time range and the width of its chart buckets, in seconds."""

    since: dt.datetime
    until: dt.datetime
    bucket_seconds: int

    def before(self) -> Window:
        """The range of the same length just before this one, in the same buckets."""
        return Window(self.since - (self.until - self.since), self.since, self.bucket_seconds)


@dataclass(frozen=True)
class Rollup:
    """A rollup table: its time column, the seconds of one row's time slot, the columns
    it keeps besides ``tenant_id`` and time, and its daily table (same columns, ``day``
    for the time) if it has one. Every rollup keeps the latency as a ``quantileTiming``
    state in ``STATE``."""

    table: str
    time: str
    seconds: int
    columns: frozenset[str]
    daily: str | None = None


def percentile(level: float) -> str:
    """The merged latency percentile at ``level``."""
    value = f"quantileTimingMerge({level})({STATE})"
    return f"if({value} >= {TIMING_CAP_MS}, inf, {value})"


def median_and_p95() -> str:
    """``[p50, p95]`` of the merged latency, from one merge of the states (two quantile
    functions would merge every state twice)."""
    value = f"quantilesTimingMerge(0.5, 0.95)({STATE})"
    return f"arrayMap(x -> if(x >= {TIMING_CAP_MS}, inf, x), {value})"


SPANS_MINUTE = Rollup(
    "spans_minute",
    "minute",
    60,
    frozenset({"agent_id", "department_id", "kind", "provider", "model", "tool", "status"}),
)
# Smallest first; spans_minute has every column and fits every window of whole minutes.
ROLLUPS = (
    Rollup("tenants_hour", "hour", 3600, frozenset({"status"}), daily="tenants_day"),
    Rollup("tenants_quarter_hour", "quarter_hour", 900, frozenset({"status"})),
    Rollup(
        "spans_hour",
        "hour",
        3600,
        frozenset({"department_id", "kind", "provider", "model", "tool", "status"}),
        daily="spans_day",
    ),
    Rollup(
        "agents_hour",
        "hour",
        3600,
        frozenset({"agent_id", "department_id", "status"}),
        daily="agents_day",
    ),
    Rollup(
        "agent_models_hour",
        "hour",
        3600,
        frozenset({"agent_id", "department_id", "kind", "provider", "model", "status"}),
    ),
    # One row per breakdown value (migration 0007): read by unfiltered breakdowns only.
    Rollup(
        "breakdowns_hour",
        "hour",
        3600,
        frozenset({"dimension", "key", "status"}),
        daily="breakdowns_day",
    ),
    SPANS_MINUTE,
)
# The edge gateway's attempts (migration 0003): read by provider_attempts only.
PROVIDER_ATTEMPTS = Rollup(
    "provider_attempts_minute",
    "minute",
    60,
    frozenset({"agent_id", "department_id", "provider", "model"}),
)
# What a query may read of a rollup besides its columns (the daily tables' UNION ALL
# names them, in this order).
MEASURES = ("requests", "input_tokens", "output_tokens", "cost")


def rollup_for(window: Window, columns: frozenset[str]) -> Rollup:
    """The smallest rollup with ``columns`` whose time slots tile the window and its
    buckets (a bucket never splits a row). A window without buckets: ``bucket_seconds``
    0."""
    for rollup in ROLLUPS:
        fits = all(
            seconds % rollup.seconds == 0
            for seconds in (
                int(window.since.timestamp()),
                int(window.until.timestamp()),
                window.bucket_seconds,
            )
        )
        if fits and columns <= rollup.columns:
            return rollup
    return SPANS_MINUTE


@dataclass(frozen=True)
class Source:
    """What a query reads: a rollup over the window, and the whole UTC days
    ``[days[0], days[1])`` of it read from its daily table instead (None: none)."""

    rollup: Rollup
    days: tuple[dt.datetime, dt.datetime] | None = None


def source_for(window: Window, columns: frozenset[str], *, bucketed: bool) -> Source:
    """The rollup for ``columns`` over ``window``; without chart buckets, whole days of a
    rollup that has a daily table come from that table."""
    if bucketed:
        return Source(rollup_for(window, columns))
    rollup = rollup_for(dataclasses.replace(window, bucket_seconds=0), columns)
    if rollup.daily is None:
        return Source(rollup)
    since, until = int(window.since.timestamp()), int(window.until.timestamp())
    first, last = -(-since // DAY) * DAY, until // DAY * DAY
    if first >= last:
        return Source(rollup)
    return Source(
        rollup, (dt.datetime.fromtimestamp(first, dt.UTC), dt.datetime.fromtimestamp(last, dt.UTC))
    )


_SINCE = "{since:DateTime('UTC')}"
_UNTIL = "{until:DateTime('UTC')}"
_DAY_SINCE = "{day_since:DateTime('UTC')}"
_DAY_UNTIL = "{day_until:DateTime('UTC')}"
TENANT = "tenant_id = {tenant_id:UUID}"


def from_and_where(
    source: Source, conditions: str, *, tenant: bool = True
) -> tuple[str, str, dict[str, object]]:
    """``FROM`` (``… AS r``) and ``WHERE`` texts that read ``source`` between ``{since}``
    and ``{until}`` (of ``tenant_id`` only, unless ``tenant`` is False: the fleet), with
    ``conditions`` (``AND …`` text) on the rows, and the parameters they add."""
    rollup = source.rollup
    scope = f"{TENANT} AND " if tenant else ""
    if source.days is None:
        time = f"{rollup.time} >= {_SINCE} AND {rollup.time} < {_UNTIL}"
        return f"{rollup.table} AS r", f"WHERE {scope}{time} {conditions}", {}
    assert rollup.daily is not None
    columns = ", ".join(["tenant_id", *sorted(rollup.columns), *MEASURES, STATE])
    days = f"day >= {_DAY_SINCE} AND day < {_DAY_UNTIL}"
    # The hours before and after the whole days as two ranges: one condition with OR
    # would not narrow the primary key's range, and read every hour of the window.
    time = rollup.time
    parts = [
        (rollup.daily, days),
        (rollup.table, f"{time} >= {_SINCE} AND {time} < {_DAY_SINCE}"),
        (rollup.table, f"{time} >= {_DAY_UNTIL} AND {time} < {_UNTIL}"),
    ]
    union = " UNION ALL ".join(  # every name and condition a constant of this package
        f"SELECT {columns} FROM {table} WHERE {scope}{where} {conditions}"  # noqa: S608
        for table, where in parts
    )
    first, last = source.days
    return f"({union}) AS r", "WHERE 1", {"day_since": first, "day_until": last}


@dataclass(frozen=True)
class Filters:
    agent_id: uuid.UUID | None = None
    department_id: uuid.UUID | None = None
    provider: str | None = None
    model: str | None = None
    departments: frozenset[uuid.UUID] | None = None
    """Not a filter the person chose: a department-scoped person's limit (None: none)."""

    @property
    def active(self) -> bool:
        return any(
            value is not None
            for value in (self.agent_id, self.department_id, self.provider, self.model)
        )

    def values(self) -> dict[str, object]:
        """The parameters of the filters that are set."""
        values = {
            "agent_id": self.agent_id,
            "department_id": self.department_id,
            "provider": self.provider,
            "model": self.model,
            "departments": sorted(self.departments) if self.departments is not None else None,
        }
        return {name: value for name, value in values.items() if value is not None}


# Each filter's column and condition.
_FILTERS = {
    "agent_id": ("agent_id", "AND agent_id = {agent_id:UUID}"),
    "department_id": ("department_id", "AND department_id = {department_id:UUID}"),
    "provider": ("provider", "AND provider = {provider:String}"),
    "model": ("model", "AND model = {model:String}"),
    "departments": ("department_id", IN_DEPARTMENTS),
}
# Which rows count as faults, for the templates' $FAULTS.
FAULTS = "sumIf(r.requests, r.status IN ('error', 'timeout'))"
# A group's requests, faults, refusals, tokens and cost: $MEASURES.
MEASURE_SUMS = f"""
    sum(r.requests) AS requests, {FAULTS} AS faults,
    sumIf(r.requests, status = 'timeout') AS timeouts,
    sumIf(r.requests, status = 'refused') AS refused,
    sum(r.input_tokens) AS input_tokens,
    sum(r.output_tokens) AS output_tokens,
    sum(r.cost) AS cost
"""


def filter_columns(filters: Filters) -> frozenset[str]:
    return frozenset(_FILTERS[name][0] for name in filters.values())


def render(
    template: str,
    window: Window,
    *,
    tenant_id: uuid.UUID | None,
    filters: Filters = Filters(),
    columns: frozenset[str] = frozenset({"status"}),
    bucketed: bool = False,
    rollup: Rollup | None = None,
    params: dict[str, object] | None = None,
    fragments: dict[str, str] | None = None,
) -> tuple[str, dict[str, object]]:
    """``template`` for the source that fits (``source_for``; or ``rollup``) and its
    parameters: ``$ROLLUP`` (the ``FROM`` text), ``$WHERE`` (tenant, range and the
    filters that are set), ``$TIME`` (bucketed templates only), ``$LATENCY``
    (``[p50, p95]``), ``$STATE`` (the merged latency state), ``$P95``,
    ``$MEASURES`` and ``$FAULTS`` filled in, then
    ``fragments`` (constant texts of the caller).
    ``columns``: what the template reads besides the filters; ``tenant_id`` None reads
    every tenant (the fleet)."""
    values = filters.values()
    conditions = "".join(_FILTERS[name][1] for name in values)
    needed = columns | filter_columns(filters)
    source = Source(rollup) if rollup else source_for(window, needed, bucketed=bucketed)
    table, where, extra = from_and_where(source, conditions, tenant=tenant_id is not None)
    parts = {
        **(fragments or {}),
        "$MEASURES": MEASURE_SUMS,
        "$ROLLUP": table,
        "$WHERE": where,
        "$FAULTS": FAULTS,
        "$LATENCY": median_and_p95(),
        "$P95": percentile(0.95),
        "$STATE": f"quantileTimingMergeState(r.{STATE})",
    }
    if source.days is None:
        parts["$TIME"] = source.rollup.time
    sql = template
    for marker, text in parts.items():
        sql = sql.replace(marker, text)
    if "$" in sql:
        raise ValueError(f"unfilled fragment in {sql!r}")
    if window.until - window.since <= SHORT_READ:
        sql = one_thread(sql)
    bound: dict[str, object] = {
        "since": window.since.replace(microsecond=0),
        "until": window.until.replace(microsecond=0),
        **values,
        **extra,
        **(params or {}),
    }
    if tenant_id is not None:
        bound["tenant_id"] = tenant_id
    return sql, bound

"""Robust per-agent baselines (docs/decisions/0026-behavioral-baselines.md).

Volume: for the hour-of-week of a minute, the busiest ten minutes of the same hour and
its neighbours in each of the last five weeks (and, in the last days of a month, of the
same days of earlier months), summarised by median and MAD. Medians ignore a holiday
week or a past incident; MAD scaled by 1.4826 estimates a standard deviation without
being dragged by the outliers it is meant to find. Hours covered by an alert that was
not marked a false positive are left out, so an ongoing attack never becomes normal.
"""

from __future__ import annotations

import datetime as dt
import statistics
import uuid
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

HOUR = dt.timedelta(hours=1)
WEEK = dt.timedelta(weeks=1)
HISTORY_WEEKS = 5
MAD_TO_SIGMA = 1.4826
MONTH_END_DAYS = 3
# The smallest level a ten-minute window is compared with, per metric: below it a change
# is noise, however large the ratio.
FLOORS = {"tasks": 4.0, "tokens": 6000.0, "returned_rows": 300.0, "cost": 0.05}


@dataclass(frozen=True)
class Robust:
    median: float
    mad: float
    samples: int

    def scale(self, floor: float) -> float:
        """A standard deviation estimate that is never below noise level."""
        return max(self.mad * MAD_TO_SIGMA, 0.2 * self.median, floor / 2)


def robust(values: Sequence[float]) -> Robust:
    if not values:
        return Robust(0.0, 0.0, 0)
    median = statistics.median(values)
    mad = statistics.median([abs(v - median) for v in values])
    return Robust(float(median), float(mad), len(values))


def month_end_index(day: dt.date) -> int | None:
    """0 for the month's last business day, 1 for the one before, ...; None for a day
    that is not among the last MONTH_END_DAYS business days (nor a business day)."""
    if day.weekday() >= 5:
        return None
    following = (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    index, moment = 0, following - dt.timedelta(days=1)
    while moment > day:
        if moment.weekday() < 5:
            index += 1
        moment -= dt.timedelta(days=1)
    return index if index < MONTH_END_DAYS else None


def month_end_day(year: int, month: int, index: int) -> dt.date:
    """The business day ``index`` business days before the month's last one."""
    moment = (dt.date(year, month, 28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
    seen = -1
    while True:
        if moment.weekday() < 5:
            seen += 1
            if seen == index:
                return moment
        moment -= dt.timedelta(days=1)


def hour_of_week(moment: dt.datetime) -> int:
    return moment.weekday() * 24 + moment.hour


# An agent hour's figures (queries.agent_hours): totals and busiest ten minutes.
HOUR_METRICS = (
    "tasks",
    "tokens",
    "returned_rows",
    "cost",
    "peak_tasks",
    "peak_tokens",
    "peak_returned_rows",
    "peak_cost",
)
_COLUMN = {name: index for index, name in enumerate(HOUR_METRICS)}
_WIDTH = len(HOUR_METRICS)


@dataclass(frozen=True)
class PastHours:
    """One agent's earlier hours as arrays, shared by the detection runs that read them
    and never changed: hour starts in epoch seconds, ascending, and for each hour its
    HOUR_METRICS in ``values`` (row after row). Weeks of a large tenant's hours kept
    this way take 72 bytes an hour instead of a dict's ~1 KB."""

    starts: array[int]
    values: array[float]
    _per_task: dict[tuple[object, ...], list[float]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def value(self, hour: dt.datetime, key: str) -> float:
        at = int(hour.timestamp())
        index = bisect_left(self.starts, at)
        if index == len(self.starts) or self.starts[index] != at:
            return 0.0
        return self.values[index * _WIDTH + _COLUMN[key]]

    def extended(self, later: PastHours) -> PastHours:
        """These hours, then ``later``'s (all after them)."""
        return PastHours(self.starts + later.starts, self.values + later.values)

    def per_task(self, metric: str, since: int, excluded: frozenset[int]) -> list[float]:
        """``metric`` per task of the hours from ``since`` (epoch seconds) with three
        tasks or more, ``excluded`` hours left out: computed once per argument set."""
        key = (metric, since, excluded)
        found = self._per_task.get(key)
        if found is None:
            tasks, column, values = _COLUMN["tasks"], _COLUMN[metric], self.values
            found = []
            for index, start in enumerate(self.starts):
                row = index * _WIDTH
                if values[row + tasks] >= 3 and start >= since and start not in excluded:
                    found.append(values[row + column] / values[row + tasks])
            self._per_task[key] = found
        return found


@dataclass
class AgentHistory:
    """One agent's hourly history: ``hours[hour_start] = {metric: total, peak_metric: ...}``
    for the latest hours, and the earlier ones in ``past`` (kept between runs)."""

    first_seen: dt.datetime | None
    hours: dict[dt.datetime, Mapping[str, float]] = field(default_factory=dict)
    past: PastHours | None = None
    excluded: list[tuple[dt.datetime, dt.datetime]] = field(default_factory=list)
    _excluded_hours: set[dt.datetime] = field(default_factory=set, init=False, repr=False)
    _per_task: dict[str, Robust] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        for start, end in self.excluded:
            hour = start.replace(minute=0, second=0, microsecond=0)
            while hour < end:
                self._excluded_hours.add(hour)
                hour += HOUR

    def usable(self, hour: dt.datetime) -> bool:
        if self.first_seen is None or hour < self.first_seen.replace(minute=0, second=0):
            return False
        return hour not in self._excluded_hours

    def value(self, hour: dt.datetime, key: str) -> float:
        row = self.hours.get(hour)
        if row is not None:
            return float(row.get(key, 0.0))
        return self.past.value(hour, key) if self.past is not None else 0.0

    def _weekly_hours(self, hour: dt.datetime) -> Iterable[list[dt.datetime]]:
        for weeks in range(1, HISTORY_WEEKS + 1):
            center = hour - weeks * WEEK
            yield [
                center + offset * HOUR
                for offset in (-1, 0, 1)
                if self.usable(center + offset * HOUR)
            ]

    def _month_end_hours(
        self, hour: dt.datetime, around: tuple[int, ...] = (-1, 0, 1)
    ) -> list[list[dt.datetime]]:
        """The same hour (and its neighbours) on the same business day before the end of
        each of the two previous months: month-end batches are learned from them."""
        index = month_end_index(hour.date())
        if index is None:
            return []
        groups = []
        year, month = hour.year, hour.month
        for _ in range(2):
            year, month = (year, month - 1) if month > 1 else (year - 1, 12)
            day = month_end_day(year, month, index)
            same = dt.datetime.combine(day, dt.time(hour.hour), tzinfo=dt.UTC)
            group = [same + k * HOUR for k in around if self.usable(same + k * HOUR)]
            if group:
                groups.append(group)
        return groups

    def volume(self, hour: dt.datetime, metric: str) -> Robust:
        """The expected busiest ten minutes of ``metric`` in ``hour``."""
        key = f"peak_{metric}"
        weekly = [self.value(h, key) for group in self._weekly_hours(hour) for h in group]
        best = robust(weekly)
        month_end = [self.value(h, key) for group in self._month_end_hours(hour) for h in group]
        if month_end:
            seasonal = robust(month_end)
            if seasonal.median > best.median:
                best = seasonal
        return best

    def hourly(self, hour: dt.datetime, metric: str) -> Robust:
        """The usual total of ``metric`` in ``hour`` (the same hour of the week in each of
        the last five weeks; at a month end, of earlier month ends if busier): the mean
        rate the coordination detector's joint test expects."""
        weekly = [
            self.value(center, metric)
            for weeks in range(1, HISTORY_WEEKS + 1)
            if self.usable(center := hour - weeks * WEEK)
        ]
        best = robust(weekly)
        month_end = [
            self.value(h, metric) for group in self._month_end_hours(hour, (0,)) for h in group
        ]
        if month_end:
            seasonal = robust(month_end)
            if seasonal.median > best.median:
                best = seasonal
        return best

    def active_share(self, hour: dt.datetime) -> tuple[int, int, bool]:
        """(weeks the agent worked around this hour-of-week, weeks it could have, whether
        it worked at this hour at the same point of an earlier month end)."""
        weekly = [g for g in self._weekly_hours(hour) if g]
        active = sum(1 for group in weekly if any(self.value(h, "tasks") > 0 for h in group))
        month_end = any(
            self.value(h, "tasks") > 0 for group in self._month_end_hours(hour) for h in group
        )
        return active, len(weekly), month_end

    def per_task(self, metric: str) -> Robust:
        """``metric`` per task over the hours with a few tasks: intensity, not rate."""
        if metric in self._per_task:
            return self._per_task[metric]
        values = [
            float(row[metric]) / float(row["tasks"])
            for hour, row in self.hours.items()
            if float(row.get("tasks", 0)) >= 3 and self.usable(hour)
        ]
        if self.past is not None and self.first_seen is not None:
            since = self.first_seen.replace(minute=0, second=0)
            excluded = frozenset(int(hour.timestamp()) for hour in self._excluded_hours)
            values += self.past.per_task(metric, int(since.timestamp()), excluded)
        self._per_task[metric] = robust(values)
        return self._per_task[metric]


def histories(
    hours: Iterable[Mapping[str, object]],
    first_seen: Mapping[uuid.UUID, dt.datetime],
    excluded: Mapping[uuid.UUID, list[tuple[dt.datetime, dt.datetime]]],
    past: Mapping[uuid.UUID, PastHours] | None = None,
) -> dict[uuid.UUID, AgentHistory]:
    """Each agent's history: ``past`` hours (arrays) and later ``hours`` (rows)."""
    past = past or {}
    result = {
        agent_id: AgentHistory(
            first_seen=first_seen.get(agent_id),
            excluded=list(excluded.get(agent_id, [])),
            past=past.get(agent_id),
        )
        for agent_id in [*first_seen, *(past.keys() - first_seen.keys())]
    }
    for row in hours:
        agent_id = row["agent_id"]
        assert isinstance(agent_id, uuid.UUID)
        history = result.setdefault(agent_id, AgentHistory(first_seen=None))
        hour = row["hour"]
        assert isinstance(hour, dt.datetime)
        history.hours[hour] = {k: float(v) for k, v in row.items() if isinstance(v, int | float)}
    return result

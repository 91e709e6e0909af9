"""What every detector reads and returns: the tenant's context for a pass, the sliding
minute windows of each agent, and the findings (controlplane/security/detectors.py)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from controlplane.security.baselines import AgentHistory

MINUTE = dt.timedelta(minutes=1)
WINDOW = 10  # minutes: the sliding window every detector judges
SHORT_WINDOW = 3  # minutes: a blatant flood is raised on it, before the long window fills
INTENSITY_WINDOW = 60  # minutes: per-task intensity needs a few tasks to be stable
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True)
class AgentInfo:
    role: str = ""
    department_id: uuid.UUID | None = None
    allowed: Mapping[str, frozenset[str]] = field(default_factory=dict)  # dimension → items
    window: Mapping[str, Any] | None = None  # configured operating window


@dataclass(frozen=True)
class Suppression:
    starts_at: dt.datetime
    ends_at: dt.datetime
    agent_ids: frozenset[uuid.UUID]
    kinds: frozenset[str]

    def covers(self, kind: str, agent_ids: Iterable[uuid.UUID], moment: dt.datetime) -> bool:
        if not (self.starts_at <= moment < self.ends_at):
            return False
        if self.kinds and kind not in self.kinds:
            return False
        return not self.agent_ids or set(agent_ids) <= self.agent_ids


@dataclass
class Context:
    tenant_id: uuid.UUID
    since: dt.datetime
    until: dt.datetime
    minutes: list[dict[str, Any]]  # agent_minutes over [since - WINDOW, until)
    histories: dict[uuid.UUID, AgentHistory]
    scope_history: list[dict[str, Any]]  # before since
    scope_recent: list[dict[str, Any]]  # scope_minutes over [since - 1 h, until)
    agents: dict[uuid.UUID, AgentInfo]
    sensitivity: str = "medium"
    learning_days: int = 14
    suppressions: list[Suppression] = field(default_factory=list)
    accepted_items: dict[uuid.UUID, set[tuple[str, str]]] = field(default_factory=dict)
    accepted_levels: dict[uuid.UUID, dict[str, float]] = field(default_factory=dict)
    alerted_items: dict[uuid.UUID, set[tuple[str, str]]] = field(default_factory=dict)


@dataclass
class Finding:
    kind: str
    subject: str  # what the alert is about; with the start, its dedup key
    agent_ids: list[uuid.UUID]
    site_id: uuid.UUID | None
    started_at: dt.datetime
    detected_at: dt.datetime  # end of the minute whose window was enough
    ended_at: dt.datetime
    severity: str
    title: str
    evidence: dict[str, Any]
    score: float = 0.0


@dataclass
class MinuteWindow:
    """Sliding sums per agent: ten minutes (rate), sixty minutes (intensity)."""

    sums: dict[str, float]
    short_sums: dict[str, float]
    hour_sums: dict[str, float]
    site_id: uuid.UUID | None


def minute_range(since: dt.datetime, until: dt.datetime) -> list[dt.datetime]:
    count = int((until - since) / MINUTE)
    return [since + i * MINUTE for i in range(count)]


def hour_label(moment: dt.datetime) -> str:
    return f"{WEEKDAYS[moment.weekday()]} {moment.hour:02d}:00"


def minute_windows(context: Context) -> dict[uuid.UUID, dict[dt.datetime, MinuteWindow]]:
    """Per agent and judged minute: the metrics summed over the ten (three, sixty)
    minutes ending there, from running sums; minutes with no data in their last ten
    minutes are left out."""
    by_agent: dict[uuid.UUID, dict[dt.datetime, dict[str, Any]]] = defaultdict(dict)
    for row in context.minutes:
        by_agent[row["agent_id"]][row["minute"]] = row
    first = context.since - (INTENSITY_WINDOW - 1) * MINUTE
    span = minute_range(first, context.until)
    offset = INTENSITY_WINDOW - 1  # index of context.since in span
    metrics = ("tasks", "tokens", "returned_rows", "cost", "errors", "model_calls")
    result: dict[uuid.UUID, dict[dt.datetime, MinuteWindow]] = {}
    for agent_id, rows in by_agent.items():
        # running[i] = totals of span[:i]; present[i] = minutes with data in span[:i]
        running = [[0.0] * len(metrics)]
        present = [0]
        sites: list[uuid.UUID | None] = []
        site: uuid.UUID | None = None
        for minute in span:
            found = rows.get(minute)
            totals = running[-1]
            if found is None:
                running.append(totals)
                present.append(present[-1])
            else:
                running.append([t + float(found[m]) for t, m in zip(totals, metrics, strict=True)])
                present.append(present[-1] + 1)
                site = found["site_id"]
            sites.append(site)

        windows: dict[dt.datetime, MinuteWindow] = {}
        for index in range(offset, len(span)):
            end = index + 1
            if present[end] == present[max(end - WINDOW, 0)]:
                continue
            windows[span[index]] = MinuteWindow(
                sums=_difference(metrics, running, end, WINDOW),
                short_sums=_difference(metrics, running, end, SHORT_WINDOW),
                hour_sums=_difference(metrics, running, end, INTENSITY_WINDOW),
                site_id=sites[index],
            )
        result[agent_id] = windows
    return result


def _difference(
    metrics: tuple[str, ...], running: list[list[float]], end: int, minutes: int
) -> dict[str, float]:
    """Totals of the ``minutes`` minutes before index ``end`` from running sums."""
    low = running[max(end - minutes, 0)]
    return {m: high - lo for m, high, lo in zip(metrics, running[end], low, strict=True)}


def is_learned(context: Context, agent_id: uuid.UUID) -> bool:
    history = context.histories.get(agent_id)
    if history is None or history.first_seen is None:
        return False
    return history.first_seen <= context.since - dt.timedelta(days=context.learning_days)


@dataclass
class VolumeSignal:
    agent_id: uuid.UUID
    minute: dt.datetime
    ratio: float
    z: float
    strong: bool
    evidence: dict[str, Any]

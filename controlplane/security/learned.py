"""What the baseline has learned about each agent, for people to read: the hours of the
week it works (next to the operating window its gateway policy configures) and the
tools, collections, data classes, models and hosts it uses most, with when each was
first seen. Reads the security rollups through controlplane/security/queries.py.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from controlplane.security import queries
from controlplane.security.baselines import HISTORY_WEEKS, WEEK, hour_of_week
from controlplane.security.detectors import in_configured_window

SCOPE_HISTORY = dt.timedelta(days=90)
TOP_ITEMS = 6
# An hour of the week is part of the learned window when the agent worked in it in this
# many of the last HISTORY_WEEKS weeks: below it the temporal detector calls work unusual.
LEARNED_WEEKS = 2
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True)
class ScopeItem:
    dimension: str
    item: str
    first_seen: dt.datetime
    last_seen: dt.datetime
    uses: int
    days: int


@dataclass(frozen=True)
class AgentProfile:
    agent_id: uuid.UUID
    name: str
    first_seen: dt.datetime | None
    learning: bool  # fewer than the tenant's learning days of own history
    learned: frozenset[int]  # hours of the week (UTC, Monday 00:00 = 0)
    configured: frozenset[int] | None  # None: no operating window configured
    window: Mapping[str, Any] | None
    top_items: list[ScopeItem]

    @property
    def outside_window(self) -> frozenset[int]:
        """Learned hours the configured window does not cover."""
        return self.learned - self.configured if self.configured is not None else frozenset()

    def grid(self) -> list[tuple[str, list[str]]]:
        """Per weekday, per hour (UTC): learned-and-configured ``both``, ``learned``
        only, ``configured`` only or ``""``."""
        rows = []
        for day, label in enumerate(DAYS):
            cells = []
            for hour in range(24):
                index = day * 24 + hour
                learned = index in self.learned
                configured = self.configured is not None and index in self.configured
                cells.append(
                    "both"
                    if learned and configured
                    else "learned"
                    if learned
                    else "configured"
                    if configured
                    else ""
                )
            rows.append((label, cells))
        return rows


def configured_hours(window: Mapping[str, Any] | None, now: dt.datetime) -> frozenset[int] | None:
    """The hours of the week (UTC) the configured window is open, judged at the middle
    of each hour of the week that ended at ``now``."""
    if not window:
        return None
    start = now - WEEK
    hours = set()
    for offset in range(168):
        moment = start.replace(minute=30, second=0, microsecond=0) + dt.timedelta(hours=offset)
        if in_configured_window(window, moment):
            hours.add(hour_of_week(moment))
    return frozenset(hours)


def learned_hours(hours: Iterable[Mapping[str, Any]]) -> dict[uuid.UUID, frozenset[int]]:
    """Per agent, the hours of the week it worked in (a task) in LEARNED_WEEKS weeks."""
    weeks: dict[uuid.UUID, dict[int, set[int]]] = defaultdict(lambda: defaultdict(set))
    for row in hours:
        if float(row.get("tasks") or 0) <= 0:
            continue
        hour: dt.datetime = row["hour"]
        week = int(hour.timestamp() // WEEK.total_seconds())
        weeks[row["agent_id"]][hour_of_week(hour)].add(week)
    return {
        agent: frozenset(h for h, seen in by_hour.items() if len(seen) >= LEARNED_WEEKS)
        for agent, by_hour in weeks.items()
    }


def agent_profiles(
    tenant_id: uuid.UUID,
    agents: Iterable[tuple[uuid.UUID, str, Mapping[str, Any] | None]],
    *,
    now: dt.datetime,
    learning_days: int,
) -> list[AgentProfile]:
    """Profiles of ``agents`` (id, name, configured operating window) of the tenant.
    Raises analytics.StoreError when ClickHouse does not answer."""
    hours = queries.agent_hours(tenant_id, now - HISTORY_WEEKS * WEEK, now)
    learned = learned_hours(hours)
    first = queries.first_activity(tenant_id, now)
    items: dict[uuid.UUID, list[ScopeItem]] = defaultdict(list)
    for row in queries.scope_history(tenant_id, now - SCOPE_HISTORY, now):
        items[row["agent_id"]].append(
            ScopeItem(
                dimension=str(row["dimension"]),
                item=str(row["item"]),
                first_seen=row["first_seen"],
                last_seen=row["last_seen"],
                uses=int(row["uses"]),
                days=int(row["days"]),
            )
        )
    profiles = []
    for agent_id, name, window in agents:
        first_seen = first.get(agent_id)
        used = sorted(items.get(agent_id, []), key=lambda i: (-i.uses, i.dimension, i.item))
        profiles.append(
            AgentProfile(
                agent_id=agent_id,
                name=name,
                first_seen=first_seen,
                learning=first_seen is None or now - first_seen < dt.timedelta(days=learning_days),
                learned=learned.get(agent_id, frozenset()),
                configured=configured_hours(window, now),
                window=window or None,
                top_items=used[:TOP_ITEMS],
            )
        )
    return profiles

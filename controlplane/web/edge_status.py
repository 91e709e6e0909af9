"""How an edge node is doing, from what the pull worker last recorded on it.

The worker pulls every node every few seconds; ``last_success_at`` is the end of its
last good pull and ``consecutive_failures`` counts the pulls that failed since.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from django.db.models import BooleanField, Count, Q
from django.db.models.expressions import RawSQL

from controlplane.agents.models import EdgeNode
from controlplane.dashboards import health
from controlplane.dashboards.health import host_problems

LATE_AFTER = dt.timedelta(seconds=30)
DOWN_AFTER = dt.timedelta(minutes=5)

HEALTHY = "healthy"
DEGRADED = "degraded"
LATE = "late"
DOWN = "down"
PENDING = "pending"

STATUS_LABELS = {
    HEALTHY: "Healthy",
    DEGRADED: "Degraded",
    LATE: "Late",
    DOWN: "Down",
    PENDING: "Not reached yet",
}
STATES = tuple(STATUS_LABELS)


def node_state(node: EdgeNode, now: dt.datetime) -> str:
    """``healthy`` (pulled within 30 s), ``degraded`` (pulled, but in trouble:
    ``node_problems``), ``late`` (pulled within 5 min), ``down`` (longer ago, or the
    latest pull failed), ``pending`` (never pulled and never failed: just added)."""
    if node.consecutive_failures > 0:
        return DOWN
    if node.last_success_at is None:
        return PENDING
    age = now - node.last_success_at
    if age > DOWN_AFTER:
        return DOWN
    if age > LATE_AFTER:
        return LATE
    return DEGRADED if node_problems(node) else HEALTHY


@dataclass(frozen=True)
class _Heartbeat:
    """The figures of a node's last heartbeat that its health is judged on."""

    records: float | None
    spool_bytes: float | None
    spool_max_bytes: float | None
    oldest_unpulled: dt.timedelta | None
    cpu_percent: float | None
    memory_percent: float | None
    disk_percent: float | None
    version: str


def _heartbeat(node: EdgeNode) -> _Heartbeat:
    heartbeat = node.heartbeat if isinstance(node.heartbeat, dict) else {}
    spool = heartbeat.get("spool") if isinstance(heartbeat.get("spool"), dict) else {}
    host = heartbeat.get("host") if isinstance(heartbeat.get("host"), dict) else {}
    assert isinstance(spool, dict) and isinstance(host, dict)
    oldest = _number(spool.get("oldest_unpulled_unix_nano"))
    oldest_age = None
    if oldest and node.heartbeat_at is not None:
        oldest_age = node.heartbeat_at - dt.datetime.fromtimestamp(oldest / 1e9, dt.UTC)
    return _Heartbeat(
        records=_number(spool.get("records")),
        spool_bytes=_number(spool.get("bytes")),
        spool_max_bytes=_number(spool.get("max_bytes")),
        oldest_unpulled=oldest_age,
        cpu_percent=_number(host.get("cpu_percent")),
        memory_percent=_number(host.get("memory_percent")),
        disk_percent=_number(host.get("disk_percent")),
        version=str(heartbeat.get("version") or ""),
    )


def node_problems(node: EdgeNode) -> list[str]:
    """What makes a node that pulls fine ``degraded``, in words: records waiting as dead
    letters, and its host's figures past the thresholds of ``dashboards.health``."""
    beat = _heartbeat(node)
    fill = (
        beat.spool_bytes / beat.spool_max_bytes
        if beat.spool_bytes is not None and beat.spool_max_bytes
        else None
    )
    problems = host_problems(
        cpu_percent=beat.cpu_percent,
        memory_percent=beat.memory_percent,
        disk_percent=beat.disk_percent,
        spool_fill=fill,
        oldest_unpulled=beat.oldest_unpulled,
    )
    if node.dead_letter_count:
        problems.append(f"{node.dead_letter_count} dead letters")
    return problems


def _heartbeat_number(*path: str) -> str:
    """SQL: the heartbeat's number at ``path``, NULL where it is missing or no number
    (as ``_number``). CASE, because PostgreSQL may evaluate an AND's sides in any order."""
    at = f"heartbeat #> '{{{','.join(path)}}}'"
    return f"(CASE WHEN jsonb_typeof({at}) = 'number' THEN ({at})::float8 END)"


_SPOOL_BYTES = _heartbeat_number("spool", "bytes")
_SPOOL_MAX = _heartbeat_number("spool", "max_bytes")
_OLDEST = _heartbeat_number("spool", "oldest_unpulled_unix_nano")
# ``node_problems`` in SQL, for counting nodes by state without reading their heartbeats.
_HOST_PROBLEMS = RawSQL(  # noqa: S611 (the SQL is constants; the thresholds are bound)
    "COALESCE("
    + " OR ".join(
        f"{_heartbeat_number('host', name)} >= %s"
        for name in ("cpu_percent", "memory_percent", "disk_percent")
    )
    + f" OR {_SPOOL_BYTES} / NULLIF({_SPOOL_MAX}, 0) >= %s"
    + f" OR heartbeat_at - to_timestamp(NULLIF({_OLDEST}, 0) / 1e9) >= %s, false)",
    (
        health.HOST_CPU_DEGRADED,
        health.HOST_MEMORY_DEGRADED,
        health.HOST_DISK_DEGRADED,
        health.SPOOL_FULL_DEGRADED,
        health.UNPULLED_DEGRADED,
    ),
    output_field=BooleanField(),
)


@dataclass(frozen=True)
class StateCounts:
    up: int  # healthy
    late: int
    down: int
    total: int  # with degraded and pending ones


def state_counts(now: dt.datetime) -> dict[uuid.UUID, StateCounts]:
    """Per tenant with edge nodes, how many are in which state of ``node_state``:
    one query for every tenant. The caller holds ``all_tenants_context``."""
    failing = Q(consecutive_failures__gt=0)
    pulled = ~failing & Q(last_success_at__isnull=False)
    fresh = pulled & Q(last_success_at__gte=now - LATE_AFTER)
    rows = (
        EdgeNode.unscoped.order_by()
        .values("tenant_id")
        .annotate(
            total=Count("pk"),
            up=Count("pk", filter=fresh & Q(dead_letter_count=0) & ~Q(_HOST_PROBLEMS)),
            late=Count(
                "pk",
                filter=pulled
                & Q(last_success_at__lt=now - LATE_AFTER, last_success_at__gte=now - DOWN_AFTER),
            ),
            down=Count("pk", filter=failing | Q(last_success_at__lt=now - DOWN_AFTER)),
        )
    )
    return {
        row["tenant_id"]: StateCounts(row["up"], row["late"], row["down"], row["total"])
        for row in rows
    }


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def format_age(delta: dt.timedelta | None) -> str:
    if delta is None:
        return "—"
    seconds = max(int(delta.total_seconds()), 0)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    if seconds < 86400:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{seconds // 86400} d {seconds % 86400 // 3600} h"


def format_bytes(value: float | None) -> str:
    if value is None:
        return "—"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"  # pragma: no cover


@dataclass(frozen=True)
class NodeStatus:
    """What a page shows about one edge node."""

    node: EdgeNode
    state: str
    problems: list[str]
    last_success_age: str
    last_error: str
    last_error_at: dt.datetime | None
    consecutive_failures: int
    dead_letters: int
    next_attempt_at: dt.datetime | None
    heartbeat_at: dt.datetime | None
    spool_records: int | None
    spool_bytes: str
    spool_max_bytes: str
    oldest_unpulled_age: str
    cpu_percent: float | None
    memory_percent: float | None
    disk_percent: float | None
    config_version_applied: int
    config_version_current: int
    reported_version: str
    expected_version: str

    @property
    def label(self) -> str:
        return STATUS_LABELS[self.state]

    @property
    def config_behind(self) -> bool:
        return self.config_version_applied < self.config_version_current

    @property
    def version_mismatch(self) -> bool:
        return bool(
            self.expected_version
            and self.reported_version
            and self.expected_version != self.reported_version
        )


def node_status(node: EdgeNode, now: dt.datetime) -> NodeStatus:
    """``node``'s state and the figures of its last heartbeat. Reads ``node.site``."""
    beat = _heartbeat(node)
    return NodeStatus(
        node=node,
        state=node_state(node, now),
        problems=node_problems(node),
        last_success_age=(
            format_age(now - node.last_success_at) + " ago" if node.last_success_at else "never"
        ),
        last_error=node.last_error,
        last_error_at=node.last_error_at,
        consecutive_failures=node.consecutive_failures,
        dead_letters=node.dead_letter_count,
        next_attempt_at=node.next_attempt_at,
        heartbeat_at=node.heartbeat_at,
        spool_records=int(beat.records) if beat.records is not None else None,
        spool_bytes=format_bytes(beat.spool_bytes),
        spool_max_bytes=format_bytes(beat.spool_max_bytes),
        oldest_unpulled_age=(
            format_age(beat.oldest_unpulled) if beat.oldest_unpulled is not None else "—"
        ),
        cpu_percent=beat.cpu_percent,
        memory_percent=beat.memory_percent,
        disk_percent=beat.disk_percent,
        config_version_applied=node.config_version_applied,
        config_version_current=node.site.config_version,
        reported_version=beat.version,
        expected_version=node.expected_version,
    )


WORST_FIRST = (DOWN, LATE, DEGRADED, PENDING, HEALTHY)


def worst_state(states: list[str]) -> str | None:
    for state in WORST_FIRST:
        if state in states:
            return state
    return None

"""When an edge node or a provider counts as healthy, degraded or down: every threshold
of the UI's health states, in one place.

Edge nodes are judged by the pull worker's record of them (``web.edge_status``) and by
the host figures of their last heartbeat; providers by the edge gateways' attempts over
``PROVIDER_WINDOW`` (``gateway.health``).
"""

from __future__ import annotations

import datetime as dt

# --- edge nodes: the host behind a node that pulls fine can still be in trouble ---------
HOST_CPU_DEGRADED = 90.0  # percent, of the last heartbeat
HOST_MEMORY_DEGRADED = 90.0
HOST_DISK_DEGRADED = 90.0
SPOOL_FULL_DEGRADED = 0.8  # of the spool's bound
UNPULLED_DEGRADED = dt.timedelta(minutes=5)  # oldest record waiting in the spool


def host_problems(
    *,
    cpu_percent: float | None,
    memory_percent: float | None,
    disk_percent: float | None,
    spool_fill: float | None,
    oldest_unpulled: dt.timedelta | None,
) -> list[str]:
    """What in a node's last heartbeat makes it degraded, in words; [] when nothing."""
    problems = []
    for label, value, limit in (
        ("CPU", cpu_percent, HOST_CPU_DEGRADED),
        ("memory", memory_percent, HOST_MEMORY_DEGRADED),
        ("disk", disk_percent, HOST_DISK_DEGRADED),
    ):
        if value is not None and value >= limit:
            problems.append(f"{label} at {value:.0f} %")
    if spool_fill is not None and spool_fill >= SPOOL_FULL_DEGRADED:
        problems.append(f"spool {spool_fill * 100:.0f} % full")
    if oldest_unpulled is not None and oldest_unpulled >= UNPULLED_DEGRADED:
        problems.append(f"records waiting {int(oldest_unpulled.total_seconds() // 60)} min")
    return problems


# --- providers ------------------------------------------------------------------------------
PROVIDER_WINDOW = dt.timedelta(minutes=15)
PROVIDER_DOWN_SUCCESS = 0.5  # below this share of attempts answered: down
PROVIDER_DEGRADED_SUCCESS = 0.95  # below this: degraded
UNKNOWN, HEALTHY, DEGRADED, DOWN = "unknown", "healthy", "degraded", "down"


def provider_health(*, attempts: int, failures: int, breaker_trips: int) -> str:
    """``unknown`` without attempts in the window; ``down`` when a gateway's breaker
    opened or most attempts failed; ``degraded`` below 95 % success; else ``healthy``."""
    if attempts == 0:
        return UNKNOWN
    success = (attempts - failures) / attempts
    if breaker_trips or success < PROVIDER_DOWN_SUCCESS:
        return DOWN
    if success < PROVIDER_DEGRADED_SUCCESS:
        return DEGRADED
    return HEALTHY

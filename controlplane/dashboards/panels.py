"""What the utilization and fault panels read from ClickHouse, asked all at once.

Both panels read the same few queries (docs/decisions/0038-dashboard-panels.md):
``usage_overview`` (totals, the range before, the chart), one ``breakdowns`` query per
rollup that the five breakdowns need (usually two: the agents' table and the spans'
one), and the fault panel the gateway's ``provider_attempts``. ``start`` runs them on
the query pool (``parallel``), each through the result cache (``cache``; a window that
ends now as its settled hours and its open tail, ``split``, the tail of the chart and of
every breakdown read in one query), and returns at once: the caller reads PostgreSQL
meanwhile, then takes ``PanelData.wait()``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from django.conf import settings
from django.utils import timezone

from controlplane.dashboards import fleet, parallel, queries, split
from controlplane.dashboards.cache import cached
from controlplane.dashboards.queries import Breakdowns, Overview
from controlplane.dashboards.rollups import Filters, Window

# Every breakdown of either panel: read together, so the two panels share the queries.
DIMENSIONS = ("provider", "model", "department", "tool", "agent")


@dataclass(frozen=True)
class PanelData:
    overview: Overview
    breakdowns: Breakdowns
    attempts: list[dict[str, Any]] | None


class Pending:
    def __init__(self, pending: parallel.Pending) -> None:
        self._pending = pending
        self._data: PanelData | None = None

    def wait(self) -> PanelData:
        """The panels' data once every query has answered (the first failure raised)."""
        if self._data is None:
            self._data = self._collect(self._pending.results())
        return self._data

    @staticmethod
    def _collect(results: dict[str, Any]) -> PanelData:
        usage: dict[str, list[dict[str, Any]]] = {}
        hotspots: dict[str, list[dict[str, Any]]] = {}
        availability: list[dict[str, Any]] | None = None
        for name, found in results.items():
            if name.startswith("breakdowns"):
                usage |= found.usage
                hotspots |= found.hotspots
                availability = (
                    found.availability if found.availability is not None else availability
                )
        return PanelData(
            overview=results["overview"],
            breakdowns=Breakdowns(usage=usage, hotspots=hotspots, availability=availability),
            attempts=results.get("attempts"),
        )


def start(
    tenant_id: uuid.UUID,
    window: Window,
    filters: Filters,
    *,
    attempts: bool,
    now: dt.datetime | None = None,
) -> Pending:
    """Start the panels' queries for ``tenant_id`` (``attempts``: the gateway's too).
    With the cache on, a window that ends in the open hours is read as its settled hours
    (cached until late spans arrive) and its open tail (``split``)."""
    now = now or timezone.now()
    at = split.boundary(window, now) if settings.DASHBOARD_CACHE else None

    def read(name: str, compute: Callable[[], Any]) -> Callable[[], Any]:
        """``compute`` through the cache: a split window's merged result is kept too,
        until an insert."""
        return partial(cached, name, tenant_id, window, filters, compute, now=now)

    if at is None:
        overview: Callable[[], Any] = partial(queries.usage_overview, tenant_id, window, filters)
        breakdowns: Callable[..., Any] = partial(queries.breakdowns, tenant_id, window, filters)
        gateway: Callable[[], Any] = partial(queries.provider_attempts, tenant_id, window, filters)
    else:
        window_split = split.Split(tenant_id, window, filters, at, now)
        overview = partial(split.overview, window_split)
        breakdowns = partial(split.breakdowns, window_split)
        gateway = partial(split.attempts, tenant_id, window, filters, at, now)
    calls = {"overview": read("usage_overview", overview)}
    for group in queries.breakdown_groups(window, filters, DIMENSIONS):
        name = "breakdowns:" + ",".join(group)
        calls[name] = read(name, partial(breakdowns, group))
    if attempts:
        calls["attempts"] = read("provider_attempts", gateway)
    return Pending(parallel.start(calls))


def start_fleet(window: Window, *, now: dt.datetime | None = None) -> parallel.Pending:
    """The fleet view's queries (every tenant): ``usage`` of the range and of the one
    before it, ``series`` for the sparklines (``controlplane.dashboards.fleet``). With
    the cache on, a range that ends in the open hours is read as its settled hours and
    its open tail (``fleet.split_usage``, ``fleet.split_series``), like ``start``."""
    now = now or timezone.now()
    at = split.boundary(window, now) if settings.DASHBOARD_CACHE else None

    def read(name: str, query: Any, split_query: Any) -> Any:
        compute = partial(query, window) if at is None else partial(split_query, window, at, now)
        return partial(cached, name, None, window, Filters(), compute, now=now)

    return parallel.start(
        {
            "usage": read("fleet_usage", fleet.usage, fleet.split_usage),
            "series": read("fleet_spark", fleet.series, fleet.split_series),
        }
    )

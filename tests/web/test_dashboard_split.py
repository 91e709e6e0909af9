"""A window that ends now is read as its settled hours (cached until late spans arrive)
and its open tail, merged (docs/decisions/0048-dashboard-split-windows.md): the panels
show exactly what one read of the whole window shows, latency percentiles included,
and a late span into a closed hour counts at once. The fleet view (every tenant) too."""

from __future__ import annotations

import datetime as dt
import itertools
import math
import random
import uuid
from typing import Any

import pytest
from django.utils import timezone

from billing.pricing import PriceBook
from controlplane.analytics import get_store
from controlplane.analytics.freshness import hour_start
from controlplane.dashboards import panels, split
from controlplane.dashboards.panels import PanelData
from controlplane.dashboards.queries import Filters, Window
from controlplane.dashboards.timing import Timing
from controlplane.telemetry.records import build_batch
from controlplane.telemetry.seeding import Fleet, load_events, seed_fleet
from controlplane.telemetry.spans import spans_insert
from controlplane.web.dashboard_views import RANGES, window_of
from tenants.models import Tenant
from tests.telemetry.records import spool_line

pytestmark = pytest.mark.django_db

_traces = itertools.count(1)


@pytest.fixture
def seeded() -> Fleet:
    """Two tenants with three days of traces up to the current hour."""
    fleet = seed_fleet(tenants=2, agents=8, seed=11)
    load_events(fleet, events=4000, days=3, seed=11, until=hour_start(timezone.now()))
    return fleet


def add_spans(fleet: Fleet, tenant: Tenant, times: list[dt.datetime]) -> None:
    """Model calls of ``tenant``'s agents at ``times``, of varied providers, statuses and
    latencies, inserted as the pull worker does."""
    agents = [a.id for a in fleet.agents if a.tenant_id == str(tenant.pk)]
    pick = random.Random(len(times))
    lines = []
    for when in times:
        start = int(when.timestamp() * 1_000_000_000)
        lines.append(
            spool_line(
                tenant,
                when=when,
                trace=next(_traces),
                span=1,
                agent_id=pick.choice(agents),
                provider=pick.choice(["openai", "anthropic"]),
                status=pick.choice(["ok", "ok", "ok", "error", "timeout"]),
                end_time_unix_nano=start + pick.randint(5, 40_000) * 1_000_000,
            )
        )
    batch = build_batch(lines, prices=PriceBook([]), retention_days={})
    spans_insert(batch.spans, dedup_token=str(uuid.uuid4()))


def read(
    tenant: Tenant,
    window: Window,
    filters: Filters,
    now: dt.datetime,
    settings: Any,
    *,
    cache: bool,
) -> PanelData:
    settings.DASHBOARD_CACHE = cache
    return panels.start(tenant.pk, window, filters, attempts=True, now=now).wait()


def test_a_window_ending_now_read_in_two_parts_shows_what_the_whole_window_shows(
    seeded: Fleet, settings: Any
) -> None:
    tenant = seeded.tenants[0]
    now = timezone.now()
    add_spans(seeded, tenant, [now - dt.timedelta(seconds=s) for s in range(5, 600, 7)])
    agent = uuid.UUID(next(a.id for a in seeded.agents if a.tenant_id == str(tenant.pk)))
    for key in RANGES:
        window = window_of(key, now)
        assert split.boundary(window, now) is not None or key == "1h"
        for filters in (Filters(), Filters(agent_id=agent), Filters(provider="openai")):
            whole = read(tenant, window, filters, now, settings, cache=False)
            assert read(tenant, window, filters, now, settings, cache=True) == whole
            assert read(tenant, window, filters, now, settings, cache=True) == whole  # cached
    month = read(tenant, window_of("30d", now), Filters(), now, settings, cache=True)
    assert any(row["p95_ms"] > 1000 for row in month.breakdowns.usage["agent"])


def test_late_spans_into_a_closed_hour_reach_the_settled_part_at_once(
    seeded: Fleet, settings: Any
) -> None:
    tenant, other = seeded.tenants
    now = timezone.now()
    window = window_of("30d", now)
    first = read(tenant, window, Filters(), now, settings, cache=True)

    add_spans(seeded, tenant, [now - dt.timedelta(minutes=1)])  # on time: the open tail
    add_spans(seeded, other, [now - dt.timedelta(hours=5)])  # late, another tenant's
    on_time = read(tenant, window, Filters(), now, settings, cache=True)
    assert on_time == read(tenant, window, Filters(), now, settings, cache=False)
    assert on_time.overview.totals["requests"] == first.overview.totals["requests"] + 1

    late = [now - dt.timedelta(hours=5, minutes=m) for m in range(40)]  # a closed hour
    add_spans(seeded, tenant, late)
    after = read(tenant, window, Filters(), now, settings, cache=True)
    assert after == read(tenant, window, Filters(), now, settings, cache=False)
    assert after.overview.totals["requests"] == first.overview.totals["requests"] + 41
    assert after.breakdowns.usage["agent"] != on_time.breakdowns.usage["agent"]


def test_latency_states_merged_in_python_give_clickhouses_percentiles() -> None:
    """Tiny, medium and histogram states (sparse and dense, values past the 30 s cap),
    merged in Python one by one or all at once, read as ``quantilesTimingMerge`` reads
    them merged in ClickHouse."""
    pick = random.Random(5)
    sizes = [0, 1, 20, 31, 40, 700, 3000, 5669, 5670, 9000]
    for case in range(25):
        parts = [pick.choice(sizes) for _ in range(pick.randint(1, 4))]
        ceiling = pick.choice([300, 5000, 45_000])
        states = " UNION ALL ".join(
            f"SELECT {i} AS part, quantileTimingState(toFloat64(intHash64(number + "
            f"{case * 100_000 + i * 10_000}) % {ceiling})) AS state FROM numbers({size})"
            for i, size in enumerate(parts)
        )
        rows = get_store().query(f"SELECT hex(state) AS state FROM ({states}) ORDER BY part")
        [want] = get_store().query(
            f"SELECT quantilesTimingMerge(0.5, 0.95)(state) AS q FROM ({states})"
        )
        parsed = [Timing.parse(bytes.fromhex(row["state"])) for row in rows]
        one_by_one = Timing.empty()
        for state in parsed:
            one_by_one = one_by_one.merge(state)
        pick.shuffle(parsed)  # the order of the parts does not matter
        for merged in (one_by_one, Timing.merge_all(parsed)):
            assert merged.quantiles((0.5, 0.95)) == pytest.approx(want["q"], nan_ok=True), parts


def fleet(window: Window, now: dt.datetime, settings: Any, *, cache: bool) -> dict[str, Any]:
    """The fleet view's usage (``nan`` p95 as None) and sparklines, by tenant."""
    settings.DASHBOARD_CACHE = cache
    found = panels.start_fleet(window, now=now).results()
    usage = {
        str(row["tenant_id"]): row | {"p95_ms": None if math.isnan(p95) else p95}
        for row in found["usage"]
        for p95 in [row["p95_ms"]]
    }
    series = {str(row["tenant_id"]): row["requests"] for row in found["series"]}
    return {"usage": usage, "series": series}


def test_the_fleet_ending_now_read_in_two_parts_shows_what_the_whole_range_shows(
    seeded: Fleet, settings: Any
) -> None:
    tenant = seeded.tenants[0]
    now = timezone.now()
    add_spans(seeded, tenant, [now - dt.timedelta(seconds=s) for s in range(5, 600, 7)])
    for key in RANGES:
        window = window_of(key, now)
        # The hour has no settled part in the first minutes of an hour.
        assert split.boundary(window, now) is not None or key == "1h", key
        whole = fleet(window, now, settings, cache=False)
        assert fleet(window, now, settings, cache=True) == whole, key
        assert fleet(window, now, settings, cache=True) == whole, key  # cached
        assert {str(t.pk) for t in seeded.tenants} <= whole["usage"].keys()
    month = fleet(window_of("30d", now), now, settings, cache=True)
    assert month["usage"][str(tenant.pk)]["p95_ms"] > 1000


def test_late_spans_into_a_closed_hour_reach_the_settled_fleet_at_once(
    seeded: Fleet, settings: Any
) -> None:
    tenant, other = seeded.tenants
    now = timezone.now()
    for key in ("24h", "7d", "30d"):
        window = window_of(key, now)
        first = fleet(window, now, settings, cache=True)["usage"][str(tenant.pk)]
        add_spans(seeded, tenant, [now - dt.timedelta(minutes=1)])  # on time: the tail
        late = [now - dt.timedelta(hours=5, minutes=m) for m in range(40)]  # a closed hour
        add_spans(seeded, tenant, late)
        add_spans(seeded, other, [now - dt.timedelta(days=8, hours=3)])  # the range before
        after = fleet(window, now, settings, cache=True)
        assert after == fleet(window, now, settings, cache=False), key
        row = after["usage"][str(tenant.pk)]
        assert row["requests"] == first["requests"] + 41, key
        assert sum(after["series"][str(tenant.pk)]) == row["requests"], key

"""The panels' queries side by side and through the result cache answer exactly what they
answer one after another and uncached; late spans into a settled window are seen at once.

A cached result is told apart from a fresh one by taking ClickHouse away: a result read
from the cache still comes, a query raises. chDB keeps data for the whole test process;
each test's tenants are fresh rows with new ids.
"""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from billing.pricing import PriceBook
from billing.services import billing_account_set, issuer_create
from controlplane.analytics import StoreError, reset_store
from controlplane.analytics.freshness import hour_start
from controlplane.dashboards import panels
from controlplane.dashboards.panels import PanelData
from controlplane.dashboards.queries import Filters, Window
from controlplane.telemetry.records import build_batch
from controlplane.telemetry.seeding import Fleet, load_events, seed_fleet
from controlplane.telemetry.spans import spans_insert
from controlplane.web import fleet as fleet_view
from controlplane.web.dashboard_views import RANGES, custom_window, window_of
from tenants.models import Tenant
from tests.conftest import SYSTEM, signed_in
from tests.telemetry.records import spool_line
from tests.web.conftest import World

pytestmark = pytest.mark.django_db

_spans = itertools.count(1)


@pytest.fixture
def seeded() -> Fleet:
    """Two tenants with three days of traces up to the current hour."""
    fleet = seed_fleet(tenants=2, agents=8, seed=9)
    load_events(fleet, events=4000, days=3, seed=9, until=hour_start(timezone.now()))
    return fleet


@contextmanager
def clickhouse_away(settings: Any) -> Iterator[None]:
    """ClickHouse unreachable for the block: only cached results can be read."""
    url = settings.CLICKHOUSE_URL
    settings.CLICKHOUSE_URL = "http://default:@127.0.0.1:9/"
    reset_store()
    try:
        yield
    finally:
        settings.CLICKHOUSE_URL = url
        reset_store()


def read(tenant_id: uuid.UUID, window: Window, filters: Filters | None = None) -> PanelData:
    return panels.start(tenant_id, window, filters or Filters(), attempts=True).wait()


def add_span(tenant: Tenant, when: dt.datetime) -> None:
    """One model call of ``tenant`` at ``when``, inserted as the pull worker does."""
    line = spool_line(tenant, when=when, trace=next(_spans), span=1)
    batch = build_batch([line], prices=PriceBook([]), retention_days={})
    spans_insert(batch.spans, dedup_token=str(uuid.uuid4()))


def test_side_by_side_and_cached_the_panels_read_what_they_read_one_by_one(
    seeded: Fleet, settings: Any
) -> None:
    tenant = seeded.tenants[0]
    agent = uuid.UUID(next(a.id for a in seeded.agents if a.tenant_id == str(tenant.pk)))
    now = timezone.now()
    today = now.date()
    windows = [window_of(key, now) for key in RANGES]
    windows.append(custom_window(today - dt.timedelta(days=3), today - dt.timedelta(days=1)))
    cases = [
        (window, filters)
        for window in windows
        for filters in (Filters(), Filters(agent_id=agent), Filters(provider="openai"))
    ]

    settings.DASHBOARD_QUERY_THREADS, settings.DASHBOARD_CACHE = 1, False
    one_by_one = [read(tenant.pk, *case) for case in cases]
    assert all(data.overview.totals["requests"] > 0 for data in one_by_one[-6:])  # 30d, days

    settings.DASHBOARD_QUERY_THREADS, settings.DASHBOARD_CACHE = 4, True
    assert [read(tenant.pk, *case) for case in cases] == one_by_one  # read and stored
    with clickhouse_away(settings):
        assert [read(tenant.pk, *case) for case in cases] == one_by_one  # from the cache
        with pytest.raises(StoreError):  # what is not cached needs ClickHouse
            read(seeded.tenants[1].pk, windows[0])


def test_the_fleet_side_by_side_and_cached_equals_one_by_one(seeded: Fleet, settings: Any) -> None:
    now = timezone.now()
    for key in RANGES:
        window = window_of(key, now)
        settings.DASHBOARD_QUERY_THREADS, settings.DASHBOARD_CACHE = 1, False
        one_by_one = fleet_view.fleet_rows(window, now)
        assert key != "30d" or sum(row.requests for row in one_by_one) > 0
        settings.DASHBOARD_QUERY_THREADS, settings.DASHBOARD_CACHE = 4, True
        assert fleet_view.fleet_rows(window, now) == one_by_one
        assert fleet_view.fleet_rows(window, now) == one_by_one


def test_late_spans_reach_a_settled_window_and_on_time_spans_leave_it_cached(
    seeded: Fleet, settings: Any
) -> None:
    tenant, other = seeded.tenants
    hour = hour_start(timezone.now())
    settled = Window(hour - dt.timedelta(hours=26), hour - dt.timedelta(hours=2), 3600)
    open_window = window_of("24h", timezone.now())
    first = read(tenant.pk, settled)
    read(tenant.pk, open_window)
    requests = first.overview.totals["requests"]
    assert requests > 0

    add_span(tenant, timezone.now())  # on time: the open hour
    add_span(other, settled.since + dt.timedelta(minutes=30))  # late, but another tenant's
    with clickhouse_away(settings):
        assert read(tenant.pk, settled) == first  # still the cached result
        with pytest.raises(StoreError):  # the open window took the new span: read again
            read(tenant.pk, open_window)

    add_span(tenant, settled.since + dt.timedelta(minutes=30))  # late, into a closed hour
    with clickhouse_away(settings), pytest.raises(StoreError):
        read(tenant.pk, settled)  # the cached result is gone
    after = read(tenant.pk, settled)
    assert after.overview.totals["requests"] == requests + 1
    assert after.breakdowns.usage["provider"] != first.breakdowns.usage["provider"]


def test_a_late_span_shows_on_the_dashboard_of_a_past_range_at_once(world: World) -> None:
    """The page of whole past days, opened twice: a span that arrives late for one of
    those days in between counts on the second visit."""
    today = timezone.now().date()
    first, last = today - dt.timedelta(days=4), today - dt.timedelta(days=2)
    noon = dt.datetime.combine(first, dt.time(12), dt.UTC)
    add_span(world.a, noon)
    client = signed_in(world.a_member)
    url = reverse("web:portal_dashboards", args=[world.a.slug])
    query = {"since": first.isoformat(), "until": last.isoformat()}

    def requests() -> int:
        response = client.get(url, {**query, "panel": "utilization"}, HTTP_HX_REQUEST="true")
        return int(response.context["panel"]["totals"]["requests"])

    assert requests() == 1
    assert requests() == 1
    add_span(world.a, noon + dt.timedelta(days=1))
    assert requests() == 2


def test_costs_say_they_are_provider_costs_in_dollars(world: World) -> None:
    """Costs on the dashboards are the providers' list prices, in US dollars; a tenant
    billed in another currency is told its invoices differ."""
    add_span(world.a, timezone.now() - dt.timedelta(minutes=5))
    url = reverse("web:portal_dashboards", args=[world.a.slug])
    body = signed_in(world.a_member).get(url).content.decode()
    assert "provider cost (USD)" in body and "Provider cost (USD)" in body
    assert "data-cost-note" not in body

    issuer = issuer_create(
        actor=SYSTEM, name="MSP", invoice_prefix="T-", credit_note_prefix="T-CN-"
    )
    billing_account_set(
        actor=SYSTEM, tenant_id=world.a.pk, issuer=issuer, legal_name="Acme", currency="eur"
    )
    body = signed_in(world.a_member).get(url).content.decode()
    assert "provider cost (USD)" in body and "€" not in body
    assert "Invoices are in EUR" in body

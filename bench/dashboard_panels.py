"""Dashboard panels on a seeded database: each panel's server time through Django, its
CPU, and (``--postgres``) the ClickHouse queries against the Postgres ledger.

    CONTROLPLANE_VAR_DIR=/tmp/bench-dash .venv/bin/python bench/dashboard_panels.py \\
        [--runs 5] [--requests 20] [--quick] [--fleet] [--background] [--postgres] [--profile]
        [--ingest | --only-ingest | --refresh]

Against the data of ``manage.py seed_events`` in ``CONTROLPLANE_VAR_DIR`` (bench/README.md,
"Dashboard panels"), in one process. A run (``bench/harness.py``: 5 by default; the report
gives the median of the runs and their spread):

1. Every panel as the browser asks for it (``?panel=utilization|faults`` with
   ``HX-Request``; the fleet's ``?panel=fleet``) through Django's test client, signed in
   as MSP staff, for the largest seeded tenant (``seed-001``) and a median one
   (``seed-050``), each range: ``--requests`` requests, their p95 and p50 (server time:
   queries, Postgres reads, rendering) and the process's CPU per request (chDB's
   threads included). Cold: the result cache off (``DASHBOARD_CACHE``), so every
   query runs, as for a tenant whose spans keep arriving.
2. The same 30-day panels warm (nothing new arrived: results from the cache), and the
   whole 30-day page (three panels, no HX), cold: what a first visit waits for.
3. ``--ingest``: what a viewer sees while spans keep arriving. The result cache on;
   before each request (untimed) a batch of ``--ingest-spans`` spans of the open hour
   for the measured tenants goes in through ``spans_insert``, as the pull worker's
   ClickHouse insert does (it renews the tenants' freshness tokens; the ledger and the
   edge's cursor, which the panels do not read, are left out). So every request finds
   new spans: its open part is read again, its settled hours come from the cache
   (decision 0048). The fleet's panel likewise (with ``--fleet`` alone, spans of the
   largest and the median tenant). CPU counts the requests only, not the inserts
   (chDB's work on an insert that runs on past it is counted).

``--quick``: the largest tenant and the fleet only, 10 requests. ``--fleet``: the
fleet's panels only. ``--only-ingest``: the ``--ingest`` rows only. ``--background``: a
thread of this process runs the behavioral detectors for every tenant each minute (one
minute of the seeded history each time) and rates the largest tenant's day, as the
worker does beside the web threads in the embedded mode. ``--postgres``: each panel
query also from the ledger with the equivalent SQL (slow: seconds per query at 10 M).
``--refresh``: only the utilization panel of each tenant (the 24-hour one, or those of
``--ranges``), one request at a time with the cache on: with nothing new, with spans
arriving before each request, and the same with a 0.3 s pause after each insert (its
merges done): what re-reading the open tail costs a refresh, beside Django's own part.
``--profile FILE``: a cProfile of one cold request of each 30-day panel, and where the
time went (ClickHouse wait, Postgres, context, templates).

The panels use the real clock: run soon after seeding (the 1-hour panels are empty an
hour after ``--until``); the report says how old the newest data is.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import os
import pstats
import sys
import threading
import time
import uuid
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlplane.settings")

import django  # noqa: E402

django.setup()

import harness  # noqa: E402
import orjson  # noqa: E402
from dashboard_postgres import compare_postgres, sizes, staff_client  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import override_settings, setup_test_environment  # noqa: E402
from django.urls import reverse  # noqa: E402
from django.utils import timezone  # noqa: E402

from billing.pricing import PriceBook  # noqa: E402
from controlplane.analytics import get_store  # noqa: E402
from controlplane.core.tenancy import all_tenants_context  # noqa: E402
from controlplane.telemetry.records import build_batch  # noqa: E402
from controlplane.telemetry.spans import spans_insert  # noqa: E402
from tenants.models import Tenant  # noqa: E402

RANGES = ("1h", "24h", "7d", "30d")


def utc(value: Any) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value


def p95(times: list[float]) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered)) - 1))]


def timed(call: Callable[[], Any], requests: int) -> dict[str, float]:
    """p50, p95 (ms) and CPU per call (ms) of ``requests`` calls after an untimed one."""
    call()
    times = []
    with harness.CpuClock() as cpu:
        for _ in range(requests):
            started = time.perf_counter()
            call()
            times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {
        "p50_ms": times[len(times) // 2],
        "p95_ms": p95(times),
        "cpu_ms": cpu.seconds * 1000 / requests,
    }


def fetch(client: Client, url: str, params: dict[str, str], *, htmx: bool = True) -> None:
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    response = client.get(url, params, **headers)  # type: ignore[arg-type]
    assert response.status_code == 200 and response.content, response.headers


class Ingest:
    """Spans of the open hour for ``tenants``, inserted as the pull worker inserts them
    into ClickHouse (``spans_insert``: the freshness tokens move)."""

    def __init__(self, tenants: list[Tenant], spans: int) -> None:
        self.spans = spans
        self.agents = {
            tenant.pk: [
                row["agent_id"]
                for row in get_store().query(
                    "SELECT DISTINCT agent_id FROM agents_day WHERE tenant_id = {t:UUID} LIMIT 50",
                    {"t": tenant.pk},
                )
            ]
            for tenant in tenants
        }
        self.inserted = 0

    def insert(self) -> None:
        now = time.time()
        lines = []
        for n in range(self.spans):
            tenant_id = list(self.agents)[n % len(self.agents)]
            agents = self.agents[tenant_id]
            start = int((now - n * 0.01) * 1e9)
            record = {
                "v": 1,
                "event_id": str(uuid.uuid4()),
                "tenant_id": str(tenant_id),
                "agent_id": str(agents[n % len(agents)]),
                "department_id": None,
                "device_id": str(uuid.UUID(int=8)),
                "site_id": str(uuid.UUID(int=9)),
                "edge_node_id": str(uuid.UUID(int=10)),
                "trace_id": uuid.uuid4().hex,
                "span_id": uuid.uuid4().hex[:16],
                "parent_span_id": "",
                "name": "chat",
                "kind": "model",
                "start_time_unix_nano": start,
                "end_time_unix_nano": start + (200 + 37 * n % 3000) * 1_000_000,
                "status": "error" if n % 17 == 0 else "ok",
                "status_message": "",
                "provider": "openai" if n % 2 else "anthropic",
                "model": "gpt-4o-mini" if n % 2 else "claude-3-5-haiku",
                "operation": "chat",
                "tool": "",
                "input_tokens": 100 + n,
                "output_tokens": 20,
                "data_classes": [],
                "request_body": "hi",
                "response_body": "hello",
                "attributes": {},
                "resource": {},
                "received_at_unix_nano": start + 300_000_000,
            }
            lines.append(orjson.dumps(record))
        batch = build_batch(lines, prices=PriceBook([]), retention_days={})
        spans_insert(batch.spans, dedup_token=str(uuid.uuid4()))
        self.inserted += len(lines)


# --refresh: the insert's own merges are done after this long (chDB, 20 spans).
REFRESH_PAUSE = 0.3


def timed_ingest(
    call: Callable[[], Any], requests: int, ingest: Ingest, *, pause: float = 0.0
) -> dict[str, float]:
    """``timed``, with an insert of open-hour spans before each request (not timed), and
    ``pause`` seconds after it."""
    ingest.insert()
    call()
    times, cpu = [], 0.0
    for _ in range(requests):
        ingest.insert()
        time.sleep(pause)
        with harness.CpuClock() as clock:
            started = time.perf_counter()
            call()
            times.append((time.perf_counter() - started) * 1000)
        cpu += clock.seconds
    return {
        "p50_ms": sorted(times)[len(times) // 2],
        "p95_ms": p95(times),
        "cpu_ms": cpu * 1000 / requests,
    }


def measure_ingest(
    client: Client, slugs: dict[str, str], ranges: tuple[str, ...], requests: int, ingest: Ingest
) -> dict[str, float]:
    """One run: every tenant panel (none without ``slugs``: ``--fleet``) and the fleet's
    with the cache on and new open-hour spans before each request."""
    figures: dict[str, float] = {}
    fleet = reverse("web:console_fleet")
    with override_settings(DASHBOARD_CACHE=True):
        for range_key in ranges:
            for who, slug in slugs.items():
                url = reverse("web:console_dashboards", args=[slug])
                for panel in ("utilization", "faults"):
                    params = {"range": range_key, "panel": panel}
                    found = timed_ingest(partial(fetch, client, url, params), requests, ingest)
                    for figure, value in found.items():
                        figures[f"{range_key} {panel}, {who}, ingest {figure}"] = value
            params = {"range": range_key, "panel": "fleet"}
            found = timed_ingest(partial(fetch, client, fleet, params), requests, ingest)
            for figure, value in found.items():
                figures[f"{range_key} fleet, ingest {figure}"] = value
    return figures


def measure_refresh(
    client: Client, slugs: dict[str, str], ranges: tuple[str, ...], requests: int, ingest: Ingest
) -> dict[str, float]:
    """One run of ``--refresh``: each tenant's utilization panel of each of ``ranges``, one
    request at a time with the cache on, (1) with nothing new, (2) with spans inserted
    before each request, (3) the same with a pause after the insert, so the insert's
    merges are done: what the open tail costs a refresh, apart from Django's own part."""
    figures: dict[str, float] = {}
    with override_settings(DASHBOARD_CACHE=True):
        for range_key in ranges:
            params = {"range": range_key, "panel": "utilization"}
            for who, slug in slugs.items():
                url = reverse("web:console_dashboards", args=[slug])
                call = partial(fetch, client, url, params)
                quiet = timed(call, requests)
                arriving = timed_ingest(call, requests, ingest)
                settled = timed_ingest(call, requests, ingest, pause=REFRESH_PAUSE)
                for condition, found in (
                    ("nothing new", quiet),
                    ("spans arriving", arriving),
                    ("spans arriving, merged", settled),
                ):
                    for figure, value in found.items():
                        figures[f"{range_key} utilization, {who}, {condition} {figure}"] = value
    return figures


def measure(
    client: Client, slugs: dict[str, str], ranges: tuple[str, ...], requests: int
) -> dict[str, float]:
    """One run: every panel cold, the 30-day panels warm, the 30-day page cold (no
    ``slugs``: the fleet's panels only)."""
    figures: dict[str, float] = {}

    def record(name: str, found: dict[str, float]) -> None:
        for figure, value in found.items():
            figures[f"{name} {figure}"] = value

    fleet = reverse("web:console_fleet")
    with override_settings(DASHBOARD_CACHE=False):
        for range_key in ranges:
            for who, slug in slugs.items():
                url = reverse("web:console_dashboards", args=[slug])
                for panel in ("utilization", "faults"):
                    params = {"range": range_key, "panel": panel}
                    record(
                        f"{range_key} {panel}, {who}",
                        timed(partial(fetch, client, url, params), requests),
                    )
            params = {"range": range_key, "panel": "fleet"}
            record(f"{range_key} fleet", timed(partial(fetch, client, fleet, params), requests))
        if not slugs:
            return figures
        largest = reverse("web:console_dashboards", args=[slugs["largest"]])
        record(
            "30d page (3 panels), largest",
            timed(lambda: fetch(client, largest, {"range": "30d"}, htmx=False), requests),
        )
    for panel in ("utilization", "faults"):
        params = {"range": "30d", "panel": panel}
        found = timed(partial(fetch, client, largest, params), requests)
        figures[f"30d {panel}, largest, warm p50_ms"] = found["p50_ms"]
    return figures


class Background(threading.Thread):
    """The worker's periodic work beside the web threads: every minute the detectors
    for every tenant (the next minute of the seeded history) and the rating of the
    largest tenant's day. Its CPU is reported."""

    def __init__(self, tenants: list[Tenant], start_at: dt.datetime) -> None:
        super().__init__(daemon=True, name="bench-background")
        self.tenants, self.minute = tenants, start_at
        self.cpu = 0.0
        self.rounds = 0
        self.stopping = threading.Event()

    def run(self) -> None:
        from billing.rating import usage_rate
        from controlplane.security.services import detection_run

        while not self.stopping.is_set():
            began = time.monotonic()
            cpu = time.thread_time()
            self.minute += dt.timedelta(minutes=1)
            for tenant in self.tenants:
                detection_run(tenant_id=tenant.pk, now=self.minute, until=self.minute)
            day = self.minute.date()
            usage_rate(tenant_id=self.tenants[0].pk, since=day, until=day + dt.timedelta(days=1))
            self.cpu += time.thread_time() - cpu
            self.rounds += 1
            self.stopping.wait(max(0.0, 60 - (time.monotonic() - began)))
        connection.close()


def profile(client: Client, slug: str | None, path: Path) -> None:
    """Five cold requests of each 30-day panel under cProfile (no ``slug``: ten of the
    fleet's 30-day panel), each after an untimed one: where the time goes."""
    requests = (
        (
            [(reverse("web:console_dashboards", args=[slug]), {"range": "30d", "panel": panel})] * 5
            for panel in ("utilization", "faults")
        )
        if slug
        else [[(reverse("web:console_fleet"), {"range": "30d", "panel": "fleet"})] * 10]
    )
    profiler = cProfile.Profile()
    with override_settings(DASHBOARD_CACHE=False):
        for batch in requests:
            fetch(client, *batch[0])
            profiler.enable()
            for url, params in batch:
                fetch(client, url, params)
            profiler.disable()
    profiler.dump_stats(path)
    stats = pstats.Stats(profiler)
    wanted = {
        "wait": "waiting for ClickHouse (Pending.wait)",
        "execute": "PostgreSQL (cursor.execute)",
        "utilization_panel": "utilization context (formatting, charts)",
        "faults_panel": "faults context",
        "fleet_rows": "fleet rows (PostgreSQL, ClickHouse wait, sparklines)",
        "results": "waiting for ClickHouse (fleet)",
        "_budget_burns": "fleet budget burns (PostgreSQL)",
        "sparkline": "fleet sparklines",
        "render": "templates (django.shortcuts.render)",
        "_get_response": "whole request in Django",
    }
    print(f"\nProfile of 10 cold 30-day panel requests ({path}); cumulative seconds:")
    for (filename, _, name), row in stats.stats.items():  # type: ignore[attr-defined]
        if name in wanted and ("controlplane" in filename or "django" in filename):
            print(f"  {wanted[name]:<45} {row[3]:.3f} s  ({filename.split('/')[-1]})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    harness.add_arguments(parser)
    parser.add_argument("--requests", type=int, default=20, help="requests per panel and run")
    parser.add_argument(
        "--ranges", help=f"comma-separated (default: {','.join(RANGES)}; 24h with --refresh)"
    )
    parser.add_argument("--quick", action="store_true", help="largest tenant and fleet only")
    parser.add_argument("--fleet", action="store_true", help="the fleet's panels only")
    parser.add_argument("--background", action="store_true", help="detectors and rating run")
    parser.add_argument("--postgres", action="store_true", help="compare with the ledger")
    parser.add_argument("--profile", type=Path, help="write a cProfile of 30-day panels here")
    parser.add_argument("--ingest", action="store_true", help="also: cache on, spans arriving")
    parser.add_argument("--only-ingest", action="store_true", help="the --ingest rows only")
    parser.add_argument("--ingest-spans", type=int, default=20, help="spans per insert")
    parser.add_argument(
        "--refresh", action="store_true", help="only: a 24h panel's refresh, three conditions"
    )
    args = parser.parse_args()
    setup_test_environment()  # the test client's host is allowed
    requests = 10 if args.quick and args.requests == 20 else args.requests
    context = harness.start()

    with all_tenants_context():
        tenants = list(Tenant.objects.filter(slug__startswith="seed-").order_by("slug"))
    if not tenants:
        raise SystemExit("no seeded tenants here: run manage.py seed_events first")
    slugs = {"largest": "seed-001"} if args.quick else {"largest": "seed-001", "median": "seed-050"}
    if args.fleet:
        slugs = {}
    [latest] = get_store().query("SELECT max(hour) AS latest FROM tenants_hour")
    newest = utc(latest["latest"])
    [count] = get_store().query("SELECT sum(requests) AS spans FROM tenants_hour")
    age = timezone.now() - newest
    where = os.environ.get("CONTROLPLANE_VAR_DIR")
    context.notes.append(
        f"{int(count['spans']):,} spans in ClickHouse ({where}); the newest hour of data "
        f"began {age.total_seconds() / 3600:.1f} h before the run."
    )
    client = staff_client()
    background = None
    if args.background:
        background = Background(tenants, newest - dt.timedelta(hours=1))
        background.start()
    if args.profile:
        profile(client, slugs.get("largest"), args.profile)
    ranges = tuple(args.ranges.split(",") if args.ranges else ("24h",) if args.refresh else RANGES)
    started = time.monotonic()
    ingest = None
    if args.ingest or args.only_ingest or args.refresh:
        # With --fleet, spans of the two tenants the panels would measure.
        arriving = slugs or {"largest": "seed-001", "median": "seed-050"}
        with all_tenants_context():
            measured = [t for t in tenants if t.slug in arriving.values()]
        ingest = Ingest(measured, args.ingest_spans)

    def run_once(run: int) -> dict[str, float]:
        if args.refresh:
            assert ingest is not None
            return measure_refresh(client, slugs, ranges, requests, ingest)
        figures = {} if args.only_ingest else measure(client, slugs, ranges, requests)
        if ingest is not None:
            figures |= measure_ingest(client, slugs, ranges, requests, ingest)
        return figures

    runs = harness.repeat(run_once, runs=args.runs)
    if background is not None:
        background.stopping.set()
        background.join()  # its round in progress must end before the stores close
        share = background.cpu / (time.monotonic() - started) * 100
        per_round = background.cpu / max(background.rounds, 1)
        context.notes.append(
            f"Background: {background.rounds} rounds of the detectors ({len(tenants)} tenants) "
            f"and rating, {share:.0f} % of one core on average, {per_round:.1f} s of CPU "
            f"per round ({per_round / len(tenants) * 1000:.0f} ms per tenant)."
        )
    context.notes.append(f"{requests} requests per panel and run; cold = result cache off.")
    if ingest is not None:
        context.notes.append(
            f"Ingest rows: cache on, {args.ingest_spans} open-hour spans inserted before "
            f"each request ({ingest.inserted:,} in all)."
        )
    harness.report("Dashboard panels, server time", runs, context=context, json_path=args.json)
    print("\n" + "\n".join(sizes()))
    if args.postgres:
        compare_postgres(tenants, newest, ranges)


if __name__ == "__main__":
    main()

"""Dashboard panels on a seeded database: ClickHouse rollups against the Postgres ledger.

    CONTROLPLANE_VAR_DIR=/tmp/bench-dash .venv/bin/python bench/dashboard_panels.py \\
        [--runs 20] [--pg-runs 3] [--ranges 1h,24h,7d,30d]

Against the data of ``manage.py seed_events`` in ``CONTROLPLANE_VAR_DIR`` (bench/README.md,
"Dashboard panels"), in one process:

1. Every ClickHouse query of the dashboards, through the real functions of
   ``controlplane/dashboards/queries.py``, for the largest seeded tenant (``seed-001``),
   a median one (``seed-050``), filtered views of the largest, and the all-tenant fleet;
   each range of the pages (1 h, 24 h, 7 d, 30 d, windows as the views make them).
   ``--runs`` timed runs after one untimed, p50 and p95.
2. The same numbers from the Postgres ledger (``telemetry_usageevent``) with the
   equivalent SQL (``count(*) FILTER``, ``date_bin``, ``percentile_cont``), ``--pg-runs``
   timed runs after one untimed; the ratio is Postgres p50 over ClickHouse p50. Request
   counts of both are compared, so the two sides answer the same question.
3. Whole panels as the browser asks for them (``?panel=utilization|faults`` with
   ``HX-Request``, and the fleet's ``?panel=fleet``) through Django's test client, signed
   in as MSP staff: the server time of the panel, every query and the rendering included.
4. Table sizes: ClickHouse active parts per table, Postgres ledger partitions with indexes.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlplane.settings")

import django  # noqa: E402
import pyotp  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402
from django.urls import reverse  # noqa: E402
from django.utils import timezone  # noqa: E402

from controlplane.accounts.mfa import SESSION_MFA_VERIFIED_AT  # noqa: E402
from controlplane.accounts.models import TOTPDevice, User  # noqa: E402
from controlplane.agents.models import Agent  # noqa: E402
from controlplane.analytics import get_store  # noqa: E402
from controlplane.audit.services import Actor  # noqa: E402
from controlplane.core.crypto import key_ring  # noqa: E402
from controlplane.core.tenancy import all_tenants_context  # noqa: E402
from controlplane.dashboards import queries  # noqa: E402
from controlplane.dashboards.queries import Filters, Window  # noqa: E402
from controlplane.web.dashboard_views import bucket_start, window_of  # noqa: E402
from tenants.models import Tenant  # noqa: E402
from tenants.services import staff_user_create  # noqa: E402

STAFF_EMAIL = "bench-dashboards@msp.example"
ROLLUP_TABLES = (
    "spans",
    "spans_minute",
    "tenants_quarter_hour",
    "tenants_hour",
    "spans_hour",
    "agents_hour",
    "agent_models_hour",
)

# --- the Postgres equivalents -------------------------------------------------------------

_PG_MEASURES = """
    count(*) AS requests,
    count(*) FILTER (WHERE status IN ('error', 'timeout')) AS faults,
    count(*) FILTER (WHERE status = 'timeout') AS timeouts,
    count(*) FILTER (WHERE status = 'refused') AS refused,
    sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens, sum(cost) AS cost
"""
_PG_LATENCY = """
    percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms) AS p50_ms,
    percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms) AS p95_ms
"""
_PG_WHERE = """
    WHERE tenant_id = %(tenant_id)s AND occurred_at >= %(since)s AND occurred_at < %(until)s
"""
_PG_FILTERS = {
    "agent_id": " AND agent_id = %(agent_id)s",
    "department_id": " AND department_id = %(department_id)s",
    "provider": " AND provider = %(provider)s",
    "model": " AND model = %(model)s",
}
_ROLLUP_COLUMN = {
    "provider": "provider",
    "model": "model",
    "agent": "agent_id",
    "department": "department_id",
    "tool": "tool",
}
_PG_DIMENSIONS = {
    "provider": ("provider", "provider <> ''"),
    "model": ("model", "model <> ''"),
    "agent": ("agent_id", "true"),
    "department": ("department_id", "true"),
    "tool": ("tool", "tool <> ''"),
}


def _pg_where(filters: Filters) -> str:
    active = {
        "agent_id": filters.agent_id,
        "department_id": filters.department_id,
        "provider": filters.provider,
        "model": filters.model,
    }
    return _PG_WHERE + "".join(_PG_FILTERS[k] for k, v in active.items() if v is not None)


def _pg_params(tenant_id: Any, window: Window, filters: Filters) -> dict[str, Any]:
    return {
        "tenant_id": tenant_id,
        "since": window.since,
        "until": window.until,
        "agent_id": filters.agent_id,
        "department_id": filters.department_id,
        "provider": filters.provider,
        "model": filters.model,
        "bucket": f"{window.bucket_seconds} seconds",
    }


def pg(sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    with all_tenants_context(), connection.cursor() as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall())


def pg_totals(tenant_id: Any, window: Window, filters: Filters) -> list[tuple[Any, ...]]:
    # The constant first column puts requests second, as in the other answers.
    sql = f"SELECT 'total', {_PG_MEASURES} FROM telemetry_usageevent {_pg_where(filters)}"
    return pg(sql, _pg_params(tenant_id, window, filters))


def pg_series(tenant_id: Any, window: Window, filters: Filters) -> list[tuple[Any, ...]]:
    sql = (
        "SELECT date_bin(%(bucket)s::interval, occurred_at, TIMESTAMPTZ '1970-01-01') AS bucket, "
        f"{_PG_MEASURES} FROM telemetry_usageevent {_pg_where(filters)} "
        "GROUP BY bucket ORDER BY bucket"
    )
    return pg(sql, _pg_params(tenant_id, window, filters))


def pg_usage_by(
    tenant_id: Any, window: Window, filters: Filters, dimension: str
) -> list[tuple[Any, ...]]:
    key, present = _PG_DIMENSIONS[dimension]
    sql = (
        f"SELECT {key} AS key, {_PG_MEASURES}, {_PG_LATENCY} FROM telemetry_usageevent "
        f"{_pg_where(filters)} AND {present} GROUP BY key ORDER BY requests DESC, key LIMIT 20"
    )
    return pg(sql, _pg_params(tenant_id, window, filters))


def pg_hotspots(
    tenant_id: Any, window: Window, filters: Filters, dimension: str
) -> list[tuple[Any, ...]]:
    key, present = _PG_DIMENSIONS[dimension]
    sql = (
        f"SELECT {key} AS key, count(*) AS requests, "
        "count(*) FILTER (WHERE status IN ('error', 'timeout')) AS faults, "
        "count(*) FILTER (WHERE status = 'timeout') AS timeouts, "
        "count(*) FILTER (WHERE status IN ('error', 'timeout'))::float / count(*) AS fault_rate "
        f"FROM telemetry_usageevent {_pg_where(filters)} AND {present} GROUP BY key "
        "HAVING count(*) FILTER (WHERE status IN ('error', 'timeout')) > 0 "
        "ORDER BY fault_rate DESC, faults DESC, key LIMIT 10"
    )
    return pg(sql, _pg_params(tenant_id, window, filters))


def pg_availability(tenant_id: Any, window: Window, filters: Filters) -> list[tuple[Any, ...]]:
    sql = (
        "SELECT provider, count(*) AS requests, "
        "count(*) FILTER (WHERE status IN ('error', 'timeout')) AS faults, "
        f"count(*) FILTER (WHERE status = 'timeout') AS timeouts, {_PG_LATENCY} "
        f"FROM telemetry_usageevent {_pg_where(filters)} "
        "AND kind = 'model' AND provider <> '' AND status <> 'refused' "
        "GROUP BY provider ORDER BY provider"
    )
    return pg(sql, _pg_params(tenant_id, window, filters))


def pg_fleet(window: Window) -> list[tuple[Any, ...]]:
    sql = (
        "SELECT tenant_id, count(*) AS requests, "
        "count(*) FILTER (WHERE status IN ('error', 'timeout')) AS faults, "
        "count(*) FILTER (WHERE status = 'refused') AS refused, sum(cost) AS cost, "
        "percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms) AS p95_ms "
        "FROM telemetry_usageevent WHERE occurred_at >= %(since)s AND occurred_at < %(until)s "
        "GROUP BY tenant_id"
    )
    return pg(sql, {"since": window.since, "until": window.until})


# --- measuring ----------------------------------------------------------------------------


def timings(function: Callable[[], Any], runs: int) -> tuple[list[float], Any]:
    result = function()  # untimed: caches, connections
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        times.append((time.perf_counter() - started) * 1000)
    return times, result


def p50(times: list[float]) -> float:
    return statistics.median(times)


def p95(times: list[float]) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered)) - 1))]


def requests_of(result: Any) -> int:
    """Total requests of a ClickHouse or a Postgres answer (for the cross-check)."""
    if isinstance(result, dict):
        return int(result["requests"])
    total = 0
    for row in result:
        total += int(row["requests"]) if isinstance(row, dict) else int(row[1])
    return total


def times_as_many(ratio: float) -> str:
    return f"{ratio:.1f}x" if ratio < 10 else f"{ratio:,.0f}x"


def ms(value: float) -> str:
    return f"{value:,.1f}" if value < 100 else f"{value:,.0f}"


def staff_client() -> Client:
    user = User.objects.filter(email=STAFF_EMAIL).first() or staff_user_create(
        actor=Actor.system("bench"), email=STAFF_EMAIL, role="auditor", password=None
    )
    TOTPDevice.objects.update_or_create(
        user=user,
        defaults={
            "encrypted_secret": key_ring().encrypt(pyotp.random_base32()),
            "confirmed_at": timezone.now(),
        },
    )
    client = Client()
    client.force_login(user)
    session = client.session
    session[SESSION_MFA_VERIFIED_AT] = timezone.now().isoformat()
    session.save()
    return client


def sizes() -> list[str]:
    lines = ["| table | rows | on disk |", "| --- | --- | --- |"]
    for name in ROLLUP_TABLES:
        [row] = get_store().query(
            "SELECT sum(rows) AS rows, sum(bytes_on_disk) AS bytes FROM system.parts "
            "WHERE database = currentDatabase() AND table = {name:String} AND active",
            {"name": name},
        )
        lines.append(
            f"| ClickHouse `{name}` | {int(row['rows'] or 0):,} | "
            f"{int(row['bytes'] or 0) / 2**20:,.1f} MiB |"
        )
    with all_tenants_context(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(sum(pg_total_relation_size(inhrelid)), 0), "
            "coalesce(sum(pg_indexes_size(inhrelid)), 0) FROM pg_inherits "
            "WHERE inhparent = 'telemetry_usageevent'::regclass"
        )
        total, indexes = cursor.fetchone()
        cursor.execute("SELECT count(*) FROM telemetry_usageevent")
        (rows,) = cursor.fetchone()
    lines.append(
        f"| Postgres ledger (heap + {int(indexes) / 2**20:,.0f} MiB of indexes) | {rows:,} | "
        f"{int(total) / 2**20:,.0f} MiB |"
    )
    return lines


Case = tuple[str, str, Callable[[], Any], Callable[[], Any], str]


def cases(window: Window, scopes: list[tuple[str, Any, Filters]]) -> list[Case]:
    """(scope, query, ClickHouse call, Postgres call, rollup read) of every query the
    panels make, for each scope; filtered scopes get the queries the filter changes."""
    found: list[Case] = []
    for scope, tenant_id, filters in scopes:
        active = {
            column
            for column, value in (
                ("agent_id", filters.agent_id),
                ("department_id", filters.department_id),
                ("provider", filters.provider),
                ("model", filters.model),
            )
            if value is not None
        }

        def table(*columns: str, active: set[str] = active) -> str:
            return queries.rollup_for(window, frozenset({*columns, *active, "status"})).table

        found += [
            (
                scope,
                "usage_totals",
                partial(queries.usage_totals, tenant_id, window, filters),
                partial(pg_totals, tenant_id, window, filters),
                table(),
            ),
            (
                scope,
                "usage_series",
                partial(queries.usage_series, tenant_id, window, filters),
                partial(pg_series, tenant_id, window, filters),
                table(),
            ),
        ]
        breakdowns = ("provider", "model", "agent", "department") if not active else ("agent",)
        found += [
            (
                scope,
                f"usage_by {dimension}",
                partial(queries.usage_by, tenant_id, window, filters, dimension),
                partial(pg_usage_by, tenant_id, window, filters, dimension),
                table(_ROLLUP_COLUMN[dimension]),
            )
            for dimension in breakdowns
        ]
        hotspots = ("agent", "tool", "provider") if not active else ("tool",)
        found += [
            (
                scope,
                f"fault_hotspots {dimension}",
                partial(queries.fault_hotspots, tenant_id, window, filters, dimension),
                partial(pg_hotspots, tenant_id, window, filters, dimension),
                table(_ROLLUP_COLUMN[dimension]),
            )
            for dimension in hotspots
        ]
        found.append(
            (
                scope,
                "provider_availability",
                partial(queries.provider_availability, tenant_id, window, filters),
                partial(pg_availability, tenant_id, window, filters),
                table("kind", "provider"),
            )
        )
    found.append(
        (
            "all tenants",
            "fleet_overview",
            partial(queries.fleet_overview, window),
            partial(pg_fleet, window),
            queries.rollup_for(window, frozenset({"status"})).table,
        )
    )
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="timed runs per ClickHouse query")
    parser.add_argument("--pg-runs", type=int, default=3, help="timed runs per Postgres query")
    parser.add_argument("--ranges", default="1h,24h,7d,30d")
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    setup_test_environment()  # the test client's host is allowed
    load = os.getloadavg()
    print(f"load average before: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    print(f"var dir: {os.environ.get('CONTROLPLANE_VAR_DIR', '(default var/)')}")

    with all_tenants_context():
        tenants = {t.slug: t for t in Tenant.objects.filter(slug__in=["seed-001", "seed-050"])}
        largest, median = tenants["seed-001"], tenants.get("seed-050", tenants["seed-001"])
        agent = Agent.unscoped.filter(tenant=largest).order_by("name").first()
    assert agent is not None
    scopes: list[tuple[str, Any, Filters]] = [
        (f"largest tenant ({largest.slug})", largest.pk, Filters()),
        (f"median tenant ({median.slug})", median.pk, Filters()),
        ("largest, one agent", largest.pk, Filters(agent_id=agent.pk)),
        ("largest, provider openai", largest.pk, Filters(provider="openai")),
        (
            "largest, one agent and model gpt-4o-mini",
            largest.pk,
            Filters(agent_id=agent.pk, model="gpt-4o-mini"),
        ),
    ]
    # Windows end where the seeded data ends, so the numbers do not depend on when the
    # benchmark runs after the seeding.
    [latest] = get_store().query("SELECT max(minute) AS latest FROM spans_minute")
    now = bucket_start(latest["latest"])
    print(f"windows end at the last seeded minute: {now.isoformat()}")
    rows = [
        "| range | scope | query | rollup | ClickHouse p50 / p95 ms | Postgres p50 / p95 ms "
        "| ratio (p50) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    worst = 0.0
    mismatches = []
    for range_key in args.ranges.split(","):
        window = window_of(range_key, now)
        for scope, name, ch, pgq, table in cases(window, scopes):
            ch_times, ch_result = timings(ch, args.runs)
            worst = max(worst, p95(ch_times))
            if args.skip_postgres:
                pg_text, ratio = "—", "—"
            else:
                pg_times, pg_result = timings(pgq, args.pg_runs)
                pg_text = f"{ms(p50(pg_times))} / {ms(p95(pg_times))}"
                ratio = times_as_many(p50(pg_times) / p50(ch_times))
                if name in ("usage_totals", "usage_series", "fleet_overview") and requests_of(
                    ch_result
                ) != requests_of(pg_result):
                    mismatches.append(f"{range_key} {scope} {name}")
            rows.append(
                f"| {range_key} | {scope} | {name} | `{table}` | "
                f"{ms(p50(ch_times))} / {ms(p95(ch_times))} | {pg_text} | {ratio} |"
            )
            print(rows[-1], flush=True)

    client = staff_client()
    panel_rows = ["| range | panel | p50 ms | p95 ms |", "| --- | --- | --- | --- |"]
    for range_key in args.ranges.split(","):
        for slug in (largest.slug, median.slug):
            for panel in ("utilization", "faults"):
                url = reverse("web:console_dashboards", args=[slug])
                times, response = timings(
                    partial(
                        client.get,
                        url,
                        {"range": range_key, "panel": panel},
                        HTTP_HX_REQUEST="true",
                    ),
                    args.runs,
                )
                assert response.status_code == 200 and response.content, response.headers
                panel_rows.append(
                    f"| {range_key} | {panel} of {slug} | {ms(p50(times))} | {ms(p95(times))} |"
                )
                print(panel_rows[-1], flush=True)
        times, response = timings(
            partial(
                client.get,
                reverse("web:console_fleet"),
                {"range": range_key, "panel": "fleet"},
                HTTP_HX_REQUEST="true",
            ),
            args.runs,
        )
        assert response.status_code == 200 and response.content, response.headers
        panel_rows.append(
            f"| {range_key} | fleet (all tenants) | {ms(p50(times))} | {ms(p95(times))} |"
        )
        print(panel_rows[-1], flush=True)

    print("\n## Queries\n")
    print("\n".join(rows))
    print("\n## Panels (server time through Django, HX-Request)\n")
    print("\n".join(panel_rows))
    print("\n## Sizes\n")
    print("\n".join(sizes()))
    print(f"\nslowest ClickHouse query p95: {ms(worst)} ms")
    if mismatches:
        print("REQUEST COUNTS DIFFER between the stores: " + ", ".join(mismatches))
    load = os.getloadavg()
    print(f"load average after: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")


if __name__ == "__main__":
    main()

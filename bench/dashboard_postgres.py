"""Helpers of bench/dashboard_panels.py: the staff client, table sizes, and the panels'
ClickHouse queries against the same figures from the Postgres ledger (``--postgres``).

The ledger side runs the equivalent SQL (``count(*) FILTER``, ``date_bin``,
``percentile_cont``) one query per figure, one after another; the ClickHouse side is a
panel's queries as the panels run them (side by side, uncached). Request counts of the
two are compared, so both answer the same question.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import harness
import pyotp
from django.db import connection
from django.test import Client
from django.test.utils import override_settings
from django.utils import timezone

from controlplane.accounts.mfa import SESSION_MFA_VERIFIED_AT
from controlplane.accounts.models import TOTPDevice, User
from controlplane.analytics import get_store
from controlplane.audit.services import Actor
from controlplane.core.crypto import key_ring
from controlplane.core.tenancy import all_tenants_context
from controlplane.dashboards import fleet
from controlplane.dashboards.queries import Filters, Window
from controlplane.web.dashboard_views import window_of
from tenants.models import Tenant
from tenants.services import staff_user_create

STAFF_EMAIL = "bench-dashboards@msp.example"
TABLES = (
    "spans",
    "spans_minute",
    "tenants_quarter_hour",
    "tenants_hour",
    "spans_hour",
    "agents_hour",
    "agent_models_hour",
    "spans_day",
    "agents_day",
    "tenants_day",
    "breakdowns_hour",
    "breakdowns_day",
)


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
    lines = ["| table | rows | on disk |", "| --- | ---: | ---: |"]
    for name in TABLES:
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
            "SELECT coalesce(sum(pg_total_relation_size(inhrelid)), 0) FROM pg_inherits "
            "WHERE inhparent = 'telemetry_usageevent'::regclass"
        )
        (total,) = cursor.fetchone()
    lines.append(f"| Postgres ledger (with its indexes) | | {int(total) / 2**20:,.0f} MiB |")
    return lines


_MEASURES = """
    count(*) AS requests,
    count(*) FILTER (WHERE status IN ('error', 'timeout')) AS faults,
    count(*) FILTER (WHERE status = 'timeout') AS timeouts,
    count(*) FILTER (WHERE status = 'refused') AS refused,
    sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens, sum(cost) AS cost
"""
_LATENCY = """
    percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms) AS p50_ms,
    percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms) AS p95_ms
"""
_WHERE = "WHERE tenant_id = %(tenant)s AND occurred_at >= %(since)s AND occurred_at < %(until)s"
_KEYS = {
    "provider": ("provider", "provider <> ''"),
    "model": ("model", "model <> ''"),
    "agent": ("agent_id", "true"),
    "department": ("department_id", "true"),
    "tool": ("tool", "tool <> ''"),
}


def _pg(sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    with all_tenants_context(), connection.cursor() as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall())


def ledger_panels(tenant: Tenant, window: Window) -> int:
    """What the two panels read, from the ledger: the requests of the range."""
    length = window.until - window.since
    params = {
        "tenant": tenant.pk,
        "since": window.since,
        "until": window.until,
        "bucket": f"{window.bucket_seconds} seconds",
    }
    series = (
        "SELECT date_bin(%(bucket)s::interval, occurred_at, TIMESTAMPTZ '1970-01-01') AS b, "
        f"{_MEASURES} FROM telemetry_usageevent {_WHERE} GROUP BY b"
    )
    rows = _pg(series, params)
    _pg(series, {**params, "since": window.since - length, "until": window.since})
    for key, present in _KEYS.values():
        _pg(
            f"SELECT {key}, {_MEASURES}, {_LATENCY} FROM telemetry_usageevent {_WHERE} "
            f"AND {present} GROUP BY {key}",
            params,
        )
    _pg(
        f"SELECT provider, {_MEASURES}, {_LATENCY} FROM telemetry_usageevent {_WHERE} "
        "AND kind = 'model' AND provider <> '' AND status <> 'refused' GROUP BY provider",
        params,
    )
    return sum(int(row[1]) for row in rows)


def ledger_fleet(window: Window) -> int:
    rows = _pg(
        f"SELECT tenant_id, {_MEASURES}, {_LATENCY} FROM telemetry_usageevent "
        "WHERE occurred_at >= %(since)s AND occurred_at < %(until)s GROUP BY tenant_id",
        {"since": window.since, "until": window.until},
    )
    return sum(int(row[1]) for row in rows)


def compare_postgres(tenants: list[Tenant], newest: dt.datetime, ranges: tuple[str, ...]) -> None:
    """Per range: the largest tenant's two panels and the fleet's range, ClickHouse (the
    panels' queries side by side, uncached; the fleet's with the range before it) against
    the ledger, windows ending at the newest seeded hour. Three runs each (the ledger
    takes seconds per query)."""
    from controlplane.dashboards import panels

    largest = next(t for t in tenants if t.slug == "seed-001")
    now = newest + dt.timedelta(hours=1)

    def clickhouse(window: Window) -> int:
        data = panels.start(largest.pk, window, Filters(), attempts=True).wait()
        return int(data.overview.totals["requests"])

    def measure(run: int) -> dict[str, float]:
        figures: dict[str, float] = {}
        with override_settings(DASHBOARD_CACHE=False):
            for range_key in ranges:
                window = window_of(range_key, now)
                for side, call in (
                    ("ClickHouse", lambda w=window: clickhouse(w)),
                    ("Postgres", lambda w=window: ledger_panels(largest, w)),
                    ("ClickHouse fleet", lambda w=window: len(fleet.usage(w))),
                    ("Postgres fleet", lambda w=window: ledger_fleet(w)),
                ):
                    started = time.perf_counter()
                    call()
                    figures[f"{range_key} {side}_ms"] = (time.perf_counter() - started) * 1000
                if clickhouse(window) != ledger_panels(largest, window):
                    raise SystemExit(f"{range_key}: the stores count different requests")
        return figures

    context = harness.start()
    runs = harness.repeat(measure, runs=3)
    harness.report("Panels' queries: ClickHouse against the ledger", runs, context=context)

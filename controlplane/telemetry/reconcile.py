"""Comparing the ledger with ClickHouse per tenant and hour, and repairing ClickHouse.

The ledger (Postgres) is the system of record. Where ClickHouse lacks events the ledger
has, they are re-inserted from the ledger (without bodies, which only ClickHouse had),
so dashboards and invoices agree. Every run is recorded as processing-integrity evidence.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from typing import Any

import orjson
from django.db import connection
from django.utils import timezone

from controlplane.core.tenancy import tenant_context
from controlplane.telemetry.models import ReconciliationRun, UsageEvent
from controlplane.telemetry.records import SPAN_COLUMNS, ZERO_UUID
from controlplane.telemetry.spans import event_ids_in_hour, hourly_totals, spans_insert
from tenants.models import Tenant

HOUR = dt.timedelta(hours=1)


def _ledger_hourly(
    tenant: Tenant, since: dt.datetime, until: dt.datetime
) -> dict[dt.datetime, tuple[int, int, int]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT date_trunc('hour', occurred_at), count(*), coalesce(sum(input_tokens), 0), "
            "coalesce(sum(output_tokens), 0) FROM telemetry_usageevent "
            "WHERE tenant_id = %s AND occurred_at >= %s AND occurred_at < %s GROUP BY 1",
            [tenant.pk, since, until],
        )
        return {row[0]: (int(row[1]), int(row[2]), int(row[3])) for row in cursor.fetchall()}


def _repair_hour(tenant: Tenant, hour: dt.datetime) -> int:
    present = event_ids_in_hour(tenant.pk, hour)
    missing = [
        event
        for event in UsageEvent.objects.filter(occurred_at__gte=hour, occurred_at__lt=hour + HOUR)
        if event.event_id not in present
    ]
    if not missing:
        return 0
    columns: dict[str, list[Any]] = {name: [] for name in SPAN_COLUMNS}
    for event in missing:
        values = {
            "tenant_id": event.tenant_id,
            "event_id": event.event_id,
            "trace_id": event.trace_id,
            "span_id": event.span_id,
            "parent_span_id": event.parent_span_id,
            "department_id": event.department_id or ZERO_UUID,
            "agent_id": event.agent_id,
            "site_id": event.site_id or ZERO_UUID,
            "edge_node_id": event.edge_node_id,
            "kind": event.kind,
            "name": event.name,
            "start_time": event.occurred_at,
            "end_time": event.occurred_at + dt.timedelta(milliseconds=event.latency_ms),
            "status": event.status,
            "status_message": "",
            "provider": event.provider,
            "model": event.model,
            "tool": event.tool,
            "input_tokens": event.input_tokens,
            "output_tokens": event.output_tokens,
            "cached_input_tokens": event.cached_input_tokens,
            "cache_write_tokens": event.cache_write_tokens,
            "reasoning_tokens": event.reasoning_tokens,
            "cost": event.cost,
            "data_classes": [],
            "attributes": orjson.dumps({"acp.repaired_from": "ledger"}).decode(),
            "request_body": "",
            "response_body": "",
            "content_hash": event.content_hash,
            "retention_days": tenant.retention_days,
        }
        for name in SPAN_COLUMNS:
            columns[name].append(values[name])
    digest = hashlib.sha256("".join(sorted(str(e.event_id) for e in missing)).encode()).hexdigest()[
        :32
    ]
    spans_insert(columns, dedup_token=f"repair:{tenant.pk}:{hour.isoformat()}:{digest}")
    return len(missing)


def reconcile_tenant(
    tenant: Tenant,
    *,
    since: dt.datetime,
    until: dt.datetime,
    repair: bool = True,
    record: bool = True,
) -> list[ReconciliationRun]:
    """Compare every hour in [since, until) that has data in either store. ``record``
    False: the runs are returned unsaved (a rebuild of a scratch database is no evidence
    about the real one)."""
    runs = []
    with tenant_context(tenant):
        ledger = _ledger_hourly(tenant, since, until)
        analytics = hourly_totals(tenant.pk, since, until)
        for hour in sorted(set(ledger) | set(analytics)):
            expected = ledger.get(hour, (0, 0, 0))
            found = analytics.get(hour, (0, 0, 0))
            repaired = 0
            if found != expected and repair and found[0] < expected[0]:
                repaired = _repair_hour(tenant, hour)
                found = hourly_totals(tenant.pk, hour, hour + HOUR).get(hour, (0, 0, 0))
            if found == expected:
                outcome = (
                    ReconciliationRun.Outcome.REPAIRED
                    if repaired
                    else ReconciliationRun.Outcome.MATCHED
                )
            else:
                outcome = ReconciliationRun.Outcome.MISMATCH
            run = ReconciliationRun(
                tenant=tenant,
                hour=hour,
                ledger_events=expected[0],
                ledger_input_tokens=expected[1],
                ledger_output_tokens=expected[2],
                analytics_events=found[0],
                analytics_input_tokens=found[1],
                analytics_output_tokens=found[2],
                repaired_events=repaired,
                outcome=outcome,
            )
            if record:
                run.save(force_insert=True)
            runs.append(run)
    return runs


def rebuild_analytics(
    *, since: dt.datetime, until: dt.datetime, tenants: Iterable[Tenant], record: bool = True
) -> list[ReconciliationRun]:
    """Put back into ClickHouse, from the ledger, every event of [since, until) it lacks:
    after a loss of ClickHouse data (``manage.py rebuild_clickhouse``) or into a scratch
    database (the recovery drill). The ledger's narrow rows come back without bodies,
    which only ClickHouse had. Idempotent: an hour that already matches is left alone,
    and a repeated insert carries the same deduplication token."""
    runs: list[ReconciliationRun] = []
    for tenant in tenants:
        runs += reconcile_tenant(tenant, since=since, until=until, record=record)
    return runs


SETTLE_TIME = dt.timedelta(minutes=15)


def reconcile_recent_hours(hours: int = 3) -> list[ReconciliationRun]:
    """Reconcile the last ``hours`` complete hours.

    An hour is compared once it ended ``SETTLE_TIME`` ago: before that, a batch can be
    in the ledger and on its way to ClickHouse, and a repair would race its insert.
    """
    until = (timezone.now() - SETTLE_TIME).replace(minute=0, second=0, microsecond=0)
    since = until - dt.timedelta(hours=hours)
    runs: list[ReconciliationRun] = []
    for tenant in Tenant.objects.filter(status=Tenant.Status.ACTIVE):
        runs += reconcile_tenant(tenant, since=since, until=until)
    return runs

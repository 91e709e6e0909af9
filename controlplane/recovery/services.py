"""The recovery drill and the ClickHouse rebuild (docs/operations.md).

The drill is non-destructive: it restores PostgreSQL into a fresh database and rebuilds
ClickHouse into a scratch database, checks each against its source, and drops both.
Each step is timed; the run is recorded as a DrillRun row, whatever the outcome.
"""

from __future__ import annotations

import datetime as dt
import secrets
import socket
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone

from controlplane.analytics.migrations_runner import migrate
from controlplane.analytics.store import StoreError, store_for_database, using_store
from controlplane.core.tenancy import all_tenants_context
from controlplane.recovery import edge_drill, postgres
from controlplane.recovery.models import DrillRun
from controlplane.recovery.postgres import RecoveryError
from controlplane.telemetry.models import ReconciliationRun
from controlplane.telemetry.reconcile import rebuild_analytics
from tenants.models import Tenant


def clickhouse_rebuild(
    *, since: dt.datetime, until: dt.datetime, tenant: Tenant | None = None
) -> list[ReconciliationRun]:
    """Re-insert into ClickHouse from the ledger what it lacks in [since, until), for one
    tenant or all, recording each hour compared as a ReconciliationRun."""
    with all_tenants_context():
        tenants = [tenant] if tenant is not None else list(Tenant.objects.order_by("slug"))
    return rebuild_analytics(since=since, until=until, tenants=tenants)


def _rebuild_into_scratch(since: dt.datetime, until: dt.datetime) -> dict[str, Any]:
    """Every tenant's ledger for the period into a fresh ClickHouse database, migrated
    from the same files; its hourly totals must equal the ledger's."""
    scratch = f"{settings.CLICKHOUSE_DATABASE}_drill_{secrets.token_hex(4)}"
    store = store_for_database(scratch)
    try:
        migrate(store)
        with all_tenants_context():
            tenants = list(Tenant.objects.order_by("slug"))
        with using_store(store):
            runs = rebuild_analytics(since=since, until=until, tenants=tenants, record=False)
    finally:
        try:
            store.command("DROP DATABASE IF EXISTS {db:Identifier} SYNC", {"db": scratch})
        finally:
            store.close()
    mismatched = [
        f"{run.tenant_id} {run.hour:%Y-%m-%d %H:00}"
        for run in runs
        if run.outcome == ReconciliationRun.Outcome.MISMATCH
    ]
    if mismatched:
        raise RecoveryError(f"rebuilt hours differ from the ledger: {mismatched[:20]}")
    return {
        "database": scratch,
        "hours": len(runs),
        "events": sum(run.repaired_events for run in runs),
        "ledger_events": sum(run.ledger_events for run in runs),
    }


def _timed(name: str, step: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        detail, ok = step(), True
    except (RecoveryError, StoreError, OSError) as exc:
        detail, ok = {"error": str(exc)[:2000]}, False
    return {
        "name": name,
        "ok": ok,
        "seconds": round(time.perf_counter() - started, 3),
        "detail": detail,
    }


def drill_run(
    *, since: dt.datetime, until: dt.datetime, backup_dir: Path | None = None
) -> DrillRun:
    """Run every step, record the DrillRun and return it. ``backup_dir`` keeps the dump
    there; by default it goes to a temporary directory removed afterwards."""
    started_at = timezone.now()
    steps: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="acp-drill-") as work:
        directory = backup_dir or Path(work)
        taken: list[postgres.Backup] = []

        def backup() -> dict[str, Any]:
            taken.append(postgres.backup(directory))
            dump = taken[0]
            return {
                "file": str(dump.path) if backup_dir else dump.path.name,
                "bytes": dump.bytes,
                "sha256": dump.sha256,
                "tables": len(dump.row_counts),
                "rows": sum(dump.row_counts.values()),
            }

        def restore() -> dict[str, Any]:
            if not taken:
                raise RecoveryError("no backup to restore (the backup step failed)")
            return postgres.restore_and_verify(taken[0])

        steps.append(_timed("postgres_backup", backup))
        steps.append(_timed("postgres_restore", restore))
        steps.append(_timed("clickhouse_rebuild", lambda: _rebuild_into_scratch(since, until)))
        steps.append(
            _timed("edge_spool_restart", lambda: edge_drill.spool_survives_restart(Path(work)))
        )
    passed = all(step["ok"] for step in steps)
    return DrillRun.objects.create(
        started_at=started_at,
        finished_at=timezone.now(),
        outcome=DrillRun.Outcome.PASSED if passed else DrillRun.Outcome.FAILED,
        period_from=since,
        period_to=until,
        steps=steps,
        host=socket.gethostname(),
    )

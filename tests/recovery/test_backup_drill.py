"""``manage.py backup_drill``: PostgreSQL backed up and restored into a fresh database,
ClickHouse rebuilt from the ledger into a scratch database, an edge's spool across a
SIGKILL; each step timed and recorded as a DrillRun."""

from __future__ import annotations

import datetime as dt
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from controlplane.analytics import get_store
from controlplane.recovery.models import DrillRun
from tenants.models import Tenant
from tests.gateway.conftest import committed_db
from tests.recovery.test_rebuild_clickhouse import HOUR, store

__all__ = ["committed_db"]

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("committed_db")]


def databases() -> set[str]:
    """This test database and any named after it (other engineers' come and go)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT datname FROM pg_database WHERE starts_with(datname, %s)",
            [connection.settings_dict["NAME"]],
        )
        return {row[0] for row in cursor.fetchall()}


def clickhouse_databases() -> set[str]:
    return {row["name"] for row in get_store().query("SELECT name FROM system.databases")}


def test_the_drill_restores_rebuilds_and_records_each_step(
    tenant_a: Tenant, tenant_b: Tenant, tmp_path: Path
) -> None:
    store(tenant_a, 30, first=0, clickhouse=True)
    store(tenant_b, 12, first=0, clickhouse=False)
    before = (databases(), clickhouse_databases())

    out = StringIO()
    call_command(
        "backup_drill",
        "--from",
        "2026-11-02",
        "--to",
        "2026-11-03",
        "--backup-dir",
        str(tmp_path),
        stdout=out,
    )

    run = DrillRun.objects.get()
    assert run.outcome == "passed", out.getvalue()
    assert [step["name"] for step in run.steps] == [
        "postgres_backup",
        "postgres_restore",
        "clickhouse_rebuild",
        "edge_spool_restart",
    ]
    assert all(step["ok"] and step["seconds"] > 0 for step in run.steps)
    backup, restore, rebuild, edge = (step["detail"] for step in run.steps)
    assert Path(backup["file"]).parent == tmp_path and Path(backup["file"]).stat().st_size > 0
    assert restore["rows"] == backup["rows"] and restore["tables"] == backup["tables"]
    # Every ledger event of the period, both tenants', rebuilt into the scratch database.
    assert (rebuild["ledger_events"], rebuild["events"]) == (42, 42)
    assert edge == {"spans": 500, "pulled_after_restart": 500}
    assert (run.period_from, run.period_to) == (
        HOUR.replace(hour=0),
        HOUR.replace(hour=0) + dt.timedelta(days=1),
    )
    assert f"Drill {run.pk}: passed" in out.getvalue()
    # The drill leaves nothing behind, and the real ClickHouse is as it was.
    assert (databases(), clickhouse_databases()) == before


def test_a_failed_step_is_recorded_and_the_command_fails(tenant_a: Tenant) -> None:
    # A backup location where no file can be written, not even by root.
    with pytest.raises(CommandError, match="the recovery drill failed"):
        call_command(
            "backup_drill", "--from", "2026-11-02", "--backup-dir", "/proc", stdout=StringIO()
        )

    run = DrillRun.objects.get()
    assert run.outcome == "failed"
    outcomes = {step["name"]: step["ok"] for step in run.steps}
    assert outcomes == {
        "postgres_backup": False,
        "postgres_restore": False,
        "clickhouse_rebuild": True,
        "edge_spool_restart": True,
    }
    assert "pg_dump failed" in run.steps[0]["detail"]["error"]
    assert "no backup to restore" in run.steps[1]["detail"]["error"]

"""Alerts for the security page tests: findings as the detectors write them, recorded
by the real ``alerts_record`` (so each alert lands in an incident), and root spans that
fill the security rollups in chDB."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from controlplane.core.tenancy import tenant_context
from controlplane.security.alerts import alerts_record
from controlplane.security.detectors import Finding
from controlplane.security.models import Alert
from tenants.models import Tenant
from tests.web.conftest import Fleet
from tests.web.telemetry import ingest, span
from tests.web.test_traces import new_trace_id

MINUTE = dt.timedelta(minutes=1)


def volume(agent_id: uuid.UUID, start: dt.datetime, **changes: Any) -> Finding:
    evidence = {
        "metric": "tasks",
        "measure": "rate",
        "window_minutes": 10,
        "observed": 120,
        "baseline_median": 10,
        "baseline_mad": 2,
        "baseline_samples": 25,
        "ratio": 12.0,
        "robust_z": 50.0,
        "hour_of_week": "Mon 09:00",
    }
    fields: dict[str, Any] = {
        "kind": "volume",
        "subject": f"volume:{agent_id}",
        "agent_ids": [agent_id],
        "site_id": None,
        "started_at": start,
        "detected_at": start + 10 * MINUTE,
        "ended_at": start + 10 * MINUTE,
        "severity": "high",
        "title": "tasks 12.0x normal",
        "evidence": evidence,
    }
    return Finding(**{**fields, **changes})


def scope(agent_id: uuid.UUID, start: dt.datetime, item: str = "payroll.export") -> Finding:
    entry = {
        "dimension": "tool",
        "item": item,
        "first_seen": start.isoformat(),
        "uses_last_hour": 4,
        "returned_rows_last_hour": 900,
        "known": ["crm.lookup"],
        "first_time_for_agent": True,
        "uncommon_among_peers": True,
        "uncommon_in_tenant": True,
        "peer_share": 0.0,
        "tenant_share": 0.05,
        "peers": 3,
    }
    return Finding(
        kind="scope",
        subject=f"scope:{agent_id}",
        agent_ids=[agent_id],
        site_id=None,
        started_at=start,
        detected_at=start + MINUTE,
        ended_at=start + MINUTE,
        severity="medium",
        title=f"New tool for this agent: {item}",
        evidence={"learning": False, "items": [entry]},
    )


def record(tenant: Tenant, findings: list[Finding], now: dt.datetime) -> list[Alert]:
    with tenant_context(tenant):
        return alerts_record(tenant_id=tenant.pk, findings=findings, now=now)


def tasks(fleet: Fleet, start: dt.datetime, per_minute: list[int]) -> None:
    """Root spans (tasks) of the fleet's agent: ``per_minute[i]`` in minute ``i``."""
    lines = [
        span(fleet, trace_id=new_trace_id(), span_id="0000000000000001", start=start + i * MINUTE)
        for i, count in enumerate(per_minute)
        for _ in range(count)
    ]
    ingest(lines, ledger=False)

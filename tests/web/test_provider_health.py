"""Provider health, from the edge gateways' attempts of the last fifteen minutes."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.urls import reverse
from django.utils import timezone

from controlplane.core.tenancy import all_tenants_context
from controlplane.dashboards.health import host_problems, provider_health
from controlplane.gateway.health import provider_health_refresh
from controlplane.gateway.models import Provider
from controlplane.gateway.tasks import refresh_provider_health
from tests.conftest import signed_in
from tests.web.conftest import Fleet, World
from tests.web.telemetry import ingest, span
from tests.web.test_traces import new_trace_id

pytestmark = pytest.mark.django_db


def test_the_rules() -> None:
    assert provider_health(attempts=0, failures=0, breaker_trips=0) == "unknown"
    assert provider_health(attempts=100, failures=1, breaker_trips=0) == "healthy"
    assert provider_health(attempts=100, failures=10, breaker_trips=0) == "degraded"
    assert provider_health(attempts=100, failures=60, breaker_trips=0) == "down"
    assert provider_health(attempts=100, failures=1, breaker_trips=1) == "down"
    assert host_problems(
        cpu_percent=99, memory_percent=40, disk_percent=91, spool_fill=0.1, oldest_unpulled=None
    ) == ["CPU at 99 %", "disk at 91 %"]
    assert host_problems(
        cpu_percent=None,
        memory_percent=None,
        disk_percent=None,
        spool_fill=0.85,
        oldest_unpulled=dt.timedelta(minutes=7),
    ) == ["spool 85 % full", "records waiting 7 min"]


def test_each_provider_is_rated_on_the_gateways_recent_attempts(
    world: World, fleet_a: Fleet, fleet_b: Fleet, make_staff: object
) -> None:
    tag = uuid.uuid4().hex[:8]
    names = {state: f"{state}-{tag}" for state in ("healthy", "degraded", "down", "quiet", "old")}
    with all_tenants_context():
        for name in names.values():
            Provider.unscoped.create(name=name, kind="openai", base_url="https://llm.example/v1")
    now = timezone.now()

    def attempts(name: str, ok: int, failed: int, tripped: int = 0) -> list[dict[str, object]]:
        return [{"provider": name, "model": "m", "status": "ok", "breaker_tripped": False}] * ok + [
            {"provider": name, "model": "m", "status": "error", "breaker_tripped": n < tripped}
            for n in range(failed)
        ]

    def served(fleet: Fleet, tried: list[dict[str, object]], minutes: int) -> bytes:
        return span(
            fleet,
            trace_id=new_trace_id(),
            span_id="1" * 16,
            kind="model",
            provider="x",
            model="m",
            start=now - dt.timedelta(minutes=minutes),
            attributes={"acp.gateway.attempts": tried},
        )

    ingest(
        [
            served(fleet_a, attempts(names["healthy"], 40, 0), 3),
            served(fleet_b, attempts(names["healthy"], 10, 0), 4),  # another tenant, same one
            served(fleet_a, attempts(names["degraded"], 18, 2), 2),
            served(fleet_a, attempts(names["down"], 5, 1, tripped=1), 1),
            served(fleet_a, attempts(names["old"], 0, 9), 40),  # before the window
        ]
    )
    states = provider_health_refresh(now=now)
    assert {state: states[name] for state, name in names.items()} == {
        "healthy": "healthy",
        "degraded": "degraded",
        "down": "down",
        "quiet": "unknown",
        "old": "unknown",
    }
    with all_tenants_context():
        rated = Provider.unscoped.get(name=names["down"])
    assert rated.health == "down" and rated.health_checked_at == now

    refresh_provider_health.apply()  # the beat task, run here: the same answer
    staff = signed_in(make_staff("operator"))  # type: ignore[operator]
    page = staff.get(reverse("web:console_msp_gateway")).content.decode()
    assert f'data-health="{names["degraded"]}"><span class="badge badge-health-degraded">' in page

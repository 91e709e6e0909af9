"""A small scenario per test: one tenant, four office agents, three weeks of history in
the real chDB (the security rollups fill from ``spans``), incidents placed in week 3."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from controlplane.security import scoring
from controlplane.security.scenarios import AgentSpec, Effect, Plan, TenantPlan
from tenants.models import Tenant
from tests.telemetry.conftest import site  # noqa: F401 - a running edge node (the fast path)

START = dt.datetime(2026, 8, 17, tzinfo=dt.UTC)  # a Monday
WEEK3 = START + dt.timedelta(weeks=3)
MINUTE = dt.timedelta(minutes=1)


@dataclass
class Loaded:
    plan: Plan
    tenant: Tenant
    agents: dict[str, uuid.UUID]

    def judge(self, since: dt.datetime, until: dt.datetime) -> None:
        scoring.replay(
            self.plan,
            scoring.Loaded({self.tenant.slug: self.tenant}, {self.tenant.slug: self.agents}),
            judge_from=since,
            until=until,
            step=dt.timedelta(hours=6),
        )


FOUR_AGENTS = [
    AgentSpec("sup-1", "support", "office", 24),
    AgentSpec("sup-2", "support", "office", 20),
    AgentSpec("sup-3", "support", "office", 18),
    AgentSpec("eng-1", "engineering", "office", 12),
]


def mini_plan(
    effects: list[Effect],
    calendar: list[dict[str, str]] | None = None,
    agents: list[AgentSpec] | None = None,
    noise: str = "",
) -> Plan:
    """``noise``: a fixed name for the tenant's Poisson noise (the same telemetry at every
    run); by default each test draws its own."""
    slug = f"sec-{noise or uuid.uuid4().hex[:10]}"
    tenant = TenantPlan(slug, agents or FOUR_AGENTS, calendar=calendar or [])
    return Plan(
        seed=3,
        start=START,
        until=WEEK3 + dt.timedelta(days=4),
        tenants=[tenant],
        effects={slug: effects},
        labels=[],
    )


@pytest.fixture
def scenario(db: None) -> Callable[..., Loaded]:
    def load(
        effects: list[Effect],
        calendar: list[dict[str, str]] | None = None,
        agents: list[AgentSpec] | None = None,
        noise: str = "",
    ) -> Loaded:
        plan = mini_plan(effects, calendar, agents, noise)
        loaded = scoring.load(plan)
        slug = plan.tenants[0].slug
        return Loaded(plan, loaded.tenants[slug], loaded.agents[slug])

    return load

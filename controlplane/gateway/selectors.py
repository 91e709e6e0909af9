"""Reads for the gateway: budget periods, ledger spend per budget scope, credential
summaries. Callers hold the tenant scope (``tenant_context``) unless noted."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Sum
from django.utils import timezone

from controlplane.agents.models import Agent
from controlplane.core.tenancy import all_tenants_context
from controlplane.gateway.models import Budget, Provider, ProviderCredential
from controlplane.telemetry.models import UsageEvent

ZERO = Decimal(0)

SpendByAgent = Mapping[tuple[uuid.UUID, uuid.UUID | None], Decimal]
"""Ledger cost per (agent, department) in some time range."""


# --- periods (UTC) -----------------------------------------------------------------------


def period_start(period: str, at: dt.datetime) -> dt.datetime:
    """The start of the day or month (UTC) that ``at`` falls in."""
    moment = at.astimezone(dt.UTC)
    if period == Budget.Period.DAY:
        return moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def period_end(period: str, start: dt.datetime) -> dt.datetime:
    if period == Budget.Period.DAY:
        return start + dt.timedelta(days=1)
    year, month = (start.year + 1, 1) if start.month == 12 else (start.year, start.month + 1)
    return start.replace(year=year, month=month)


# --- ledger spend ------------------------------------------------------------------------


def spend_by_agent(
    *,
    start: dt.datetime,
    end: dt.datetime,
    edge_node_id: uuid.UUID | None = None,
) -> dict[tuple[uuid.UUID, uuid.UUID | None], Decimal]:
    """Ledger cost of the active tenant in ``[start, end)``, per agent and department;
    of one edge node's records only when ``edge_node_id`` is given."""
    rows = UsageEvent.objects.filter(occurred_at__gte=start, occurred_at__lt=end)
    if edge_node_id is not None:
        rows = rows.filter(edge_node_id=edge_node_id)
    totals = rows.values("agent_id", "department_id").annotate(total=Sum("cost"))
    return {(row["agent_id"], row["department_id"]): row["total"] or ZERO for row in totals}


def scope_spend(budget: Budget, spend: SpendByAgent) -> Decimal:
    """The part of ``spend`` that counts against ``budget``."""
    if budget.scope == Budget.Scope.TENANT:
        return sum(spend.values(), ZERO)
    if budget.scope == Budget.Scope.AGENT:
        return sum((v for (agent, _), v in spend.items() if agent == budget.scope_id), ZERO)
    return sum((v for (_, dept), v in spend.items() if dept == budget.scope_id), ZERO)


def ledger_spend(
    *, budget: Budget, start: dt.datetime, edge_node_id: uuid.UUID | None = None
) -> Decimal:
    """What the ledger holds against ``budget`` in the period starting at ``start``
    (on every edge, or one)."""
    end = period_end(budget.period, start)
    return scope_spend(budget, spend_by_agent(start=start, end=end, edge_node_id=edge_node_id))


@dataclass(frozen=True)
class BudgetStatus:
    budget: Budget
    period_start: dt.datetime
    spend: Decimal

    @property
    def used(self) -> Decimal:
        """Spend as a fraction of the limit (1 = at the limit)."""
        return self.spend / self.budget.limit if self.budget.limit else Decimal(1)

    @property
    def crossed(self) -> bool:
        return self.spend >= self.budget.limit


def budget_status(*, now: dt.datetime | None = None) -> list[BudgetStatus]:
    """Every budget of the active tenant with its ledger spend in the current period,
    across all edges: what the alerting of soft (and hard) limits reads."""
    moment = now or timezone.now()
    cache: dict[tuple[dt.datetime, dt.datetime], SpendByAgent] = {}
    result = []
    for budget in Budget.objects.all():
        start = period_start(budget.period, moment)
        key = (start, period_end(budget.period, start))
        if key not in cache:
            cache[key] = spend_by_agent(start=key[0], end=key[1])
        result.append(BudgetStatus(budget, start, scope_spend(budget, cache[key])))
    return result


def tenant_wide_budgets() -> list[Budget]:
    """Every tenant's tenant-wide budgets, for staff views: the caller holds
    ``all_tenants_context``."""
    return list(Budget.unscoped.filter(scope=Budget.Scope.TENANT))


def site_scope(site_id: uuid.UUID) -> tuple[set[uuid.UUID], set[uuid.UUID]]:
    """Agents registered at a site and their departments: which agent and department
    budgets an edge node of the site can spend on."""
    rows = Agent.objects.filter(device__site_id=site_id).values_list("pk", "department_id")
    agents = {agent for agent, _ in rows}
    departments = {dept for _, dept in rows if dept is not None}
    return agents, departments


def budget_relevant(budget: Budget, agents: set[uuid.UUID], departments: set[uuid.UUID]) -> bool:
    if budget.scope == Budget.Scope.AGENT:
        return budget.scope_id in agents
    if budget.scope == Budget.Scope.DEPARTMENT:
        return budget.scope_id in departments
    return True


# --- providers -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CredentialInfo:
    """What may be shown of a provider credential: never the secret."""

    provider_id: uuid.UUID
    last4: str
    key_id: str
    version: int
    created_at: dt.datetime
    rotated_at: dt.datetime | None

    @property
    def age(self) -> dt.timedelta:
        return timezone.now() - (self.rotated_at or self.created_at)

    @classmethod
    def of(cls, credential: ProviderCredential) -> CredentialInfo:
        return cls(
            provider_id=credential.provider_id,
            last4=credential.last4,
            key_id=credential.key_id,
            version=credential.version,
            created_at=credential.created_at,
            rotated_at=credential.rotated_at,
        )


def credential_info(providers: Iterable[Provider]) -> dict[uuid.UUID, CredentialInfo]:
    """Display data of the providers' credentials (MSP-wide ones included), by provider.

    Reads across tenants on purpose, for the given providers only: an MSP-wide
    credential is otherwise invisible to tenant scopes.
    """
    ids = [p.pk for p in providers]
    with all_tenants_context():
        credentials = ProviderCredential.unscoped.filter(provider_id__in=ids)
        return {c.provider_id: CredentialInfo.of(c) for c in credentials}

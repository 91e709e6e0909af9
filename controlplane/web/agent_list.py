"""The agents list: each agent with its traffic over a chosen range, searchable,
filterable and sortable, so that "which agent costs most, fails most, went quiet?"
is one page.

Usage comes from the ClickHouse rollups (``dashboards.queries.usage_by``), within a
department-scoped person's departments; "last seen" from the ledger. When ClickHouse
cannot answer, the list still shows every agent, with the usage columns empty and a
note.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django import forms
from django.db.models import Q
from django.utils import timezone

from controlplane.agents.models import Agent
from controlplane.analytics import StoreError
from controlplane.dashboards import queries
from controlplane.dashboards.queries import Filters
from controlplane.web.dashboard_views import window_of
from controlplane.web.formatting import format_money, format_ms, format_percent
from controlplane.web.forms import NO_CONTROL_CHARACTERS
from controlplane.web.scope import Scope
from controlplane.web.sorting import Column, choices, sort_links, sort_rows
from tenants.models import Department

logger = logging.getLogger(__name__)

RANGES = {"24h": "Last 24 hours", "7d": "Last 7 days", "30d": "Last 30 days"}
DEFAULT_RANGE = "7d"
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class AgentRow:
    agent: Agent
    last_activity: dt.datetime | None
    requests: int | None
    cost: Decimal | None
    faults: int | None
    p95_ms: float | None

    @property
    def error_rate(self) -> float | None:
        if not self.requests or self.faults is None:
            return None
        return self.faults / self.requests

    @property
    def cost_text(self) -> str:
        return "—" if self.cost is None else format_money(self.cost)

    @property
    def error_rate_text(self) -> str:
        return format_percent(self.faults or 0, self.requests or 0)

    @property
    def p95_text(self) -> str:
        return format_ms(self.p95_ms) if self.requests else "—"


SORTS: dict[str, Column[AgentRow]] = {
    "name": Column("Agent", lambda r: r.agent.name.lower(), largest_first=False),
    "requests": Column("Requests", lambda r: r.requests or 0),
    "cost": Column("Cost", lambda r: r.cost or Decimal(0)),
    "errors": Column("Error rate", lambda r: r.error_rate or 0.0),
    "p95": Column("p95 latency", lambda r: r.p95_ms or 0.0),
    "seen": Column("Last seen", lambda r: r.last_activity or EPOCH),
}


class AgentListForm(forms.Form):
    q = forms.CharField(
        required=False,
        max_length=100,
        label="Search",
        validators=[NO_CONTROL_CHARACTERS],
        help_text="Name, role or purpose.",
    )
    status = forms.ChoiceField(
        required=False,
        choices=[("", "Any status"), *Agent.Status.choices],
    )
    department = forms.ChoiceField(required=False, choices=())
    range = forms.ChoiceField(required=False, label="Usage over", choices=list(RANGES.items()))
    sort = forms.ChoiceField(required=False, choices=choices(SORTS))

    def __init__(self, *args: Any, departments: list[Department], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["department"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [("", "All departments")] + [(str(d.pk), d.name) for d in departments]

    def value(self, name: str, default: str = "") -> str:
        return (self.cleaned_data.get(name) if self.is_valid() else None) or default


def _usage(scope: Scope, range_key: str) -> dict[str, dict[str, Any]] | None:
    window = window_of(range_key, timezone.now())
    try:
        found = queries.usage_by(
            scope.tenant.pk,
            window,
            Filters(departments=scope.departments),
            "agent",
            limit=10_000,
        )
    except StoreError:
        logger.exception("agent usage unavailable for tenant %s", scope.tenant.pk)
        return None
    return {str(item["key"]): item for item in found}


def agent_list_context(scope: Scope, agents: Any) -> dict[str, Any]:
    """What the agents page shows: ``agents`` (annotated with ``last_activity``)
    filtered, with usage, sorted as the query string asks."""
    departments = list(scope.rows(Department).order_by("name"))
    form = AgentListForm(scope.request.GET or None, departments=departments)
    query, status = form.value("q").strip(), form.value("status")
    department, range_key = form.value("department"), form.value("range", DEFAULT_RANGE)
    sort = form.value("sort", "name")
    if query:
        agents = agents.filter(
            Q(name__icontains=query) | Q(role__icontains=query) | Q(purpose__icontains=query)
        )
    if status:
        agents = agents.filter(status=status)
    if department:
        agents = agents.filter(department_id=uuid.UUID(department))
    usage = _usage(scope, range_key)
    rows = []
    for agent in agents:
        item = usage.get(str(agent.pk), {}) if usage is not None else None
        rows.append(
            AgentRow(
                agent=agent,
                last_activity=agent.last_activity,
                requests=None if item is None else int(item.get("requests") or 0),
                cost=None if item is None else Decimal(str(item.get("cost") or 0)),
                faults=None if item is None else int(item.get("faults") or 0),
                p95_ms=None if item is None else item.get("p95_ms"),
            )
        )
    kept = {name: form.value(name) for name in ("q", "status", "department", "range")}
    return {
        "rows": sort_rows(rows, SORTS, sort),
        "form": form,
        "usage_unavailable": usage is None,
        "range_label": RANGES[range_key],
        "sort": sort,
        "sort_links": sort_links(scope.url("agents"), kept, SORTS, sort),
        "filtered": bool(query or status or department),
    }

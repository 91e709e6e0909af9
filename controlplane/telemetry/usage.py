"""Usage totals from the PostgreSQL ledger, grouped by agent, department, provider,
model and/or day. The ledger is the system of record for billing, so these are exact."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from django.db.models import Count, Sum
from django.db.models.functions import Coalesce, TruncDate

from controlplane.agents.models import Agent
from controlplane.telemetry.models import UsageEvent
from tenants.models import Department

DIMENSIONS = ("agent", "department", "provider", "model", "day")
_COLUMNS = {
    "agent": "agent_id",
    "department": "department_id",
    "provider": "provider",
    "model": "model",
    "day": "day",
}
ZERO = Decimal(0)


def usage_report(
    *,
    since: dt.datetime,
    until: dt.datetime,
    group_by: Sequence[str],
    agent_id: uuid.UUID | None = None,
    department_id: uuid.UUID | None = None,
    provider: str | None = None,
    model: str | None = None,
    departments: frozenset[uuid.UUID] | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Rows of totals per group, and the grand total, of the active tenant's events in
    ``[since, until)``. Call it inside ``tenant_context``: it reads the scoped manager.

    A row has the grouped fields (``agent_id`` and ``agent`` name, ``department_id``
    and ``department`` name, ``provider``, ``model``, ``day``) and ``events``,
    ``input_tokens``, ``output_tokens`` and ``cost``. ``departments`` limits the events
    to those departments' (a department-scoped member's view).
    """
    unknown = set(group_by) - set(DIMENSIONS)
    if unknown:
        raise ValueError(f"unknown usage dimensions: {', '.join(sorted(unknown))}")
    events = UsageEvent.objects.filter(occurred_at__gte=since, occurred_at__lt=until)
    if agent_id is not None:
        events = events.filter(agent_id=agent_id)
    if department_id is not None:
        events = events.filter(department_id=department_id)
    if departments is not None:
        events = events.filter(department_id__in=departments)
    if provider:
        events = events.filter(provider=provider)
    if model:
        events = events.filter(model=model)
    if "day" in group_by:
        events = events.annotate(day=TruncDate("occurred_at", tzinfo=dt.UTC))
    columns = [_COLUMNS[name] for name in group_by]
    totals = {
        "events": Count("pk"),
        "input_tokens": Coalesce(Sum("input_tokens"), 0),
        "output_tokens": Coalesce(Sum("output_tokens"), 0),
        "cost": Coalesce(Sum("cost"), ZERO),
    }
    grouped = events.order_by().values(*columns).annotate(**totals).order_by(*columns)
    rows = [dict(row) for row in grouped]
    grand = events.order_by().aggregate(**totals)

    if "agent" in group_by:
        names = dict(
            Agent.objects.filter(pk__in={r["agent_id"] for r in rows}).values_list("pk", "name")
        )
        for row in rows:
            row["agent"] = names.get(row["agent_id"], "")
    if "department" in group_by:
        ids = {r["department_id"] for r in rows if r["department_id"]}
        department_names = dict(Department.objects.filter(pk__in=ids).values_list("pk", "name"))
        for row in rows:
            row["department"] = department_names.get(row["department_id"])
    return rows, grand

"""PostgreSQL for retention: the usage ledger (whole monthly partitions, else rows), the
dead letters (whole spool records, bodies included) and security alerts. Each function
returns exactly what it removed, as the database counted it."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from django.db import connection
from django.db.models import Q

from controlplane.agents.models import EdgeNode
from controlplane.core.tenancy import all_tenants_context, tenant_context
from controlplane.security.models import Alert, Incident
from controlplane.telemetry.models import DeadLetter
from controlplane.telemetry.partitions import PARENT, existing_partitions, partition_name


def month_end(month: dt.date) -> dt.datetime:
    first = dt.date(month.year + (month.month == 12), month.month % 12 + 1, 1)
    return dt.datetime.combine(first, dt.time(), tzinfo=dt.UTC)


def ledger_partitions_before(before: dt.datetime) -> list[dt.date]:
    """The ledger's months that end on or before ``before``."""
    return [m for m in existing_partitions() if month_end(m) <= before]


def ledger_partition_counts(month: dt.date) -> dict[uuid.UUID, int]:
    """Each tenant's rows in one month of the ledger (ids and counts only)."""
    with all_tenants_context(), connection.cursor() as cursor:
        cursor.execute(
            f'SELECT tenant_id, count(*) FROM "{partition_name(month)}" GROUP BY tenant_id'  # noqa: S608 (a name we format from a date)
        )
        return {row[0]: int(row[1]) for row in cursor.fetchall()}


def ledger_drop_partition(month: dt.date) -> None:
    with all_tenants_context(), connection.cursor() as cursor:
        cursor.execute(f'DROP TABLE IF EXISTS "{partition_name(month)}"')


def _not_held(held_agents: Sequence[uuid.UUID]) -> tuple[str, list[Any]]:
    if not held_agents:
        return "", []
    return " AND NOT (agent_id = ANY(%s))", [list(held_agents)]


def ledger_delete_before(
    tenant_id: uuid.UUID, cutoff: dt.datetime, held_agents: Sequence[uuid.UUID]
) -> int:
    """Delete the tenant's ledger rows from before ``cutoff``, one month at a time (so
    no single transaction grows with the whole history); how many went."""
    removed = 0
    clause, params = _not_held(held_agents)
    for month in existing_partitions():
        start = dt.datetime.combine(month, dt.time(), tzinfo=dt.UTC)
        if start >= cutoff:
            break
        with tenant_context(tenant_id), connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {PARENT} WHERE tenant_id = %s AND occurred_at >= %s "  # noqa: S608 (constant names)
                f"AND occurred_at < %s{clause}",
                [tenant_id, start, min(cutoff, month_end(month)), *params],
            )
            removed += cursor.rowcount
    return removed


def dead_letters_delete_before(tenant_id: uuid.UUID, cutoff: dt.datetime) -> int:
    """Delete the dead letters (whole records, bodies included) stored before ``cutoff``
    and recount each node's open ones."""
    with tenant_context(tenant_id):
        letters = DeadLetter.objects.filter(created_at__lt=cutoff)
        nodes = set(letters.values_list("edge_node_id", flat=True))
        removed, _ = letters.delete()
        for node_id in nodes:
            open_count = DeadLetter.objects.filter(
                edge_node_id=node_id, replayed_at__isnull=True
            ).count()
            EdgeNode.objects.filter(pk=node_id).update(dead_letter_count=open_count)
    return removed


def alerts_delete_before(
    tenant_id: uuid.UUID, cutoff: dt.datetime, held_agents: Sequence[uuid.UUID]
) -> dict[str, int]:
    """Delete the alerts raised before ``cutoff`` (with their notes) that name no held
    agent, then the incidents opened before it that have no alert left. Counts per
    table, as Django's delete counted them (cascades included)."""
    removed: dict[str, int] = {}
    with tenant_context(tenant_id):
        alerts = Alert.objects.filter(raised_at__lt=cutoff)
        if held_agents:
            alerts = alerts.exclude(agent_ids__overlap=list(held_agents))
        _, counted = alerts.delete()
        _, more = (
            Incident.objects.filter(opened_at__lt=cutoff)
            .filter(~Q(pk__in=Alert.objects.filter(incident__isnull=False).values("incident_id")))
            .delete()
        )
    for label, count in [*counted.items(), *more.items()]:
        table = label.split(".")[-1].lower()
        removed[table] = removed.get(table, 0) + count
    return removed

"""ClickHouse for retention and data-subject requests: counting, deleting and erasing
one tenant's rows in spans and in every rollup, through the tenant-scoped layer with
bound parameters (controlplane/analytics/scoped.py).

``TABLES`` lists every table that holds a tenant's telemetry; a test fails when a
migration adds one that is not here, so no rollup escapes retention.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from controlplane.analytics.scoped import (
    all_tenants_drop_partition,
    all_tenants_query,
    tenant_mutation,
    tenant_query,
)
from controlplane.analytics.store import identifier
from edge.identifiers import REPLACEMENT, TOMBSTONE, Identifier

CUTOFF = "DateTime64(6, 'UTC')"


@dataclass(frozen=True)
class Table:
    name: str
    time: str
    """Its time column: the span's start, or the start of the rollup's bucket."""
    per_agent: bool
    """Has ``agent_id``, so one agent's rows can be told apart (legal holds)."""
    text: tuple[str, ...] = ()
    """Columns that may hold a person's identifiers (searched and erased by a DSR)."""

    @property
    def sql_name(self) -> str:
        return identifier(self.name, "table name")


SPANS = Table(
    "spans",
    "start_time",
    True,
    ("name", "status_message", "tool", "attributes", "request_body", "response_body"),
)
ROLLUPS = (
    Table("spans_minute", "minute", True, ("tool",)),
    Table("tenants_hour", "hour", False),
    Table("tenants_quarter_hour", "quarter_hour", False),
    Table("spans_hour", "hour", False, ("tool",)),
    Table("agents_hour", "hour", True),
    Table("agent_models_hour", "hour", True),
    Table("provider_attempts_minute", "minute", True),
    Table("security_agent_minute", "minute", True),
    Table("security_scope_minute", "minute", True, ("item",)),
    Table("spans_day", "day", False, ("tool",)),
    Table("agents_day", "day", True),
    Table("tenants_day", "day", False),
    Table("breakdowns_hour", "hour", False, ("key",)),
    Table("breakdowns_day", "day", False, ("key",)),
)
TABLES = (SPANS, *ROLLUPS)
BY_NAME = {table.name: table for table in TABLES}


def _unheld(table: Table, held_agents: Sequence[uuid.UUID]) -> str:
    return " AND NOT has({held:Array(UUID)}, agent_id)" if held_agents and table.per_agent else ""


def _params(tenant_id: uuid.UUID, held_agents: Sequence[uuid.UUID], **more: Any) -> dict[str, Any]:
    params: dict[str, Any] = {"tenant_id": tenant_id, **more}
    if held_agents:
        params["held"] = list(held_agents)
    return params


# --- retention ---------------------------------------------------------------------------


def rows_before(
    table_name: str, tenant_id: uuid.UUID, cutoff: dt.datetime, held_agents: Sequence[uuid.UUID]
) -> int:
    """The tenant's rows of ``table_name`` from before ``cutoff`` (those of held agents
    left out)."""
    table = BY_NAME[table_name]
    rows = tenant_query(
        f"SELECT count() AS n FROM {table.sql_name} WHERE tenant_id = {{tenant_id:UUID}} "  # noqa: S608 (names from TABLES, values bound)
        f"AND ({table.time} < {{cutoff:{CUTOFF}}}{_unheld(table, held_agents)})",
        tenant_id=tenant_id,
        params=_params(tenant_id, held_agents, cutoff=cutoff),
    )
    return int(rows[0]["n"])


def delete_before(
    table_name: str, tenant_id: uuid.UUID, cutoff: dt.datetime, held_agents: Sequence[uuid.UUID]
) -> None:
    table = BY_NAME[table_name]
    tenant_mutation(
        f"ALTER TABLE {table.sql_name} DELETE WHERE tenant_id = {{tenant_id:UUID}} "
        f"AND ({table.time} < {{cutoff:{CUTOFF}}}{_unheld(table, held_agents)})",
        tenant_id=tenant_id,
        params=_params(tenant_id, held_agents, cutoff=cutoff),
    )


_HAS_BODY = "(request_body != '' OR response_body != '')"


def bodies_before(
    tenant_id: uuid.UUID, cutoff: dt.datetime, held_agents: Sequence[uuid.UUID]
) -> int:
    """The tenant's spans from before ``cutoff`` that still have a body."""
    rows = tenant_query(
        f"SELECT count() AS n FROM spans WHERE tenant_id = {{tenant_id:UUID}} "  # noqa: S608 (names from TABLES, values bound)
        f"AND (start_time < {{cutoff:{CUTOFF}}} AND {_HAS_BODY}{_unheld(SPANS, held_agents)})",
        tenant_id=tenant_id,
        params=_params(tenant_id, held_agents, cutoff=cutoff),
    )
    return int(rows[0]["n"])


def clear_bodies_before(
    tenant_id: uuid.UUID, cutoff: dt.datetime, held_agents: Sequence[uuid.UUID]
) -> None:
    tenant_mutation(
        "ALTER TABLE spans UPDATE request_body = '', response_body = '' "
        f"WHERE tenant_id = {{tenant_id:UUID}} "
        f"AND (start_time < {{cutoff:{CUTOFF}}} AND {_HAS_BODY}{_unheld(SPANS, held_agents)})",
        tenant_id=tenant_id,
        params=_params(tenant_id, held_agents, cutoff=cutoff),
    )


def partition_counts(table_name: str, before: dt.datetime) -> list[dict[str, Any]]:
    """Per month (``partition``, YYYYMM) that starts before ``before``, each tenant's
    rows in it: which months every tenant in them is past its cutoff for. Ids and counts
    only, across all tenants."""
    table = BY_NAME[table_name]
    return all_tenants_query(
        f"SELECT toYYYYMM({table.time}) AS partition, tenant_id, count() AS n "  # noqa: S608 (names from TABLES, values bound)
        f"FROM {table.sql_name} WHERE {table.time} < {{before:{CUTOFF}}} "
        "GROUP BY partition, tenant_id ORDER BY partition",
        {"before": before},
    )


def drop_partition(table_name: str, partition: int) -> None:
    all_tenants_drop_partition(BY_NAME[table_name].name, partition)


# --- data-subject requests ------------------------------------------------------------------


def _any_match(columns: Sequence[str], count: int) -> str:
    return " OR ".join(f"match({c}, {{p{i}:String}})" for c in columns for i in range(count))


def _patterns(identifiers: Sequence[Identifier]) -> dict[str, str]:
    return {f"p{i}": one.pattern for i, one in enumerate(identifiers)}


def matching_rows(
    table_name: str,
    tenant_id: uuid.UUID,
    identifiers: Sequence[Identifier],
    held_agents: Sequence[uuid.UUID] = (),
) -> int:
    """The tenant's rows of ``table_name`` in whose text any identifier occurs (those of
    held agents left out)."""
    table = BY_NAME[table_name]
    rows = tenant_query(
        f"SELECT count() AS n FROM {table.sql_name} WHERE tenant_id = {{tenant_id:UUID}} "  # noqa: S608 (names from TABLES, values bound)
        f"AND (({_any_match(table.text, len(identifiers))}){_unheld(table, held_agents)})",
        tenant_id=tenant_id,
        params=_params(tenant_id, held_agents, **_patterns(identifiers)),
    )
    return int(rows[0]["n"])


def matching_spans(
    tenant_id: uuid.UUID, identifiers: Sequence[Identifier], *, limit: int
) -> list[dict[str, Any]]:
    """The tenant's spans in which any identifier occurs, oldest first, for an export."""
    return tenant_query(
        "SELECT event_id, trace_id, span_id, agent_id, start_time, kind, name, provider, "  # noqa: S608 (names from TABLES, values bound)
        "model, tool, status, status_message, input_tokens, output_tokens, attributes, "
        "request_body, response_body FROM spans WHERE tenant_id = {tenant_id:UUID} "
        f"AND ({_any_match(SPANS.text, len(identifiers))}) "
        "ORDER BY start_time LIMIT 1 BY event_id LIMIT {limit:UInt32}",
        tenant_id=tenant_id,
        params={"tenant_id": tenant_id, "limit": limit, **_patterns(identifiers)},
    )


def matching_traces(
    tenant_id: uuid.UUID, identifiers: Sequence[Identifier], held_agents: Sequence[uuid.UUID]
) -> list[str]:
    """The traces (of agents not held) that have a span in which an identifier occurs."""
    rows = tenant_query(
        "SELECT DISTINCT trace_id FROM spans WHERE tenant_id = {tenant_id:UUID} "  # noqa: S608 (names from TABLES, values bound)
        f"AND (({_any_match(SPANS.text, len(identifiers))}){_unheld(SPANS, held_agents)})",
        tenant_id=tenant_id,
        params=_params(tenant_id, held_agents, **_patterns(identifiers)),
    )
    return [row["trace_id"] for row in rows]


def spans_of_traces(tenant_id: uuid.UUID, traces: Sequence[str]) -> int:
    rows = tenant_query(
        "SELECT count() AS n FROM spans WHERE tenant_id = {tenant_id:UUID} "
        "AND has({traces:Array(String)}, trace_id)",
        tenant_id=tenant_id,
        params={"tenant_id": tenant_id, "traces": list(traces)},
    )
    return int(rows[0]["n"])


def _erased(column: str, count: int) -> str:
    """``column`` with every identifier replaced, twice (see edge.identifiers)."""
    expression = column
    for i in range(count):
        for _ in range(2):
            expression = f"replaceRegexpAll({expression}, {{p{i}:String}}, {{r:String}})"
    return expression


def erase_traces(
    tenant_id: uuid.UUID, traces: Sequence[str], identifiers: Sequence[Identifier]
) -> None:
    """Every span of ``traces``: bodies become the tombstone, and each identifier in its
    other text is replaced by it. Usage, cost and times stay."""
    count = len(identifiers)
    body = "if({c} = '', '', {{tombstone:String}})"
    sets = [f"{c} = {body.format(c=c)}" for c in ("request_body", "response_body")]
    sets += [f"{c} = {_erased(c, count)}" for c in ("name", "status_message", "tool", "attributes")]
    tenant_mutation(
        f"ALTER TABLE spans UPDATE {', '.join(sets)} WHERE tenant_id = {{tenant_id:UUID}} "
        "AND (has({traces:Array(String)}, trace_id))",
        tenant_id=tenant_id,
        params={
            "tenant_id": tenant_id,
            "traces": list(traces),
            "tombstone": TOMBSTONE,
            "r": REPLACEMENT,
            **_patterns(identifiers),
        },
    )


def delete_matching(
    table_name: str,
    tenant_id: uuid.UUID,
    identifiers: Sequence[Identifier],
    held_agents: Sequence[uuid.UUID],
) -> None:
    """Delete the rollup rows whose key holds an identifier (a key cannot be updated)."""
    table = BY_NAME[table_name]
    tenant_mutation(
        f"ALTER TABLE {table.sql_name} DELETE WHERE tenant_id = {{tenant_id:UUID}} "
        f"AND (({_any_match(table.text, len(identifiers))}){_unheld(table, held_agents)})",
        tenant_id=tenant_id,
        params=_params(tenant_id, held_agents, **_patterns(identifiers)),
    )

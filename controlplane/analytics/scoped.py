"""The one way the app reads ClickHouse: every query names its tenant.

ClickHouse has no row-level security here, so this layer is its wall
(docs/decisions/0015-second-wall-complete.md). ``tenant_query`` runs a query for one
tenant and refuses SQL in which any table is read without ``WHERE tenant_id =
{tenant_id:UUID}`` right after it (a ``WITH`` subquery counts as filtered where it is
defined; a ``JOIN`` never does), binding the tenant itself. ``all_tenants_query`` is
the explicit, grep-able exception for the MSP staff console's fleet-wide reads.
Inserts and health checks go to ``get_store()`` directly.

Removing data (retention, erasure: compliance/privacy) goes through the same wall:
``tenant_mutation`` runs an ``ALTER TABLE … DELETE/UPDATE`` whose ``WHERE`` starts with
the tenant filter, and ``all_tenants_drop_partition`` drops a whole month of a table,
the one removal across tenants (the retention run decides when every tenant in it is
past its cutoff).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import pyarrow as pa

from controlplane.analytics.store import Params, get_store, identifier

# A table read: FROM or JOIN followed by a name (not a subquery).
_TABLE_READ = re.compile(r"\b(?:FROM|JOIN)\s+(?!\()([A-Za-z_][A-Za-z0-9_.]*)", re.IGNORECASE)
# What must follow the table's name (an optional FINAL and alias first).
_TENANT_FILTER = re.compile(
    r"(?:\s+FINAL)?(?:\s+AS\s+[A-Za-z_]\w*)?\s+WHERE\s+tenant_id\s*=\s*\{tenant_id:UUID\}",
    re.IGNORECASE,
)
# ALTER TABLE name DELETE|UPDATE … WHERE tenant_id = {tenant_id:UUID}: the statement's own
# WHERE (the first one) starts with the tenant filter, and anything after it is one
# bracketed condition joined by AND (an OR there would widen the filter).
_MUTATION = re.compile(
    r"\s*ALTER\s+TABLE\s+[A-Za-z_]\w*\s+(?:DELETE|UPDATE\s+(?:(?!\bWHERE\b).)+?)"
    r"\s+WHERE\s+tenant_id\s*=\s*\{tenant_id:UUID\}",
    re.IGNORECASE | re.DOTALL,
)
_WITH_NAME = re.compile(r"\b([A-Za-z_]\w*)\s+AS\s*\(\s*SELECT\b", re.IGNORECASE)


class UnscopedQuery(ValueError):
    """A query for one tenant that would read rows of others."""


def unscoped_reads(sql: str) -> list[str]:
    """The tables ``sql`` reads without filtering them by ``{tenant_id:UUID}`` first."""
    defined = set(_WITH_NAME.findall(sql))
    return [
        match.group(1)
        for match in _TABLE_READ.finditer(sql)
        if match.group(1) not in defined and not _TENANT_FILTER.match(sql, match.end())
    ]


def _bound(sql: str, tenant_id: uuid.UUID, params: Params | None) -> dict[str, object]:
    if not isinstance(tenant_id, uuid.UUID):
        raise TypeError(f"tenant_id must be a UUID, not {type(tenant_id).__name__}")
    unscoped = unscoped_reads(sql)
    if unscoped:
        raise UnscopedQuery(f"reads {', '.join(unscoped)} without WHERE tenant_id = ...")
    bound = dict(params or {})
    if bound.setdefault("tenant_id", tenant_id) != tenant_id:
        raise UnscopedQuery("the parameters name another tenant")
    return bound


def tenant_query(
    sql: str, *, tenant_id: uuid.UUID, params: Params | None = None
) -> list[dict[str, Any]]:
    """The rows of ``sql`` for ``tenant_id`` only. UnscopedQuery if any table in ``sql``
    is read without the tenant filter, or ``params`` name another tenant."""
    return get_store().query(sql, _bound(sql, tenant_id, params))


def tenant_query_arrow(sql: str, *, tenant_id: uuid.UUID, params: Params | None = None) -> pa.Table:
    """``tenant_query`` as an Arrow table: for results too large to become dicts."""
    return get_store().query_arrow(sql, _bound(sql, tenant_id, params))


def tenant_mutation(sql: str, *, tenant_id: uuid.UUID, params: Params | None = None) -> None:
    """Delete or update ``tenant_id``'s rows with ``ALTER TABLE t DELETE|UPDATE … WHERE
    tenant_id = {tenant_id:UUID} …``, and wait until it is done (on every replica).
    UnscopedQuery for any other shape, a read without the filter, or another tenant."""
    match = _MUTATION.match(sql)
    if match is None or not _anded(sql[match.end() :]):
        raise UnscopedQuery(
            "a mutation must be ALTER TABLE … WHERE tenant_id = {tenant_id:UUID} [AND (…)]"
        )
    get_store().command(f"{sql} SETTINGS mutations_sync = 2", _bound(sql, tenant_id, params))


def _anded(rest: str) -> bool:
    """``rest`` is empty or ``AND (…)`` with the bracket closed only at its end."""
    rest = rest.strip()
    if not rest:
        return True
    head, _, condition = rest.partition("(")
    if head.strip().upper() != "AND" or not condition.endswith(")"):
        return False
    depth = 1
    for char in condition[:-1]:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0:
            return False
    return depth == 1


def all_tenants_drop_partition(table: str, partition: int) -> None:
    """Drop one month (``YYYYMM``) of ``table``, every tenant's rows in it. Retention
    only, when each tenant with rows there is past its cutoff (compliance.privacy)."""
    get_store().command(
        f"ALTER TABLE {identifier(table, 'table name')} DROP PARTITION {{partition:UInt32}}",
        {"partition": int(partition)},
    )


def all_tenants_query(sql: str, params: Params | None = None) -> list[dict[str, Any]]:
    """The rows of ``sql`` across every tenant. Staff console only: each caller is listed
    in tests/analytics/test_tenant_scope.py (``ALL_TENANT_QUERIES``)."""
    return get_store().query(sql, params)

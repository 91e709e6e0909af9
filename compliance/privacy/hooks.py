"""The ``evidence`` kind: compliance evidence records live in another part of the app,
which joins retention and data-subject requests by registering functions here (from its
``AppConfig.ready``), so this app does not import it. With nothing registered the
evidence steps remove and find nothing, and say so in the run.

- retention: ``(tenant_id, cutoff, held_agents) -> ({table: rows removed}, [what was
  kept and why])``, for the tenant's evidence from before ``cutoff`` (a tenant-wide hold
  never gets this far);
- find: ``(tenant_id, identifiers) -> {"count": n, "legacy": n, "records": [JSON-able
  dicts]}``: records that can be erased, records that cannot (written before evidence
  hashed its personal parts apart, decision 0045), and both for the export;
- erase: ``(tenant_id, identifiers, held_agents, request_id) -> {table: rows erased}``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from edge.identifiers import Identifier

Retention = Callable[
    [uuid.UUID, dt.datetime, Sequence[uuid.UUID]], tuple[dict[str, int], list[str]]
]
Find = Callable[[uuid.UUID, Sequence[Identifier]], dict[str, Any]]
Erase = Callable[[uuid.UUID, Sequence[Identifier], Sequence[uuid.UUID], uuid.UUID], dict[str, int]]

_retention: list[Retention] = []
_find: list[Find] = []
_erase: list[Erase] = []


def register_evidence_hooks(
    *, retention: Retention | None = None, find: Find | None = None, erase: Erase | None = None
) -> None:
    if retention is not None and retention not in _retention:
        _retention.append(retention)
    if find is not None and find not in _find:
        _find.append(find)
    if erase is not None and erase not in _erase:
        _erase.append(erase)


def registered() -> bool:
    return bool(_retention or _find or _erase)


def evidence_retention(
    tenant_id: uuid.UUID, cutoff: dt.datetime, held_agents: Sequence[uuid.UUID]
) -> tuple[dict[str, int], list[str]]:
    removed: dict[str, int] = {}
    kept: list[str] = []
    for hook in _retention:
        tables, reasons = hook(tenant_id, cutoff, held_agents)
        for table, rows in tables.items():
            removed[table] = removed.get(table, 0) + int(rows)
        kept.extend(reasons)
    return removed, kept


def evidence_find(tenant_id: uuid.UUID, identifiers: Sequence[Identifier]) -> dict[str, Any]:
    count, legacy, records = 0, 0, []
    for hook in _find:
        found = hook(tenant_id, identifiers)
        count += int(found.get("count", 0))
        legacy += int(found.get("legacy", 0))
        records.extend(found.get("records", []))
    return {"count": count, "legacy": legacy, "records": records}


def evidence_erase(
    tenant_id: uuid.UUID,
    identifiers: Sequence[Identifier],
    held_agents: Sequence[uuid.UUID],
    request_id: uuid.UUID,
) -> dict[str, int]:
    erased: dict[str, int] = {}
    for hook in _erase:
        for table, rows in hook(tenant_id, identifiers, held_agents, request_id).items():
            erased[table] = erased.get(table, 0) + int(rows)
    return erased

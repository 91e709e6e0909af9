"""A data-subject request, one store at a time (docs/privacy.md, "Data-subject
requests").

Finding runs when the request is made: PostgreSQL, ClickHouse, each edge node and the
evidence store are searched in turn, each adding its file to the export; then the
request is ``found``. Erasing (once asked for, on a verified request) goes the other
way, from the edges inward, so that a record pulled meanwhile is erased where it lands:
edges, ClickHouse, PostgreSQL, evidence, the audit trail; then every store is searched
again. Anything still found (a record that arrived during the erasure) starts the
erasure once more; after the second time the request fails, showing what remains. When
nothing is left, the identifiers and the export are deleted too.

Each step is saved as done before the next is queued (``tasks.dsr_step``), so a request
whose worker stopped continues where it was, and a step run twice changes nothing more.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from typing import Any

from django.utils import timezone

from compliance.privacy import clickhouse, edge, hooks, locks, subjects
from compliance.privacy.export import export_clear, export_put
from compliance.privacy.models import DataSubjectRequest
from compliance.privacy.selectors import active_holds
from controlplane.audit.services import Actor, audit_record, snapshot
from controlplane.core.crypto import key_ring
from controlplane.core.tenancy import all_tenants_context, tenant_context
from controlplane.telemetry.isolation import reason
from edge.identifiers import Identifier, erase_text, parse_identifiers

logger = logging.getLogger(__name__)

DONE = "done"
SYSTEM = Actor.system("privacy")
ERASE_PASSES = 2
EXPORT_SPANS = 10000
# Tables searched in ClickHouse: spans and the rollups whose keys hold text.
SEARCHED = [table for table in clickhouse.TABLES if table.text]

State = DataSubjectRequest.State


def identifiers_of(dsr: DataSubjectRequest) -> list[Identifier]:
    return parse_identifiers(json.loads(key_ring().decrypt(dsr.identifiers_enc)))


def _held(dsr: DataSubjectRequest) -> list[uuid.UUID]:
    return sorted({h.agent_id for h in active_holds(dsr.tenant_id) if h.agent_id})


def _add(counts: dict[str, Any], store: str, more: dict[str, Any]) -> None:
    into = counts.setdefault(store, {})
    for key, value in more.items():
        if isinstance(value, dict):
            _add(into, key, value)
        else:
            into[key] = into.get(key, 0) + int(value)


def _save(dsr: DataSubjectRequest, *fields: str) -> None:
    with tenant_context(dsr.tenant_id):
        dsr.save(update_fields=["steps", "updated_at", *fields])


def transition(dsr: DataSubjectRequest, state: str, actor: Actor, *fields: str) -> None:
    """Move ``dsr`` to ``state``, saving ``fields`` too, audited (masked subject only)."""
    with tenant_context(dsr.tenant_id):
        before = snapshot(dsr)
        dsr.state = state
        dsr.save(update_fields=["state", "steps", "updated_at", *fields])
        audit_record(
            actor=actor,
            action=f"privacy.dsr.{state}",
            target=dsr,
            tenant_id=dsr.tenant_id,
            before=before,
            after=snapshot(dsr),
        )


# --- finding -------------------------------------------------------------------------------


def _find_postgres(dsr: DataSubjectRequest, ids: list[Identifier]) -> None:
    counts, rows = subjects.find(dsr.tenant_id, ids, rows=True)
    dsr.found["postgres"] = counts
    export_put(dsr, "postgres.json", rows)


def _find_clickhouse(dsr: DataSubjectRequest, ids: list[Identifier]) -> None:
    dsr.found["clickhouse"] = {
        table.name: clickhouse.matching_rows(table.name, dsr.tenant_id, ids) for table in SEARCHED
    }
    spans = clickhouse.matching_spans(dsr.tenant_id, ids, limit=EXPORT_SPANS)
    export_put(dsr, "clickhouse.json", {"spans": spans, "rows_per_table": dsr.found["clickhouse"]})


def _find_edge(node: Any) -> Callable[[DataSubjectRequest, list[Identifier]], None]:
    def step(dsr: DataSubjectRequest, ids: list[Identifier]) -> None:
        found = edge.find(node, ids)
        dsr.found.setdefault("edge", {})[node.name] = {
            "spool_records": found["spool"]["records"],
            "cache_entries": found["cache"]["entries"],
        }
        export_put(dsr, f"edge/{node.name}.json", found["spool"]["found"])

    return step


def _find_evidence(dsr: DataSubjectRequest, ids: list[Identifier]) -> None:
    found = hooks.evidence_find(dsr.tenant_id, ids)
    dsr.found["evidence"] = {"records": found["count"], "records_legacy": found["legacy"]}
    export_put(dsr, "evidence.json", found["records"])


def _manifest(dsr: DataSubjectRequest, ids: list[Identifier]) -> None:
    export_put(
        dsr,
        "manifest.json",
        {
            "request": str(dsr.pk),
            "tenant": str(dsr.tenant_id),
            "identifiers": [i.as_dict() for i in ids],
            "generated_at": timezone.now(),
            "found": dsr.found,
            "limits": f"at most {EXPORT_SPANS} spans, and {edge.EXPORT_LIMIT} spool records "
            "per edge node, are in the files; the counts are complete",
        },
    )
    transition(dsr, State.FOUND, SYSTEM, "found", "export_enc", "export_sha256", "export_bytes")


# --- erasing ---------------------------------------------------------------------------------


def _erase_edge(node: Any) -> Callable[[DataSubjectRequest, list[Identifier]], None]:
    def step(dsr: DataSubjectRequest, ids: list[Identifier]) -> None:
        done = edge.erase(node, ids, _held(dsr))
        _add(
            dsr.erased,
            "edge",
            {
                node.name: {
                    "spool_records": done["spool"]["records_erased"],
                    "cache_entries": done["cache"]["entries_dropped"],
                    "kept_under_hold": done["spool"]["kept_under_hold"],
                }
            },
        )

    return step


def _erase_clickhouse(dsr: DataSubjectRequest, ids: list[Identifier]) -> None:
    held = _held(dsr)
    traces = clickhouse.matching_traces(dsr.tenant_id, ids, held)
    erased = {"spans": clickhouse.spans_of_traces(dsr.tenant_id, traces) if traces else 0}
    if traces:
        clickhouse.erase_traces(dsr.tenant_id, traces, ids)
    for table in SEARCHED:
        if table is clickhouse.SPANS:
            continue
        if held and not table.per_agent:
            continue
        erased[table.name] = clickhouse.matching_rows(table.name, dsr.tenant_id, ids, held)
        if erased[table.name]:
            clickhouse.delete_matching(table.name, dsr.tenant_id, ids, held)
    _add(dsr.erased, "clickhouse", erased)


def _erase_postgres(dsr: DataSubjectRequest, ids: list[Identifier]) -> None:
    _add(dsr.erased, "postgres", subjects.erase(dsr.tenant_id, ids, _held(dsr)))


def _erase_evidence(dsr: DataSubjectRequest, ids: list[Identifier]) -> None:
    _add(dsr.erased, "evidence", hooks.evidence_erase(dsr.tenant_id, ids, _held(dsr), dsr.pk))


def _erase_audit(dsr: DataSubjectRequest, ids: list[Identifier]) -> None:
    _add(dsr.erased, "postgres", subjects.erase_audit(dsr, ids, SYSTEM))


def search(dsr: DataSubjectRequest, ids: list[Identifier]) -> dict[str, Any]:
    """What every store still holds of the person (held agents' data left out, and the
    audit entries that cannot be blanked counted apart)."""
    held = _held(dsr)
    counts, _ = subjects.find(dsr.tenant_id, ids, held)
    found: dict[str, Any] = {"postgres": counts}
    found["clickhouse"] = {
        table.name: clickhouse.matching_rows(table.name, dsr.tenant_id, ids, held)
        for table in SEARCHED
        if table.per_agent or not held
    }
    found["edge"] = {}
    for node in edge.nodes(dsr.tenant_id):
        result = edge.find(node, ids, held)
        found["edge"][node.name] = {
            "spool_records": result["spool"]["records"],
            "cache_entries": result["cache"]["entries"],
        }
    evidence = hooks.evidence_find(dsr.tenant_id, ids)
    found["evidence"] = {"records": evidence["count"], "records_legacy": evidence["legacy"]}
    return found


def _total(counts: dict[str, Any]) -> int:
    return sum(
        _total(value) if isinstance(value, dict) else int(value)
        for key, value in counts.items()
        if not key.endswith("_legacy")
    )


def _verify(dsr: DataSubjectRequest, ids: list[Identifier]) -> None:
    dsr.remaining = search(dsr, ids)
    if _total(dsr.remaining):
        if dsr.erase_attempts + 1 < ERASE_PASSES:  # erase_attempts: the passes made again
            dsr.erase_attempts += 1
            dsr.steps = {k: v for k, v in dsr.steps.items() if k.startswith("find:")}
            _save(dsr, "remaining", "erase_attempts", "erased")
            return
        dsr.error = "still found after erasing twice: see what remains"
        transition(dsr, State.FAILED, SYSTEM, "remaining", "error", "erased")
        return
    dsr.identifiers_enc = ""
    dsr.reason = erase_text(ids, dsr.reason)
    dsr.verification_note = erase_text(ids, dsr.verification_note)
    export_clear(dsr)
    dsr.completed_at = timezone.now()
    fields = ("remaining", "erased", "identifiers_enc", "reason", "verification_note")
    transition(dsr, State.ERASED, SYSTEM, *fields, "export_enc", "export_bytes", "completed_at")


# --- the plan ----------------------------------------------------------------------------------

Step = Callable[[DataSubjectRequest, list[Identifier]], None]


def plan(dsr: DataSubjectRequest) -> list[tuple[str, Step]]:
    nodes = edge.nodes(dsr.tenant_id)
    if dsr.state == State.SEARCHING:
        return [
            ("find:postgres", _find_postgres),
            ("find:clickhouse", _find_clickhouse),
            *((f"find:edge:{node.pk}", _find_edge(node)) for node in nodes),
            ("find:evidence", _find_evidence),
            ("find:manifest", _manifest),
        ]
    if dsr.state == State.ERASING:
        return [
            *((f"erase:edge:{node.pk}", _erase_edge(node)) for node in nodes),
            ("erase:clickhouse", _erase_clickhouse),
            ("erase:postgres", _erase_postgres),
            ("erase:evidence", _erase_evidence),
            ("erase:audit", _erase_audit),
            ("verify", _verify),
        ]
    return []


def advance(dsr_id: uuid.UUID) -> bool:
    """Do the request's next step; True while steps remain (the caller queues the next).
    A failed step fails the request, with the store's error; ``retry`` resumes it. False
    without doing anything while another worker is at the request."""
    with locks.held("data-subject-request", dsr_id) as mine:
        return mine and _advance(dsr_id)


def _advance(dsr_id: uuid.UUID) -> bool:
    with all_tenants_context():
        dsr = DataSubjectRequest.unscoped.get(pk=dsr_id)
    pending = [(name, step) for name, step in plan(dsr) if dsr.steps.get(name) != DONE]
    if not pending:
        return False
    name, step = pending[0]
    try:
        step(dsr, identifiers_of(dsr))
    except Exception as error:  # every failure is shown on the request, whatever its kind
        logger.exception("step %s of data-subject request %s failed", name, dsr.pk)
        dsr.steps[name] = f"failed: {reason(error)}"
        dsr.error = f"{name}: {reason(error)}"
        transition(dsr, State.FAILED, SYSTEM, "error")
        return False
    if not (name == "verify" and dsr.state == State.ERASING):  # not when erasing again
        dsr.steps[name] = DONE
    _save(dsr, "found", "erased", "export_enc", "export_sha256", "export_bytes")
    return dsr.state in (State.SEARCHING, State.ERASING)

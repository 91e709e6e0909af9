"""A data subject in the compliance evidence: finding a person's identifiers in a
tenant's evidence records and erasing them (docs/privacy.md, "Evidence";
docs/decisions/0045-erasable-evidence.md). Registered with ``compliance.privacy.hooks``
by the app's ``ready``.

Only a record's personal parts are searched and rewritten: its summary, metrics, failing
entities and population rows (``compliance.evidence.personal_parts``). Records of format
1 cannot be rewritten (their hash covers those values): they are found and exported,
counted apart as ``legacy``, and kept. The MSP's own chain is not a tenant's data and is
not searched.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from django.db import connection, transaction
from django.db.models import Q, QuerySet, TextField
from django.db.models.functions import Cast

from compliance.evidence import (
    ERASURE_ACTION,
    FORMAT_VERSION,
    erased_parts,
    personal_parts,
    sha256_of,
)
from compliance.models import EvidenceChainHead, EvidenceRecord
from compliance.privacy.subjects import pattern
from controlplane.audit.services import Actor, audit_record
from controlplane.core.tenancy import tenant_context
from edge.identifiers import Identifier, erase_json

SYSTEM = Actor.system("privacy")


def _matching(tenant_id: uuid.UUID, identifiers: Sequence[Identifier]) -> QuerySet[Any]:
    found = pattern(identifiers)
    records = EvidenceRecord.unscoped.filter(tenant_id=tenant_id).annotate(
        metrics_text=Cast("metrics", TextField()),
        failing_text=Cast("failing_entities", TextField()),
        population_text=Cast("population", TextField()),
    )
    return records.filter(
        Q(summary__regex=found)
        | Q(metrics_text__regex=found)
        | Q(failing_text__regex=found)
        | Q(population_text__regex=found)
    ).order_by("seq")


def _naming(record: EvidenceRecord, identifiers: list[Identifier]) -> dict[str, Any]:
    """The record's personal parts that hold an identifier, by name."""
    return {
        name: value
        for name, value in personal_parts(record).items()
        if erase_json(identifiers, value) != value
    }


def evidence_find(tenant_id: uuid.UUID, identifiers: Sequence[Identifier]) -> dict[str, Any]:
    """The tenant's evidence records naming the person: how many can be erased
    (``count``), how many cannot (``legacy``, format 1), and for the export each
    record's identity with only the parts that name the person."""
    ids = list(identifiers)
    count = legacy = 0
    records = []
    with tenant_context(tenant_id):
        for record in _matching(tenant_id, ids):
            parts = _naming(record, ids)
            if not parts:
                continue
            if record.format_version >= FORMAT_VERSION:
                count += 1
            else:
                legacy += 1
            records.append(
                {
                    "id": record.pk,
                    "seq": record.seq,
                    "control_code": record.control_code,
                    "test_key": record.test_key,
                    "recorded_at": record.recorded_at,
                    "period_start": record.period_start,
                    "period_end": record.period_end,
                    "parts": parts,
                }
            )
    return {"count": count, "legacy": legacy, "records": records}


def _rewrite(record: EvidenceRecord, identifiers: list[Identifier]) -> dict[str, list[str]]:
    """Replace the identifiers in the record's personal parts (in memory); its erased
    parts afterwards, each with its digest as written and its digest now."""
    erased = erased_parts(record)
    for name, value in _naming(record, identifiers).items():
        new = erase_json(identifiers, value)
        erased[name] = [erased[name][0] if name in erased else sha256_of(value), sha256_of(new)]
        field, _, index = name.partition(".")
        if index:
            getattr(record, field)[int(index)] = new
        else:
            setattr(record, field, new)
    return erased


def evidence_erase(
    tenant_id: uuid.UUID,
    identifiers: Sequence[Identifier],
    held_agents: Sequence[uuid.UUID],
    request_id: uuid.UUID,
) -> dict[str, int]:
    """Replace the person's identifiers with the tombstone in the tenant's evidence
    records of format 2: the one path that rewrites evidence. In one transaction: the
    records are locked, an audit entry (``compliance.evidence_erased``) records each one
    with the SHA-256 of its erased parts, and the trigger lets exactly those columns
    change (``controlplane.evidence_erasure`` on). ``verify_evidence`` checks each erased
    record against that entry. Agent holds do not keep evidence from an erasure: a
    record is about the tenant's control, and the person is not an agent's data."""
    del held_agents
    ids = list(identifiers)
    with tenant_context(tenant_id), transaction.atomic():
        records = list(
            _matching(tenant_id, ids)
            .filter(format_version__gte=FORMAT_VERSION)
            .select_for_update(of=("self",))
        )
        rewritten = {record: _rewrite(record, ids) for record in records}
        rewritten = {record: parts for record, parts in rewritten.items() if parts}
        if not rewritten:
            return {"compliance_evidencerecord": 0}
        entry = audit_record(
            actor=SYSTEM,
            action=ERASURE_ACTION,
            target=EvidenceChainHead.unscoped.get(tenant_id=tenant_id),
            tenant_id=tenant_id,
            after={
                "request": request_id,
                "records": {str(r.pk): sha256_of(parts) for r, parts in rewritten.items()},
            },
        )
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('controlplane.evidence_erasure', 'on', true)")
        for record, parts in rewritten.items():
            record.erasure = {"by": entry.seq, "request": str(request_id), "parts": parts}
            record.save(
                update_fields=["summary", "metrics", "failing_entities", "population", "erasure"]
            )
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('controlplane.evidence_erasure', 'off', true)")
    return {"compliance_evidencerecord": len(rewritten)}

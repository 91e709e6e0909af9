"""Writing and verifying evidence: canonical JSON, SHA-256, one hash chain per tenant.

An evidence record's ``hash`` is the SHA-256 of the canonical JSON (sorted keys, no
spaces, UTF-8) of every field that says what was found, ``data_sha256`` (itself the
SHA-256 of the canonical JSON of the population) and the previous record's hash. Each
tenant has its own chain, and the MSP's own evidence one more (``tenant`` empty), so a
tenant's evidence can be handed over and verified without anyone else's.

``evidence_verify`` walks every chain and names the first record that was altered,
removed or reordered, as ``verify_audit_log`` does for the audit trail.

``evidence_dispose`` is the one way records leave the database (retention): the oldest of
a chain, with the chain's floor moved to the last of them in the same transaction
(docs/decisions/0044-evidence-disposal.md).

Records of format 2 hash the parts that may name a person (``summary``, ``metrics``, each
failing entity and each population row) one by one into ``personal_sha256``, which the
record's hash covers instead of the values, so that a data subject's erasure
(``compliance.subjects.evidence_erase``) can replace the person's identifiers and the
chain still verifies (docs/decisions/0045-erasable-evidence.md). Format 1 records (written
before) hash the values themselves and cannot be erased.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, connection, transaction

from compliance.models import EvidenceChainHead, EvidenceRecord, EvidenceStaleNotice
from compliance.models.evidence import GENESIS_HASH
from controlplane.audit.models import AuditEvent
from controlplane.audit.services import Actor, _json_safe, audit_record
from controlplane.core.tenancy import all_tenants_context
from tenants.models import Tenant


def json_safe(value: Any) -> Any:
    """``value`` as JSON the database stores and gives back unchanged: UUIDs, times and
    decimals as text, floats rounded to 6 places, sets sorted."""
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return _json_safe(value)


def canonical(value: Any) -> bytes:
    """The one byte form of a JSON value that every hash here is taken of."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sha256_of(value: Any) -> str:
    return hashlib.sha256(canonical(value)).hexdigest()


FORMAT_VERSION = 2
"""Records' format: 1 hashed the personal parts themselves, 2 hashes their digests."""
ERASURE_ACTION = "compliance.evidence_erased"
"""The audit entry of an erasure of evidence: ``after["records"]`` maps each record it
rewrote to the SHA-256 of the record's ``erasure["parts"]``."""


def personal_parts(record: EvidenceRecord) -> dict[str, Any]:
    """The parts of a record that may name a person, by name: ``summary``, ``metrics``,
    ``failing_entities.<i>``, ``population.<i>``."""
    parts: dict[str, Any] = {"summary": record.summary, "metrics": record.metrics}
    for field in ("failing_entities", "population"):
        parts |= {f"{field}.{i}": row for i, row in enumerate(getattr(record, field))}
    return parts


def erased_parts(record: EvidenceRecord) -> dict[str, list[str]]:
    """The parts an erasure rewrote: name → [SHA-256 as written, SHA-256 now]."""
    parts = record.erasure.get("parts") if isinstance(record.erasure, dict) else None
    if not isinstance(parts, dict):
        return {}
    return {k: v for k, v in parts.items() if isinstance(v, list) and len(v) == 2}


def personal_digest(record: EvidenceRecord) -> str:
    """SHA-256 of every personal part's SHA-256 as it was written (an erased part's is
    kept by its erasure)."""
    erased = erased_parts(record)
    return sha256_of(
        {
            name: str(erased[name][0]) if name in erased else sha256_of(value)
            for name, value in personal_parts(record).items()
        }
    )


def _time(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat()


def record_hash(record: EvidenceRecord) -> str:
    """The hash of ``record``: its content and ``prev_hash``, not its own ``hash``."""
    payload = {
        "tenant_id": str(record.tenant_id) if record.tenant_id else None,
        "seq": record.seq,
        "control_id": str(record.control_id),
        "control_test_id": str(record.control_test_id),
        "test_run_id": str(record.test_run_id) if record.test_run_id else None,
        "control_code": record.control_code,
        "test_key": record.test_key,
        "test_version": record.test_version,
        "catalog_version": record.catalog_version,
        "recorded_at": _time(record.recorded_at),
        "period_start": _time(record.period_start),
        "period_end": _time(record.period_end),
        "valid_until": _time(record.valid_until),
        "result": record.result,
        "summary": record.summary,
        "query_text": record.query_text,
        "query_params": record.query_params,
        "population_count": record.population_count,
        "failing_count": record.failing_count,
        "failing_entities": record.failing_entities,
        "metrics": record.metrics,
        "data_sha256": record.data_sha256,
        "exception_id": str(record.exception_id) if record.exception_id else None,
        "prev_hash": record.prev_hash,
    }
    if record.format_version >= 2:
        for name in ("summary", "failing_entities", "metrics"):
            del payload[name]
        payload |= {
            "format_version": record.format_version,
            "personal_sha256": record.personal_sha256,
        }
    return sha256_of(payload)


def _locked_head(tenant_id: uuid.UUID | None) -> EvidenceChainHead:
    """The chain's head row, created on first use, locked until the transaction ends."""
    heads = EvidenceChainHead.unscoped.select_for_update()
    head = heads.filter(tenant_id=tenant_id).first()
    if head is not None:
        return head
    try:
        with transaction.atomic():
            EvidenceChainHead.unscoped.create(tenant_id=tenant_id)
    except IntegrityError:  # another writer made it first
        pass
    return heads.get(tenant_id=tenant_id)


def evidence_append(record: EvidenceRecord) -> EvidenceRecord:
    """Chain and insert ``record`` (every field but ``seq``, ``prev_hash`` and ``hash``
    filled in), in the caller's transaction, under the tenant's own context or the
    MSP's (``all_tenants_context``) for MSP evidence."""
    record.population = json_safe(record.population)
    record.failing_entities = json_safe(record.failing_entities)
    record.metrics = json_safe(record.metrics)
    record.query_params = json_safe(record.query_params)
    record.failing_count = len(record.failing_entities)
    record.data_sha256 = sha256_of(record.population)
    record.format_version = FORMAT_VERSION
    record.erasure = None
    record.personal_sha256 = personal_digest(record)
    with transaction.atomic():
        head = _locked_head(record.tenant_id)
        record.seq = head.seq + 1
        record.prev_hash = head.hash
        record.hash = record_hash(record)
        record.save(force_insert=True)
        head.seq = record.seq
        head.hash = record.hash
        head.save(update_fields=["seq", "hash"])
    return record


@dataclass(frozen=True)
class Disposal:
    """What one disposal removed: records, and the stale notices about them; the chain
    now starts after ``floor_seq``."""

    records: int
    notices: int
    floor_seq: int


class DisposalRefused(Exception):
    """The records to dispose of do not verify: removing them would hide it."""


def evidence_dispose(*, tenant_id: uuid.UUID, before: dt.datetime, actor: Actor) -> Disposal:
    """Remove the oldest records of the tenant's chain: from its floor up to (not
    including) the first record recorded at or after ``before``, so what stays is one
    chain without gaps. In one transaction, under the head's lock (nothing is appended
    meanwhile): the records are verified first (``DisposalRefused`` if one was altered:
    disposing would hide it), the floor moves to the last of them, the trigger lets
    exactly those rows go (``controlplane.evidence_disposal`` on, rows at or under the
    floor), and the audit trail records it. Run in the tenant's context."""
    with transaction.atomic():
        head = _locked_head(tenant_id)
        old_seq, old_hash = head.floor_seq, head.floor_hash
        chain = EvidenceRecord.unscoped.filter(tenant_id=tenant_id, seq__gt=old_seq)
        kept = chain.filter(recorded_at__gte=before).order_by("seq").values_list("seq", flat=True)
        last = (kept.first() or head.seq + 1) - 1
        if last <= old_seq:
            return Disposal(0, 0, old_seq)
        gone = chain.filter(seq__lte=last)
        prev_hash, expected = old_hash, old_seq + 1
        erasures = _erasures(tenant_id)
        for record in gone.order_by("seq").iterator(chunk_size=500):
            problem = _record_problem(record, expected, prev_hash, erasures)
            if record.seq != expected or problem:
                raise DisposalRefused(f"evidence #{expected} {problem or 'is missing'}")
            prev_hash, expected = record.hash, expected + 1
        if expected <= last:
            raise DisposalRefused(f"evidence #{expected} is missing")
        head.floor_seq, head.floor_hash = last, prev_hash
        head.save(update_fields=["floor_seq", "floor_hash"])
        notices, _ = EvidenceStaleNotice.unscoped.filter(evidence__in=gone).delete()
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('controlplane.evidence_disposal', 'on', true)")
            cursor.execute(
                "DELETE FROM compliance_evidencerecord WHERE tenant_id = %s AND seq > %s "
                "AND seq <= %s",
                [tenant_id, old_seq, last],
            )
            records = cursor.rowcount
            cursor.execute("SELECT set_config('controlplane.evidence_disposal', 'off', true)")
        audit_record(
            actor=actor,
            action="compliance.evidence_disposed",
            target=head,
            tenant_id=tenant_id,
            before={"floor_seq": old_seq, "floor_hash": old_hash},
            after={
                "floor_seq": last,
                "floor_hash": prev_hash,
                "records": records,
                "recorded_before": before,
            },
        )
    return Disposal(records, notices, last)


@dataclass(frozen=True)
class ChainProblem:
    """The first thing wrong with one chain: which record (by position and id), and what."""

    chain: str
    seq: int
    record_id: uuid.UUID | None
    problem: str

    def __str__(self) -> str:
        named = f" (id {self.record_id})" if self.record_id else ""
        return f"{self.chain}: evidence #{self.seq}{named} {self.problem}"


@dataclass(frozen=True)
class EvidenceVerification:
    ok: bool
    chains: int
    checked: int
    problems: list[ChainProblem]


def _chain_name(tenant_id: uuid.UUID | None, slugs: dict[uuid.UUID, str]) -> str:
    if tenant_id is None:
        return "MSP chain"
    return f"tenant {slugs.get(tenant_id, str(tenant_id))}"


def _records(tenant_id: uuid.UUID | None, after: int) -> Iterator[EvidenceRecord]:
    rows = EvidenceRecord.unscoped.filter(tenant_id=tenant_id, seq__gt=after)
    return rows.order_by("seq").iterator(chunk_size=500)


def _erasures(tenant_id: uuid.UUID | None) -> dict[int, dict[str, str]]:
    """The chain's recorded erasures: audit seq → {record id: SHA-256 of its parts}."""
    entries = AuditEvent.unscoped.filter(action=ERASURE_ACTION, tenant_id=tenant_id)
    return {
        seq: dict((after or {}).get("records") or {})
        for seq, after in entries.values_list("seq", "after")
    }


def _erasure_problem(record: EvidenceRecord, erasures: dict[int, dict[str, str]]) -> str | None:
    """Why an erased record's erasure does not hold, if it does not: it must be the one
    its audit entry recorded, and each rewritten part what that erasure left."""
    erasure = record.erasure if isinstance(record.erasure, dict) else {}
    by = erasure.get("by")
    recorded = erasures.get(by, {}) if isinstance(by, int) else {}
    if recorded.get(str(record.pk)) != sha256_of(erasure.get("parts")):
        return f"was erased without a recorded erasure ({record.control_code})"
    current = personal_parts(record)
    for name, (_, now) in erased_parts(record).items():
        if name not in current or sha256_of(current[name]) != now:
            return f"was altered after its erasure: {name} ({record.control_code})"
    return None


def _record_problem(
    record: EvidenceRecord,
    expected_seq: int,
    prev_hash: str,
    erasures: dict[int, dict[str, str]],
) -> str | None:
    if record.seq != expected_seq:
        return None  # reported by the caller as a gap
    if record.prev_hash != prev_hash:
        return f"does not link to evidence #{record.seq - 1}"
    if record.erasure is not None:
        problem = _erasure_problem(record, erasures)
        if problem:
            return problem
    population_erased = any(name.startswith("population.") for name in erased_parts(record))
    if not population_erased and sha256_of(record.population) != record.data_sha256:
        return (
            f"was altered: its population no longer matches its data_sha256 ({record.control_code})"
        )
    if record.format_version >= 2 and personal_digest(record) != record.personal_sha256:
        return (
            "was altered: its summary, metrics, failing entities or population no longer "
            f"match its personal_sha256 ({record.control_code})"
        )
    if record_hash(record) != record.hash:
        return f"was altered: its content no longer matches its hash ({record.control_code})"
    return None


def _verify_chain(
    tenant_id: uuid.UUID | None, head: EvidenceChainHead | None, name: str
) -> tuple[int, ChainProblem | None]:
    floor_seq = head.floor_seq if head else 0
    expected_seq = floor_seq + 1
    prev_hash = head.floor_hash if head else GENESIS_HASH
    checked = 0
    erasures = _erasures(tenant_id)
    for record in _records(tenant_id, floor_seq):
        if record.seq != expected_seq:
            return checked, ChainProblem(
                name,
                expected_seq,
                None,
                f"is missing: the chain jumps from #{expected_seq - 1} to #{record.seq}",
            )
        problem = _record_problem(record, expected_seq, prev_hash, erasures)
        if problem:
            return checked, ChainProblem(name, record.seq, record.pk, problem)
        checked += 1
        prev_hash = record.hash
        expected_seq += 1
    head_seq = head.seq if head else floor_seq
    last_seq = expected_seq - 1
    if head_seq != last_seq:
        return checked, ChainProblem(
            name,
            last_seq + 1,
            None,
            f"to #{head_seq} are missing from the end of the chain",
        )
    if head is not None and head.hash != prev_hash:
        return checked, ChainProblem(name, head_seq, None, "does not match the chain head")
    return checked, None


def evidence_verify(*, tenant: Tenant | None = None) -> EvidenceVerification:
    """Walk every chain (or ``tenant``'s only); report the first problem of each."""
    with all_tenants_context():
        slugs = dict(Tenant.objects.values_list("pk", "slug"))
        heads = {h.tenant_id: h for h in EvidenceChainHead.unscoped.all()}
        tenant_ids: set[uuid.UUID | None] = set(heads)
        tenant_ids |= set(EvidenceRecord.unscoped.values_list("tenant_id", flat=True).distinct())
        if tenant is not None:
            tenant_ids = {tenant.pk}
        problems: list[ChainProblem] = []
        checked = 0
        for tenant_id in sorted(tenant_ids, key=lambda t: (t is not None, str(t))):
            count, problem = _verify_chain(
                tenant_id, heads.get(tenant_id), _chain_name(tenant_id, slugs)
            )
            checked += count
            if problem:
                problems.append(problem)
    return EvidenceVerification(
        ok=not problems, chains=len(tenant_ids), checked=checked, problems=problems
    )

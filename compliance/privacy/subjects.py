"""A data subject in PostgreSQL: finding and erasing one person's identifiers in the
usage ledger, the dead letters, security alerts (titles, evidence, notes, what false
positives taught) and the audit trail. Searches run in the database with the pattern of
``edge.identifiers``; the few rows found are rewritten in Python with the same one."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from django.db import connection, transaction
from django.db.models import Q, QuerySet, TextField
from django.db.models.functions import Cast

from compliance.privacy.models import DataSubjectRequest
from controlplane.agents.models import EdgeNode
from controlplane.audit.models import AuditEvent
from controlplane.audit.services import ERASURE_ACTION, Actor, audit_erase, audit_record
from controlplane.core.tenancy import tenant_context
from controlplane.security.models import AcceptedBehaviour, Alert, Note
from controlplane.telemetry.models import DeadLetter
from edge.identifiers import REPLACEMENT, Identifier, any_match, erase_json, erase_text


def pattern(identifiers: Sequence[Identifier]) -> str:
    """One pattern that finds any of the identifiers (for searching, not replacing)."""
    return "(?i)" + "|".join(f"(?:{i.pattern.removeprefix('(?i)')})" for i in identifiers)


def _ledger_where(held: Sequence[uuid.UUID]) -> str:
    return "tenant_id = %s AND (name ~ %s OR tool ~ %s)" + (
        " AND NOT (agent_id = ANY(%s))" if held else ""
    )


def _ledger_params(
    tenant_id: uuid.UUID, identifiers: Sequence[Identifier], held: Sequence[uuid.UUID]
) -> list[Any]:
    found = pattern(identifiers)
    return [tenant_id, found, found, *([list(held)] if held else [])]


def _alerts(identifiers: Sequence[Identifier], held: Sequence[uuid.UUID]) -> QuerySet[Alert]:
    found = pattern(identifiers)
    alerts = Alert.objects.annotate(text=Cast("evidence", TextField())).filter(
        Q(title__regex=found) | Q(text__regex=found)
    )
    return alerts.exclude(agent_ids__overlap=list(held)) if held else alerts


def _notes(identifiers: Sequence[Identifier], held: Sequence[uuid.UUID]) -> QuerySet[Note]:
    notes = Note.objects.filter(text__regex=pattern(identifiers))
    return notes.exclude(alert__agent_ids__overlap=list(held)) if held else notes


def _learned(
    identifiers: Sequence[Identifier], held: Sequence[uuid.UUID]
) -> QuerySet[AcceptedBehaviour]:
    learned = AcceptedBehaviour.objects.filter(item__regex=pattern(identifiers))
    return learned.exclude(agent_id__in=held) if held else learned


def _audit(identifiers: Sequence[Identifier]) -> QuerySet[AuditEvent]:
    found = pattern(identifiers)
    return AuditEvent.objects.annotate(
        before_text=Cast("before", TextField()), after_text=Cast("after", TextField())
    ).filter(
        Q(actor_label__regex=found)
        | Q(target_label__regex=found)
        | Q(before_text__regex=found)
        | Q(after_text__regex=found)
    )


def _dead_letters(identifiers: Sequence[Identifier], held: Sequence[uuid.UUID]) -> list[DeadLetter]:
    held_ids = {str(agent) for agent in held}
    found = []
    for letter in DeadLetter.objects.order_by("created_at").iterator():
        text = bytes(letter.raw).decode("utf-8", "replace")
        if any_match(list(identifiers), text) and not any(a in text for a in held_ids):
            found.append(letter)
    return found


def find(
    tenant_id: uuid.UUID,
    identifiers: Sequence[Identifier],
    held: Sequence[uuid.UUID] = (),
    *,
    rows: bool = False,
) -> tuple[dict[str, int], dict[str, list[Any]]]:
    """Counts per table of the tenant's rows holding an identifier (held agents' left
    out), and with ``rows`` the rows themselves, for the export."""
    with tenant_context(tenant_id), connection.cursor() as cursor:
        cursor.execute(
            "SELECT event_id, occurred_at, agent_id, trace_id, span_id, kind, name, tool, "  # noqa: S608 (constant names)
            "provider, model, input_tokens, output_tokens, cost FROM telemetry_usageevent "
            f"WHERE {_ledger_where(held)} ORDER BY occurred_at",
            _ledger_params(tenant_id, identifiers, held),
        )
        columns = [column.name for column in cursor.description or []]
        ledger = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
        letters = _dead_letters(identifiers, held)
        alerts = list(
            _alerts(identifiers, held).values("id", "raised_at", "kind", "title", "evidence")
        )
        notes = list(
            _notes(identifiers, held).values("id", "alert_id", "incident_id", "at", "text")
        )
        learned = list(_learned(identifiers, held).values("id", "agent_id", "dimension", "item"))
        audit = list(
            _audit(identifiers).values(
                "seq",
                "occurred_at",
                "actor_label",
                "action",
                "target_label",
                "before",
                "after",
                "payload_sha256",
            )
        )
    found: dict[str, list[Any]] = {
        "telemetry_usageevent": ledger,
        "telemetry_deadletter": [
            {
                "id": d.pk,
                "created_at": d.created_at,
                "record": bytes(d.raw).decode("utf-8", "replace"),
            }
            for d in letters
        ],
        "security_alert": alerts,
        "security_note": notes,
        "security_acceptedbehaviour": learned,
        "audit_auditevent": audit,
    }
    counts = {table: len(items) for table, items in found.items()}
    # Entries from before payloads were hashed apart cannot be blanked (decision 0036).
    counts["audit_auditevent_legacy"] = sum(1 for entry in audit if not entry["payload_sha256"])
    counts["audit_auditevent"] -= counts["audit_auditevent_legacy"]
    return counts, (found if rows else {})


def erase(
    tenant_id: uuid.UUID, identifiers: Sequence[Identifier], held: Sequence[uuid.UUID]
) -> dict[str, int]:
    """Replace the identifiers in the tenant's ledger, alerts, notes and learned items
    with the tombstone, and delete the dead letters that hold them (whole records that
    never reached a store). Counts per table. The audit trail is ``erase_audit``'s."""
    ids = list(identifiers)
    erased: dict[str, int] = {}
    with tenant_context(tenant_id), transaction.atomic():
        with connection.cursor() as cursor:
            replaced = {
                column: f"regexp_replace(regexp_replace({column}, %s, %s, 'g'), %s, %s, 'g')"
                for column in ("name", "tool")
            }
            for identifier in ids:
                cursor.execute(
                    f"UPDATE telemetry_usageevent SET name = {replaced['name']}, "  # noqa: S608 (constant names)
                    f"tool = {replaced['tool']} WHERE {_ledger_where(held)}",
                    [
                        *([identifier.pattern, REPLACEMENT] * 4),
                        *_ledger_params(tenant_id, [identifier], held),
                    ],
                )
                erased["telemetry_usageevent"] = (
                    erased.get("telemetry_usageevent", 0) + cursor.rowcount
                )
        letters = _dead_letters(ids, held)
        nodes = {letter.edge_node_id for letter in letters}
        erased["telemetry_deadletter"] = DeadLetter.objects.filter(
            pk__in=[letter.pk for letter in letters]
        ).delete()[0]
        for node_id in nodes:
            EdgeNode.objects.filter(pk=node_id).update(
                dead_letter_count=DeadLetter.objects.filter(
                    edge_node_id=node_id, replayed_at__isnull=True
                ).count()
            )
        alerts = list(_alerts(ids, held))
        for alert in alerts:
            alert.title = erase_text(ids, alert.title)
            alert.evidence = erase_json(ids, alert.evidence)
            alert.save(update_fields=["title", "evidence"])
        erased["security_alert"] = len(alerts)
        notes = list(_notes(ids, held))
        for note in notes:
            note.text = erase_text(ids, note.text)
            note.save(update_fields=["text"])
        erased["security_note"] = len(notes)
        learned = list(_learned(ids, held))
        for behaviour in learned:
            behaviour.item = erase_text(ids, behaviour.item)
            behaviour.save(update_fields=["item"])
        erased["security_acceptedbehaviour"] = len(learned)
    return erased


def erase_audit(
    dsr: DataSubjectRequest, identifiers: Sequence[Identifier], actor: Actor
) -> dict[str, int]:
    """Blank the payloads of the tenant's audit entries holding an identifier, under an
    entry that records the erasure (decision 0036). Entries written before payloads
    were hashed apart cannot be blanked: counted as kept."""
    with tenant_context(dsr.tenant_id), transaction.atomic():
        entries = list(
            _audit(identifiers)
            .filter(erasure__isnull=True)
            .values_list("pk", "seq", "payload_sha256")
        )
        erasable = [(pk, seq) for pk, seq, digest in entries if digest]
        erasure = audit_record(
            actor=actor,
            action=ERASURE_ACTION,
            target=dsr,
            tenant_id=dsr.tenant_id,
            after={"audit_seqs": sorted(seq for _, seq in erasable), "request": str(dsr.pk)},
        )
        blanked = audit_erase(event_ids=[pk for pk, _ in erasable], erasure=erasure, dsr_id=dsr.pk)
    return {"audit_auditevent": blanked, "audit_auditevent_legacy": len(entries) - len(erasable)}

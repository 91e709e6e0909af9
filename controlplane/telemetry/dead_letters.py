"""Dead letters: the spool records no store would take, kept to be replayed after a fix
(docs/decisions/0014-poison-records.md).

The pull worker writes them (``dead_letters_record``) and goes on with the rest of the
batch; ``dead_letters_replay`` (``manage.py replay_dead_letters``) stores them again in
the store that refused them, once whatever refused them is fixed. Both are idempotent:
a retried batch writes the same dead letters again over the old ones, and a replay uses
``ON CONFLICT DO NOTHING`` in the ledger and a ClickHouse deduplication token per dead
letter.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from billing.pricing import PriceBook
from controlplane.agents.models import EdgeNode
from controlplane.core.tenancy import all_tenants_context, tenant_context
from controlplane.telemetry.isolation import analytics_refused, ledger_refused, reason
from controlplane.telemetry.ledger import ledger_insert
from controlplane.telemetry.models import DeadLetter
from controlplane.telemetry.records import build_batch, event_id_of
from controlplane.telemetry.spans import event_stored, spans_insert, spans_table
from tenants.models import Tenant


@dataclass(frozen=True)
class Refusal:
    """One spool line a store refused, and why."""

    line: bytes
    store: str
    reason: str


def dead_letters_record(*, node: EdgeNode, after: int, upto: int, refusals: list[Refusal]) -> None:
    """Keep ``refusals`` of the batch ``after..upto`` of ``node`` as dead letters (a
    retried batch overwrites its own), and count the node's open ones."""
    now = timezone.now()
    letters = [
        DeadLetter(
            tenant_id=node.tenant_id,
            edge_node_id=node.pk,
            event_id=event_id_of(refusal.line),
            raw=refusal.line,
            raw_sha256=hashlib.sha256(refusal.line).hexdigest(),
            store=refusal.store,
            reason=refusal.reason,
            batch_after=after,
            batch_upto=upto,
            last_attempt_at=now,
        )
        for refusal in refusals
    ]
    with tenant_context(node.tenant_id):
        DeadLetter.objects.bulk_create(
            letters,
            update_conflicts=True,
            unique_fields=["tenant", "edge_node", "raw_sha256", "store"],
            update_fields=["reason", "last_attempt_at"],
        )
        _count_open(node.pk)


@dataclass
class ReplayResult:
    replayed: int = 0
    still_refused: int = 0


def dead_letters_replay(
    *,
    tenant: Tenant | None = None,
    edge_node_id: uuid.UUID | None = None,
    letter_ids: list[uuid.UUID] | None = None,
) -> ReplayResult:
    """Store every open dead letter (of ``tenant``, ``edge_node_id`` or ``letter_ids``
    when given) again in the store that refused it; a line that was not a record goes
    to both. Stored ones are marked replayed; refused ones keep their place with the new
    reason. An error that is not about the data (a store is down) is raised."""
    with all_tenants_context():
        letters = DeadLetter.unscoped.filter(replayed_at__isnull=True).order_by("created_at")
        if tenant is not None:
            letters = letters.filter(tenant=tenant)
        if edge_node_id is not None:
            letters = letters.filter(edge_node_id=edge_node_id)
        if letter_ids is not None:
            letters = letters.filter(pk__in=letter_ids)
        chosen = list(letters)
        retention = dict(Tenant.objects.values_list("pk", "retention_days"))
        resident = frozenset(
            Tenant.objects.filter(body_residency=True).values_list("pk", flat=True)
        )
    prices = PriceBook.load()
    result = ReplayResult()
    for letter in chosen:
        with tenant_context(letter.tenant_id):
            failure = _replay(letter, prices, retention, resident)
            letter.attempts += 1
            letter.last_attempt_at = timezone.now()
            if failure is None:
                letter.replayed_at = letter.last_attempt_at
                result.replayed += 1
            else:
                letter.reason = failure
                result.still_refused += 1
            letter.save(update_fields=["attempts", "last_attempt_at", "replayed_at", "reason"])
    for tenant_id, node_id in {(letter.tenant_id, letter.edge_node_id) for letter in chosen}:
        with tenant_context(tenant_id):
            _count_open(node_id)
    return result


def _replay(
    letter: DeadLetter,
    prices: PriceBook,
    retention: dict[Any, int],
    resident: frozenset[uuid.UUID],
) -> str | None:
    """Store the letter's record where it is missing; the reason it is still refused,
    or None once stored."""
    batch = build_batch(
        [bytes(letter.raw)],
        prices=prices,
        retention_days=retention,
        tenant_id=letter.tenant_id,
        resident=resident,
    )
    if batch.rejected:
        return batch.rejected[0][1]
    if letter.store in (DeadLetter.Store.LEDGER, DeadLetter.Store.RECORD):
        try:
            with transaction.atomic():
                ledger_insert(batch.ledger)
        except Exception as exc:
            if not ledger_refused(exc):
                raise
            return reason(exc)
        if letter.store == DeadLetter.Store.RECORD:
            # In the ledger now: only ClickHouse is left, should it refuse.
            letter.store = DeadLetter.Store.ANALYTICS
            letter.save(update_fields=["store"])
    event_id = uuid.UUID(batch.spans["event_id"][0])
    if letter.store == DeadLetter.Store.ANALYTICS and not event_stored(letter.tenant_id, event_id):
        # Checked, not only left to the token: ClickHouse remembers tokens for the last
        # 10,000 inserts, and a replay may come much later.
        try:
            spans_insert(spans_table(batch.spans), dedup_token=f"dead-letter:{letter.pk}")
        except Exception as exc:
            if not analytics_refused(exc):
                raise
            return reason(exc)
    return None


def open_dead_letters(letters: QuerySet[DeadLetter]) -> QuerySet[DeadLetter]:
    """Of ``letters`` (a tenant's, from its scope), those not yet replayed, newest first."""
    return (
        letters.filter(replayed_at__isnull=True).select_related("edge_node").order_by("-created_at")
    )


def _count_open(node_id: uuid.UUID) -> None:
    open_count = DeadLetter.objects.filter(edge_node_id=node_id, replayed_at__isnull=True).count()
    EdgeNode.objects.filter(pk=node_id).update(dead_letter_count=open_count)

"""Writing and verifying the audit trail."""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import models, transaction
from django.http import HttpRequest
from django.utils import timezone

from controlplane.audit.models import AuditChainHead, AuditEvent
from controlplane.core.tenancy import all_tenants_context

if TYPE_CHECKING:
    from controlplane.accounts.models import User

GENESIS_HASH = "0" * 64


@dataclass(frozen=True)
class Actor:
    """Who makes a change: a person (from a request), an API token, or the system."""

    kind: str
    label: str
    user_id: uuid.UUID | None = None
    ip: str | None = None

    @classmethod
    def from_request(cls, request: HttpRequest) -> Actor:
        user = request.user
        ip = client_ip(request)
        if user.is_authenticated:
            kind = "api_token" if getattr(request, "auth", None) is not None else "user"
            return cls(kind=kind, label=str(user.email), user_id=user.pk, ip=ip)
        return cls(kind="anonymous", label="anonymous", ip=ip)

    @classmethod
    def for_user(cls, user: User, *, ip: str | None = None) -> Actor:
        return cls(kind="user", label=user.email, user_id=user.pk, ip=ip)

    @classmethod
    def system(cls, name: str) -> Actor:
        return cls(kind="system", label=name)


def client_ip(request: HttpRequest) -> str | None:
    """The client's address: the peer, or behind ``TRUSTED_PROXY_COUNT`` proxies, the
    entry of X-Forwarded-For that the outermost trusted proxy appended.

    Entries further left are written by the client and could be forged.
    """
    hops = settings.TRUSTED_PROXY_COUNT
    if hops:
        forwarded = [a.strip() for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        forwarded = [a for a in forwarded if a]
        if len(forwarded) >= hops:
            return forwarded[-hops]
    return request.META.get("REMOTE_ADDR") or None


def _json_safe(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, models.Model):
        return str(value.pk)
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [_json_safe(v) for v in value]
        return sorted(items, key=str) if isinstance(value, set | frozenset) else items
    return str(value)


def snapshot(instance: models.Model, fields: Iterable[str] | None = None) -> dict[str, Any]:
    """The audited fields of a model instance as JSON-safe values.

    A model lists its audited fields in ``AUDIT_FIELDS``; secrets never appear there.
    """
    names = fields if fields is not None else getattr(instance, "AUDIT_FIELDS", ())
    result: dict[str, Any] = {}
    for name in names:
        field = instance._meta.get_field(name)
        attname = getattr(field, "attname", name)
        result[name] = _json_safe(getattr(instance, attname))
    return result


def _canonical(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


# An entry's fields that may hold personal data: hashed through ``payload_sha256`` so
# that erasing a person can blank them without breaking the chain (decision 0036).
PERSONAL_FIELDS = ("actor_label", "ip", "target_label", "before", "after")
ERASED = "[erased]"
ERASURE_ACTION = "privacy.dsr.erased"


def payload_digest(event: AuditEvent) -> str:
    return hashlib.sha256(_canonical({f: getattr(event, f) for f in PERSONAL_FIELDS})).hexdigest()


def entry_hash(event: AuditEvent) -> str:
    payload: dict[str, Any] = {
        "seq": event.seq,
        "tenant_id": str(event.tenant_id) if event.tenant_id else None,
        "occurred_at": event.occurred_at.astimezone(dt.UTC).isoformat(),
        "actor_kind": event.actor_kind,
        "actor_id": str(event.actor_id) if event.actor_id else None,
        "action": event.action,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "prev_hash": event.prev_hash,
    }
    if event.payload_sha256:
        payload["payload_sha256"] = event.payload_sha256
    else:  # written before decision 0036: the personal fields themselves
        payload |= {f: getattr(event, f) for f in PERSONAL_FIELDS}
    return hashlib.sha256(_canonical(payload)).hexdigest()


def audit_record(
    *,
    actor: Actor,
    action: str,
    target: models.Model,
    tenant_id: uuid.UUID | None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one entry to the chain, in the caller's transaction.

    If the caller's transaction rolls back, the entry and the head move back with it,
    so the trail records exactly the changes that were committed.
    """
    label = str(target)[:254]
    with transaction.atomic(), all_tenants_context():
        head, _ = AuditChainHead.objects.select_for_update().get_or_create(pk=1)
        event = AuditEvent(
            seq=head.seq + 1,
            tenant_id=tenant_id,
            occurred_at=timezone.now(),
            actor_kind=actor.kind,
            actor_id=actor.user_id,
            actor_label=actor.label[:254],
            ip=actor.ip,
            action=action,
            target_type=target._meta.label_lower,
            target_id=str(target.pk),
            target_label=label,
            before=_json_safe(before) if before is not None else None,
            after=_json_safe(after) if after is not None else None,
            prev_hash=head.hash,
        )
        event.payload_sha256 = payload_digest(event)
        event.hash = entry_hash(event)
        event.save(force_insert=True)
        head.seq = event.seq
        head.hash = event.hash
        head.save(update_fields=["seq", "hash"])
    return event


@dataclass(frozen=True)
class VerificationResult:
    ok: bool
    checked: int
    problem: str | None = None
    seq: int | None = None


def _events_in_order() -> Iterator[AuditEvent]:
    return AuditEvent.unscoped.order_by("seq").iterator(chunk_size=2000)


def _erasures() -> dict[int, set[int]]:
    """The recorded erasures: their seq → the seqs of the entries they blanked."""
    return {
        seq: {int(x) for x in (after or {}).get("audit_seqs", [])}
        for seq, after in AuditEvent.unscoped.filter(action=ERASURE_ACTION).values_list(
            "seq", "after"
        )
    }


def _payload_problem(event: AuditEvent, erasures: dict[int, set[int]]) -> str | None:
    """Why the personal fields of ``event`` do not match its digest, if they do not."""
    if not event.payload_sha256:
        return None  # hashed with the entry itself
    if event.erasure is None:
        if payload_digest(event) != event.payload_sha256:
            return f"entry #{event.seq} was altered: its content no longer matches its hash"
        return None
    by = event.erasure.get("seq") if isinstance(event.erasure, dict) else None
    blank = all(
        getattr(event, f) == (ERASED if f.endswith("label") else None) for f in PERSONAL_FIELDS
    )
    if not blank or not isinstance(by, int) or event.seq not in erasures.get(by, set()):
        return f"entry #{event.seq} was blanked without a recorded erasure"
    return None


def audit_erase(*, event_ids: Iterable[uuid.UUID], erasure: AuditEvent, dsr_id: uuid.UUID) -> int:
    """Blank the personal fields of the entries (a data subject's erasure); ``erasure``
    is the entry recording it, whose ``after["audit_seqs"]`` lists them. Entries written
    before decision 0036 cannot be blanked and are left. Returns how many were blanked.
    """
    listed = {int(x) for x in (erasure.after or {}).get("audit_seqs", [])}
    with transaction.atomic(), all_tenants_context():
        return (
            AuditEvent.unscoped.filter(pk__in=list(event_ids), erasure__isnull=True, seq__in=listed)
            .exclude(payload_sha256="")
            .update(
                actor_label=ERASED,
                target_label=ERASED,
                ip=None,
                before=None,
                after=None,
                erasure={"seq": erasure.seq, "dsr": str(dsr_id)},
            )
        )


def audit_verify() -> VerificationResult:
    """Walk the chain; report the first edited, missing or reordered entry."""
    with all_tenants_context():
        head = AuditChainHead.objects.filter(pk=1).first()
        erasures = _erasures()
        expected_seq = 1
        prev_hash = GENESIS_HASH
        checked = 0
        for event in _events_in_order():
            if event.seq != expected_seq:
                missing = expected_seq if event.seq > expected_seq else event.seq
                return VerificationResult(
                    ok=False,
                    checked=checked,
                    seq=missing,
                    problem=f"entry #{missing} is missing: the chain jumps from "
                    f"#{expected_seq - 1} to #{event.seq}",
                )
            if event.prev_hash != prev_hash:
                return VerificationResult(
                    ok=False,
                    checked=checked,
                    seq=event.seq,
                    problem=f"entry #{event.seq} does not link to entry #{event.seq - 1}",
                )
            problem = _payload_problem(event, erasures)
            if problem is not None:
                return VerificationResult(ok=False, checked=checked, seq=event.seq, problem=problem)
            if entry_hash(event) != event.hash:
                return VerificationResult(
                    ok=False,
                    checked=checked,
                    seq=event.seq,
                    problem=f"entry #{event.seq} was altered: its content no longer matches "
                    "its hash",
                )
            checked += 1
            prev_hash = event.hash
            expected_seq += 1
        head_seq = head.seq if head else 0
        head_hash = head.hash if head else GENESIS_HASH
        if head_seq != checked:
            return VerificationResult(
                ok=False,
                checked=checked,
                seq=checked + 1,
                problem=f"entries #{checked + 1} to #{head_seq} are missing from the end "
                "of the chain",
            )
        if head_hash != prev_hash:
            return VerificationResult(
                ok=False,
                checked=checked,
                seq=head_seq,
                problem=f"entry #{head_seq} does not match the chain head",
            )
        return VerificationResult(ok=True, checked=checked)

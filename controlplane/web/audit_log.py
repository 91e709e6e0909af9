"""Filtering, keyset pagination, readable names and CSV export of audit log pages
(console and portal)."""

from __future__ import annotations

import csv
import json
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django.db.models import Model, Q, QuerySet
from django.http import HttpResponse
from django.utils import timezone

from controlplane.accounts.models import User
from controlplane.agents.models import Agent, Device, EdgeNode, Site
from controlplane.audit.models import AuditEvent
from controlplane.core.spreadsheet import safe_cell
from controlplane.gateway.models import Provider, Route
from controlplane.web.forms import AuditFilterForm
from tenants.models import Department, Membership, Tenant

PAGE_SIZE = 50
EXPORT_LIMIT = 50_000
# The objects an entry's target or changed values name by id, and how each is called.
NAMED: tuple[tuple[type[Model], str], ...] = (
    (Tenant, "name"),
    (Department, "name"),
    (Site, "name"),
    (EdgeNode, "name"),
    (Device, "name"),
    (Agent, "name"),
    (Provider, "name"),
    (Route, "name"),
    (User, "email"),
)


@dataclass(frozen=True)
class Value:
    """A before/after value as shown: ids become the names of what they name, the ids
    stay in ``title``."""

    raw: Any
    name: str = ""
    title: str = ""


@dataclass(frozen=True)
class AuditRow:
    event: AuditEvent
    object_name: str
    changes: list[tuple[str, Value, Value]]


@dataclass(frozen=True)
class AuditPage:
    form: AuditFilterForm
    entries: list[AuditRow]
    next_before: int | None
    is_first_page: bool


def _ids(value: Any) -> Iterator[uuid.UUID]:
    values = value if isinstance(value, list) else [value]
    for item in values:
        if isinstance(item, str) and len(item) == 36:
            try:
                yield uuid.UUID(item)
            except ValueError:
                continue


def object_names(events: Iterable[AuditEvent], tenant: Tenant | None) -> dict[str, str]:
    """The names of the objects ``events`` name by id (targets and changed values), as
    they are called now; within ``tenant`` when given (a portal page)."""
    wanted: set[uuid.UUID] = set()
    for event in events:
        wanted.update(_ids(event.target_id))
        for _, before, after in event.changed_fields:
            wanted.update(_ids(before))
            wanted.update(_ids(after))
    names: dict[str, str] = {}
    for model, field in NAMED:
        if not wanted:
            break
        rows = _visible(model, tenant).filter(pk__in=wanted)
        for pk, name in rows.values_list("pk", field):
            names[str(pk)] = str(name)
            wanted.discard(pk)
    return names


def _visible(model: type[Model], tenant: Tenant | None) -> QuerySet[Any]:
    """``model``'s rows a page of ``tenant`` may name (every row for the console)."""
    if model is Tenant:
        rows = Tenant.objects.all()
        return rows if tenant is None else rows.filter(pk=tenant.pk)
    if model is User:
        people = User.objects.all()
        if tenant is None:
            return people
        return people.filter(pk__in=Membership.unscoped.filter(tenant=tenant).values("user_id"))
    rows = model.unscoped.all()  # type: ignore[attr-defined]
    if tenant is None:
        return rows
    if model in (Provider, Route):  # MSP-wide rows are offered to every tenant
        return rows.filter(Q(tenant=tenant) | Q(tenant__isnull=True))
    return rows.filter(tenant=tenant)


def _value(raw: Any, names: dict[str, str]) -> Value:
    items = raw if isinstance(raw, list) else [raw]
    if not items or not all(isinstance(item, str) and item in names for item in items):
        return Value(raw)
    return Value(raw, ", ".join(names[item] for item in items), ", ".join(items))


def audit_rows(events: list[AuditEvent], tenant: Tenant | None) -> list[AuditRow]:
    names = object_names(events, tenant)
    return [
        AuditRow(
            event=event,
            object_name=(
                (event.after or {}).get("email")
                or (event.before or {}).get("email")
                or names.get(event.target_id)
                or event.target_label
                or event.target_id
            ),
            changes=[
                (field, _value(before, names), _value(after, names))
                for field, before, after in event.changed_fields
            ],
        )
        for event in events
    ]


def filter_events(events: QuerySet[AuditEvent], form: AuditFilterForm) -> QuerySet[AuditEvent]:
    if not form.is_valid():
        return events.none()
    data = form.cleaned_data
    tenant = data.get("tenant")
    if tenant == "-":
        events = events.filter(tenant__isnull=True)
    elif tenant:
        events = events.filter(tenant__slug=tenant)
    if data["action"]:
        events = events.filter(action__startswith=data["action"].strip())
    if data["actor"]:
        events = events.filter(actor_label__icontains=data["actor"].strip())
    if data["since"]:
        events = events.filter(occurred_at__date__gte=data["since"])
    if data["until"]:
        events = events.filter(occurred_at__date__lte=data["until"])
    return events


def audit_page(
    events: QuerySet[AuditEvent],
    form: AuditFilterForm,
    *,
    tenant: Tenant | None = None,
    size: int | None = None,
) -> AuditPage:
    """One page of ``events`` (newest first) older than ``?before=<seq>``.

    Keyset on ``seq`` rather than OFFSET: the log only grows, so a page never shifts
    while someone reads it, and a deep page costs the same as the first.
    """
    size = size or PAGE_SIZE
    events = filter_events(events, form)
    before = form.cleaned_data.get("before") if form.is_valid() else None
    if before:
        events = events.filter(seq__lt=before)
    rows = list(events.select_related("tenant").order_by("-seq")[: size + 1])
    has_more = len(rows) > size
    rows = rows[:size]
    return AuditPage(
        form=form,
        entries=audit_rows(rows, tenant),
        next_before=rows[-1].seq if has_more else None,
        is_first_page=not before,
    )


EXPORT_COLUMNS = (
    "seq",
    "occurred_at",
    "tenant",
    "actor_kind",
    "actor",
    "ip",
    "action",
    "target_type",
    "target_id",
    "target_name",
    "before",
    "after",
    "prev_hash",
    "hash",
)


def audit_export(
    events: QuerySet[AuditEvent], form: AuditFilterForm, *, tenant: Tenant | None, name: str
) -> HttpResponse:
    """The filtered entries as CSV, oldest first, with their hashes, so that a reviewer
    can check the chain of an exported stretch (each row's prev_hash is the previous
    row's hash when nothing is filtered out). Written inside the request, where the
    tenant's row-level security context holds; at most ``EXPORT_LIMIT`` entries."""
    chosen = list(
        filter_events(events, form).select_related("tenant").order_by("seq")[:EXPORT_LIMIT]
    )
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%dT%H%MZ")
    response["Content-Disposition"] = f'attachment; filename="audit-{name}-{stamp}.csv"'
    writer = csv.writer(response)
    writer.writerow(EXPORT_COLUMNS)
    for row in audit_rows(chosen, tenant):
        event = row.event
        cells = (
            event.seq,
            event.occurred_at.isoformat(),
            event.tenant.slug if event.tenant else "",
            event.actor_kind,
            event.actor_label,
            event.ip or "",
            event.action,
            event.target_type,
            event.target_id,
            row.object_name,
            json.dumps(event.before, sort_keys=True) if event.before is not None else "",
            json.dumps(event.after, sort_keys=True) if event.after is not None else "",
            event.prev_hash,
            event.hash,
        )
        writer.writerow([safe_cell(cell) for cell in cells])
    return response

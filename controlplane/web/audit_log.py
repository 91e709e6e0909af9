"""Filtering and keyset pagination of audit log pages (console and portal)."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet

from controlplane.audit.models import AuditEvent
from controlplane.web.forms import AuditFilterForm

PAGE_SIZE = 50


@dataclass(frozen=True)
class AuditPage:
    form: AuditFilterForm
    entries: list[AuditEvent]
    next_before: int | None
    is_first_page: bool


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
    events: QuerySet[AuditEvent], form: AuditFilterForm, *, size: int | None = None
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
        entries=rows,
        next_before=rows[-1].seq if has_more else None,
        is_first_page=not before,
    )

"""A list of alerts as the staff queue and a tenant's security page show it: filtered,
sorted in the database, paginated, exportable as CSV or JSON, and the bulk actions on
the alerts ticked in it (through controlplane/security/alerts.py)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Page, Paginator
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone

from controlplane.accounts.models import User
from controlplane.audit.services import Actor
from controlplane.security import alerts as alert_services
from controlplane.security import selectors
from controlplane.security.models import Alert, Incident, State
from controlplane.web.security_forms import (
    BULK_ACTIONS,
    SORTS,
    AlertFilterForm,
    BulkActionForm,
    order_by,
)
from controlplane.web.sorting import sort_links

PAGE_SIZE = 50
EXPORT_LIMIT = 50_000
BULK_STATES = {
    "acknowledge": State.ACKNOWLEDGED,
    "resolve": State.RESOLVED,
    "false_positive": State.FALSE_POSITIVE,
}


@dataclass(frozen=True)
class AlertRow:
    alert: Alert
    agents: list[tuple[uuid.UUID, str]]
    sla_breached: bool
    url: str  # the alert on its incident's page


def incident_url(area: str, slug: str, incident_id: uuid.UUID) -> str:
    return reverse(f"web:{area}_security_incident", args=[slug, incident_id])


def _rows(alerts: list[Alert], area: str) -> list[AlertRow]:
    names = selectors.agent_names(alerts)
    return [
        AlertRow(
            alert=alert,
            agents=[(a, names.get(a, f"unknown agent {str(a)[:8]}")) for a in alert.agent_ids],
            sla_breached=selectors.sla_breached(alert),
            url=(
                f"{incident_url(area, alert.tenant.slug, alert.incident_id)}#alert-{alert.pk}"
                if alert.incident_id
                else ""
            ),
        )
        for alert in alerts
    ]


def export(alerts: QuerySet[Alert], kind: str, name: str) -> HttpResponse:
    """The filtered alerts, oldest raised first, as ``csv`` or ``json``."""
    rows = selectors.export_rows(alerts.order_by("raised_at", "pk")[:EXPORT_LIMIT])
    is_csv = kind == "csv"
    body = selectors.export_csv(rows) if is_csv else selectors.export_json(rows)
    response = HttpResponse(
        body, content_type="text/csv; charset=utf-8" if is_csv else "application/json"
    )
    stamp = timezone.now().strftime("%Y%m%dT%H%MZ")
    response["Content-Disposition"] = f'attachment; filename="alerts-{name}-{stamp}.{kind}"'
    return response


def list_context(
    request: HttpRequest, alerts: QuerySet[Alert], form: AlertFilterForm, *, area: str, base: str
) -> dict[str, Any]:
    """One sorted page of the (already filtered) ``alerts``, with its sort links."""
    sort = form.sort_key
    ordered = alerts.select_related("tenant", "assignee").annotate(
        severity_rank=selectors.severity_rank()
    )
    paginator = Paginator(ordered.order_by(*order_by(sort)), PAGE_SIZE)
    page: Page[Any] = paginator.get_page(request.GET.get("page"))
    kept = form.kept
    return {
        "form": form,
        "page": page,
        "rows": _rows(list(page.object_list), area),
        "sort": sort,
        "sort_links": sort_links(base, kept, SORTS, sort),
        "filtered": form.filtered,
        "bulk_actions": list(BULK_ACTIONS.items()),
        "list_url": request.get_full_path(),
    }


def bulk_apply(
    request: HttpRequest, alerts: QuerySet[Alert], *, area: str
) -> tuple[BulkActionForm, Incident | None]:
    """Apply the bulk action the POST asks for to the ticked alerts among ``alerts``
    (those this person may see): all of them or, when one cannot change, none. Tells
    what happened with a message; returns the form and the incident opened, if any."""
    form = BulkActionForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, str(error))
        return form, None
    ids = set(form.cleaned_data["alerts"])
    chosen = list(alerts.filter(pk__in=ids).order_by("started_at"))
    if len(chosen) != len(ids):
        messages.error(request, "An alert you chose is not in this list any more. Reload the page.")
        return form, None
    action, reason = form.cleaned_data["action"], form.cleaned_data["reason"].strip()
    actor = Actor.from_request(request)
    user = request.user
    assert isinstance(user, User)
    incident = None
    try:
        with transaction.atomic():
            if action == "incident":
                incident = alert_services.incident_from_alerts(
                    actor=actor, alerts=chosen, title=reason
                )
            elif action == "assign":
                for alert in chosen:
                    alert_services.alert_assign(actor=actor, alert=alert, assignee=user)
            else:
                for alert in chosen:
                    alert_services.alert_transition(
                        actor=actor, alert=alert, state=BULK_STATES[action], note=reason
                    )
    except alert_services.TransitionError as exc:
        messages.error(request, f"Nothing was changed: {exc}.")
        return form, None
    except ValidationError as exc:
        messages.error(request, f"Nothing was changed: {' '.join(exc.messages)}")
        return form, None
    count = len(chosen)
    what = f"{count} alert{'s' if count != 1 else ''}"
    done = {
        "acknowledge": f"{what} acknowledged.",
        "assign": f"{what} assigned to you.",
        "resolve": f"{what} resolved.",
        "false_positive": f"{what} marked false positive; the baseline learns from them.",
        "incident": f"Incident opened with {what}.",
    }
    messages.success(request, done[action])
    return form, incident

"""A tenant's security pages, in the portal (``/t/<slug>/security/``) and the console
(``/console/tenants/<slug>/security/``): its alerts and incidents with the queue's
filters and bulk actions, its quarantines with release, what the baseline learned of
each agent; and an incident's page with its evidence, timeline, state changes and notes.

Everyone of the tenant reads them (a department-scoped person sees the alerts that name
an agent of their departments); owners, admins and MSP admins and operators act. Every
change goes through controlplane/security (alerts.py, quarantine.py).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Collection
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone

from controlplane.accounts.models import User
from controlplane.agents.models import Agent
from controlplane.analytics import StoreError
from controlplane.dashboards.queries import Filters
from controlplane.gateway.models import RoleDefault
from controlplane.security import alerts as alert_services
from controlplane.security import quarantine as quarantine_services
from controlplane.security import selectors, services
from controlplane.security.alerts import TRANSITIONS
from controlplane.security.learned import agent_profiles
from controlplane.security.models import Alert, Incident, Quarantine, State
from controlplane.web.scope import READ, WRITE, Scope, tenant_views
from controlplane.web.security_console import back_to
from controlplane.web.security_evidence import dataflow_url, evidence_of, window_text
from controlplane.web.security_forms import AlertFilterForm, NoteForm, QuarantineForm, StateForm
from controlplane.web.security_lists import bulk_apply, export, incident_url, list_context

logger = logging.getLogger(__name__)

RECENT_INCIDENTS = 25
RECENT_RELEASES = 10


def _agents(scope: Scope) -> list[Agent]:
    return list(scope.in_departments(scope.rows(Agent)).order_by("name"))


def _visible_alerts(scope: Scope, agents: Collection[uuid.UUID]) -> QuerySet[Alert]:
    alerts = scope.rows(Alert)
    if scope.departments is not None:
        alerts = alerts.filter(agent_ids__overlap=list(agents))
    return alerts


def _visible_incidents(scope: Scope, agents: Collection[uuid.UUID]) -> QuerySet[Incident]:
    incidents = scope.rows(Incident)
    if scope.departments is not None:
        incidents = incidents.filter(pk__in=_visible_alerts(scope, agents).values("incident_id"))
    return incidents


def _windows(scope: Scope, agents: list[Agent]) -> dict[uuid.UUID, dict[str, Any]]:
    """Each agent's configured operating window: its own, else its role's default."""
    defaults = {d.role: d.operating_window for d in scope.rows(RoleDefault)}
    return {a.pk: a.operating_window or defaults.get(a.role) or {} for a in agents}


def _profiles(scope: Scope, agents: list[Agent]) -> tuple[list[Any], bool]:
    windows = _windows(scope, agents)
    try:
        found = agent_profiles(
            scope.tenant.pk,
            [(a.pk, a.name, windows[a.pk]) for a in agents],
            now=timezone.now(),
            learning_days=services.settings_for(scope.tenant.pk).learning_days,
        )
    except StoreError:
        logger.exception("security baselines of tenant %s unavailable", scope.tenant.pk)
        return [], True
    return [(p, window_text(p.window)) for p in found], False


def _quarantines(scope: Scope, agents: list[Agent]) -> dict[str, Any]:
    names = {a.pk: a.name for a in agents}
    rows = scope.rows(Quarantine)
    if scope.departments is not None:
        rows = rows.filter(scope=Quarantine.Scope.AGENT, target_id__in=list(names))
    active = list(rows.filter(released_at__isnull=True))
    released = list(
        rows.filter(released_at__isnull=False).order_by("-released_at")[:RECENT_RELEASES]
    )
    return {
        "active": [(q, names.get(q.target_id, "")) for q in active],
        "released": [(q, names.get(q.target_id, "")) for q in released],
    }


def security(scope: Scope) -> HttpResponse:
    agents = _agents(scope)
    visible = {a.pk for a in agents}
    form = AlertFilterForm(scope.request.GET, agents=[(str(a.pk), a.name) for a in agents])
    query = form.query(lambda text: [uuid.UUID(text)])
    alerts = selectors.alerts_matching(_visible_alerts(scope, visible), query)
    kind = scope.request.GET.get("export", "")
    if kind in ("csv", "json"):
        return export(alerts, kind, scope.tenant.slug)
    incidents = selectors.incidents_matching(_visible_incidents(scope, visible), query)
    profiles, profiles_unavailable = _profiles(scope, agents)
    context = {
        "scope": scope,
        **list_context(scope.request, alerts, form, area=scope.area, base=scope.url("security")),
        "can_act": scope.can_edit,
        "show_tenant": False,
        "bulk_url": scope.url("security_bulk"),
        "base_url": scope.url("security"),
        "incidents": list(
            incidents.select_related("assignee").order_by("-opened_at")[:RECENT_INCIDENTS]
        ),
        "quarantines": _quarantines(scope, agents),
        "profiles": profiles,
        "profiles_unavailable": profiles_unavailable,
        "hours": range(24),
    }
    return render(scope.request, "security/tenant.html", context)


def bulk(scope: Scope) -> HttpResponse:
    visible = {a.pk for a in _agents(scope)}
    _, incident = bulk_apply(scope.request, _visible_alerts(scope, visible), area=scope.area)
    if incident is not None:
        return redirect(incident_url(scope.area, scope.tenant.slug, incident.pk))
    return redirect(back_to(scope.request, scope.url("security")))


# --- an incident ------------------------------------------------------------------------------


def _incident(scope: Scope, pk: uuid.UUID) -> tuple[Incident, list[Alert]]:
    """The incident and its alerts, if this person may see it; 404 otherwise."""
    incident = scope.get(Incident, pk)
    alerts = list(scope.rows(Alert).filter(incident=incident).order_by("started_at"))
    if scope.departments is not None:
        visible = {a.pk for a in _agents(scope)}
        if not any(set(alert.agent_ids) & visible for alert in alerts):
            raise Http404
    return incident, alerts


def _states(current: str) -> list[tuple[str, str]]:
    labels = dict(State.choices)
    order = [State.ACKNOWLEDGED, State.RESOLVED, State.FALSE_POSITIVE, State.OPEN]
    allowed = TRANSITIONS[State(current)]
    return [(state.value, str(labels[state])) for state in order if state in allowed]


def incident(scope: Scope, pk: uuid.UUID) -> HttpResponse:
    found, alerts = _incident(scope, pk)
    names = selectors.agent_names(alerts)
    agent_ids = sorted(
        {a for alert in alerts for a in alert.agent_ids}, key=lambda a: names.get(a, "")
    )
    quarantined = set(
        scope.rows(Quarantine)
        .filter(scope=Quarantine.Scope.AGENT, target_id__in=agent_ids, released_at__isnull=True)
        .values_list("target_id", flat=True)
    )
    evidence = [(evidence_of(scope, alert, names), _states(alert.state)) for alert in alerts]
    context = {
        "scope": scope,
        "incident": found,
        "sla_breached": selectors.sla_breached(found),
        "evidence": evidence,
        "states": _states(found.state),
        "timeline": selectors.incident_timeline(found, alerts, names),
        "agents": [
            {
                "id": agent_id,
                "name": names.get(agent_id, str(agent_id)[:8]),
                "quarantined": agent_id in quarantined,
            }
            for agent_id in agent_ids
        ],
        "dataflow_url": dataflow_url(scope, found.started_at, found.ended_at),
        "can_act": scope.can_edit,
        "note_form": NoteForm(),
    }
    return render(scope.request, "security/incident.html", context)


def _errors(scope: Scope, form: Any) -> None:
    for field, errors in form.errors.items():
        label = form.fields[field].label or field if field in form.fields else ""
        for error in errors:
            messages.error(scope.request, f"{label}: {error}" if label else error)


def _user(scope: Scope) -> User:
    user = scope.request.user
    assert isinstance(user, User)
    return user


def incident_state(scope: Scope, pk: uuid.UUID) -> HttpResponse:
    found, _ = _incident(scope, pk)
    form = StateForm(scope.request.POST)
    if not form.is_valid():
        _errors(scope, form)
    else:
        try:
            alert_services.incident_transition(
                actor=scope.actor,
                incident=found,
                state=form.cleaned_data["state"],
                note=form.cleaned_data["note"],
            )
        except alert_services.TransitionError as exc:
            messages.error(scope.request, f"Not changed: {exc}.")
        else:
            label = dict(State.choices)[form.cleaned_data["state"]]
            messages.success(scope.request, f"The incident is {str(label).lower()}.")
    return redirect(scope.url("security_incident", found.pk))


def incident_assign(scope: Scope, pk: uuid.UUID) -> HttpResponse:
    found, _ = _incident(scope, pk)
    alert_services.incident_assign(actor=scope.actor, incident=found, assignee=_user(scope))
    messages.success(scope.request, "The incident is assigned to you.")
    return redirect(scope.url("security_incident", found.pk))


def incident_note(scope: Scope, pk: uuid.UUID) -> HttpResponse:
    found, _ = _incident(scope, pk)
    form = NoteForm(scope.request.POST)
    if not form.is_valid():
        _errors(scope, form)
    else:
        alert_services.note_add(actor=scope.actor, incident=found, text=form.cleaned_data["text"])
        messages.success(scope.request, "Note added.")
    return redirect(f"{scope.url('security_incident', found.pk)}#timeline")


def alert_state(scope: Scope, pk: uuid.UUID) -> HttpResponse:
    alert = scope.get(Alert, pk)
    if alert.incident_id is None:
        raise Http404
    _incident(scope, alert.incident_id)
    form = StateForm(scope.request.POST)
    if not form.is_valid():
        _errors(scope, form)
    else:
        try:
            alert_services.alert_transition(
                actor=scope.actor,
                alert=alert,
                state=form.cleaned_data["state"],
                note=form.cleaned_data["note"],
            )
        except alert_services.TransitionError as exc:
            messages.error(scope.request, f"Not changed: {exc}.")
        else:
            messages.success(scope.request, f"Alert “{alert.title}” changed.")
    return redirect(f"{scope.url('security_incident', alert.incident_id)}#alert-{alert.pk}")


def quarantine_start(scope: Scope) -> HttpResponse:
    form = QuarantineForm(scope.request.POST)
    back = back_to(scope.request, scope.url("security"))
    if not form.is_valid():
        _errors(scope, form)
        return redirect(back)
    agent_id = form.cleaned_data["agent"]
    if agent_id not in {a.pk for a in _agents(scope)}:
        raise Http404
    try:
        quarantine_services.quarantine_start(
            actor=scope.actor,
            tenant=scope.tenant,
            scope=Quarantine.Scope.AGENT,
            target_id=agent_id,
            reason=form.cleaned_data["reason"],
        )
    except ValidationError as exc:
        messages.error(scope.request, " ".join(exc.messages))
    else:
        messages.success(
            scope.request, "The agent is in quarantine: every edge of the tenant refuses it."
        )
    return redirect(back)


def quarantine_release(scope: Scope, pk: uuid.UUID) -> HttpResponse:
    quarantine = scope.get(Quarantine, pk)
    if scope.departments is not None and quarantine.target_id not in {a.pk for a in _agents(scope)}:
        raise Http404
    try:
        quarantine_services.quarantine_release(actor=scope.actor, quarantine=quarantine)
    except ValidationError as exc:
        messages.error(scope.request, " ".join(exc.messages))
    else:
        messages.success(scope.request, "Released: the edges accept its requests again.")
    return redirect(back_to(scope.request, scope.url("security")))


# --- the dashboards' faults slot ----------------------------------------------------------


def faults_slot(
    scope: Scope, since: dt.datetime, until: dt.datetime, filters: Filters
) -> list[dict[str, Any]]:
    """Alerts per severity whose minutes overlap [since, until), of the agents the
    dashboard's filters choose, each with a link to them on the security page."""
    agents: list[uuid.UUID] | None = None
    if filters.agent_id is not None:
        agents = [filters.agent_id]
    elif filters.department_id is not None or scope.departments is not None:
        rows = scope.in_departments(scope.rows(Agent))
        if filters.department_id is not None:
            rows = rows.filter(department_id=filters.department_id)
        agents = list(rows.values_list("pk", flat=True))
    alerts = scope.rows(Alert)
    if agents is not None:
        alerts = alerts.filter(agent_ids__overlap=agents)
    last_day = (until - dt.timedelta(microseconds=1)).date()
    counts = selectors.severity_counts(alerts, since, until)
    for row in counts:
        query = {
            "severity": row["severity"],
            "state": "all",
            "since": since.date().isoformat(),
            "until": last_day.isoformat(),
        }
        if filters.agent_id is not None:
            query["agent"] = str(filters.agent_id)
        row["url"] = f"{scope.url('security')}?{urlencode(query)}"
    return counts


SECURITY = tenant_views(security, READ)
SECURITY_BULK = tenant_views(bulk, WRITE)
INCIDENT = tenant_views(incident, READ)
INCIDENT_STATE = tenant_views(incident_state, WRITE)
INCIDENT_ASSIGN = tenant_views(incident_assign, WRITE)
INCIDENT_NOTE = tenant_views(incident_note, WRITE)
ALERT_STATE = tenant_views(alert_state, WRITE)
QUARANTINE_START = tenant_views(quarantine_start, WRITE)
QUARANTINE_RELEASE = tenant_views(quarantine_release, WRITE)

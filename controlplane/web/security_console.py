"""The staff triage queue: behavioural alerts of every tenant, most severe first.

Filter by severity, kind, tenant, state, agent and days; sort by any column; export the
filtered list as CSV or JSON; tick alerts and acknowledge them, take them, resolve them
or mark them false positive with a reason, or open one incident from them. Auditors
read the queue; admins and operators act on it.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST, require_safe

from controlplane.agents.models import Agent
from controlplane.security import selectors
from controlplane.security.models import Alert
from controlplane.web.access import staff_can_write, staff_view
from controlplane.web.htmx import vary_on_htmx, wants_fragment
from controlplane.web.security_forms import AlertFilterForm
from controlplane.web.security_lists import bulk_apply, export, incident_url, list_context
from tenants.models import Tenant

AREA = "console"


def agents_named(text: str) -> Collection[uuid.UUID]:
    """The agents (of any tenant) ``text`` names: an id, or part of a name."""
    try:
        return [uuid.UUID(text)]
    except ValueError:
        return list(Agent.unscoped.filter(name__icontains=text).values_list("pk", flat=True))


def _form(request: HttpRequest) -> AlertFilterForm:
    tenants = [(t.slug, t.name) for t in Tenant.objects.order_by("name")]
    return AlertFilterForm(request.GET, tenants=tenants)


@staff_view()
@require_safe
def queue(request: HttpRequest) -> HttpResponse:
    form = _form(request)
    alerts = selectors.alerts_matching(Alert.unscoped.all(), form.query(agents_named))
    kind = request.GET.get("export", "")
    if kind in ("csv", "json"):
        return export(alerts, kind, "all-tenants")
    base = reverse("web:console_security_queue")
    context = {
        **list_context(request, alerts, form, area=AREA, base=base),
        "can_act": staff_can_write(request.user),
        "show_tenant": True,
        "bulk_url": reverse("web:console_security_bulk"),
        "base_url": base,
    }
    if wants_fragment(request):
        return vary_on_htmx(render(request, "security/_alert_list.html", context))
    return vary_on_htmx(render(request, "security/queue.html", context))


def back_to(request: HttpRequest, base: str) -> str:
    """The list the bulk form came from (``next``), if it is that list; else ``base``."""
    target = request.POST.get("next", "")
    safe = url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()})
    return target if safe and target.startswith(base) else base


@staff_view()
@require_POST
def bulk(request: HttpRequest) -> HttpResponse:
    _, incident = bulk_apply(request, Alert.unscoped.all(), area=AREA)
    if incident is not None:
        return redirect(incident_url(AREA, incident.tenant.slug, incident.pk))
    return redirect(back_to(request, reverse("web:console_security_queue")))

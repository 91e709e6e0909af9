"""The compliance pages: an overview, one page per trust service category (status per
control, failing first; the evidence timeline; exceptions; links to the pages that
support each control) and each evidence record with its JSON download.

Staff see every tenant and the MSP's own evidence (``/console/compliance/``, one tenant
with ``?tenant=<slug>``); a customer sees its own tenant (``/t/<slug>/compliance/``), and
of the MSP-wide controls only their result and dates; an outside auditor sees what the
customer does, of their period only (``/auditor/t/<slug>/compliance/``, read-only).
The logic is in ``compliance`` (status, runs, reviews); these views read the input, call
it and answer.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from compliance import status as control_status
from compliance.documents import evidence_document
from compliance.forms import ExceptionDecisionForm, ExceptionRequestForm
from compliance.models import Category, Control, ControlException, EvidenceRecord, TestRun
from compliance.periods import Period
from compliance.reviews import access_review_record, exception_decide, exception_request
from compliance.runs import test_run_request
from controlplane.audit.services import Actor
from controlplane.web.access import (
    portal_membership,
    portal_tenant,
    portal_view,
    staff_can_write,
    staff_view,
)
from tenants.models import Tenant, TenantRole

CAN_REQUEST = (TenantRole.OWNER, TenantRole.ADMIN)
# Which page each supporting link of a control opens: (URL name, query string).
LINKS = {
    "traces": ("traces", ""),
    "alerts": ("audit", "action=security.alert"),
    "audit": ("audit", ""),
    "dataflow": ("dataflow", "range=30d"),
    "dashboards": ("dashboards", ""),
    "agents": ("agents", ""),
    "sites": ("sites", ""),
    "gateway": ("gateway", ""),
}
INTROS = {
    "security": "CC6 logical access, CC7 system operations and CC8 change management: "
    "sign-in, access reviews, keys and credentials, behavioural alerts, the gateway's "
    "refusals, quarantines and configuration changes.",
    "availability": "A1: edge nodes and telemetry flow, model providers with their "
    "failovers and breaker trips, capacity against rate limits, and recovery drills.",
    "processing_integrity": "PI1: the ledger and ClickHouse reconciled, usage billed in "
    "full, providers' bills matched, and every captured trace complete.",
    "confidentiality": "C1: secrets encrypted at rest with the current key, the data "
    "classifications each agent touched, and retention and disposal.",
    "privacy": "P: personal data found in agents' traffic (counted per type, never its "
    "values) and redacted, retention enforced, residency and data-subject requests.",
}
LINK_LABELS = {
    "traces": "Traces",
    "alerts": "Alerts",
    "audit": "Audit log",
    "dataflow": "Data flow",
    "dashboards": "Dashboards",
    "agents": "Agents",
    "sites": "Sites & edge nodes",
    "gateway": "Gateway",
}
# The pages an outside auditor's link opens (the others are not in their area).
AUDITOR_LINKS = {"traces": "traces", "alerts": "alerts", "audit": "audit", "dataflow": "dataflow"}


@dataclass(frozen=True)
class View:
    """Who looks and at what: the area, the tenant (None: staff's MSP-wide view)."""

    request: HttpRequest
    area: str
    tenant: Tenant | None
    can_write: bool
    can_decide: bool
    period: Period | None = None  # an outside auditor's: the evidence shown lies inside it

    def url(self, name: str, *args: object) -> str:
        if self.area in ("portal", "auditor"):
            assert self.tenant is not None
            return reverse(f"web:{self.area}_{name}", args=[self.tenant.slug, *args])
        path = reverse(f"web:console_{name}", args=list(args))
        per_tenant = name in ("compliance", "compliance_criterion")
        return f"{path}?tenant={self.tenant.slug}" if self.tenant and per_tenant else path

    def evidence(self) -> QuerySet[EvidenceRecord]:
        if self.period is not None:
            return EvidenceRecord.objects.filter(
                recorded_at__gte=self.period.since, recorded_at__lt=self.period.until
            )
        if self.area == "portal":
            return EvidenceRecord.objects.all()
        if self.tenant is None:
            return EvidenceRecord.unscoped.all()
        return EvidenceRecord.unscoped.filter(tenant=self.tenant)

    def exceptions(self) -> QuerySet[ControlException]:
        if self.period is not None:
            return ControlException.objects.filter(
                requested_at__lt=self.period.until, expires_at__gt=self.period.since
            )
        if self.area == "portal":
            return ControlException.objects.all()
        if self.tenant is None:
            return ControlException.unscoped.all()
        return ControlException.unscoped.filter(tenant=self.tenant)

    def link(self, name: str) -> str | None:
        target, query = LINKS[name]
        if self.area == "auditor":
            assert self.tenant is not None
            page = AUDITOR_LINKS.get(name)
            return reverse(f"web:auditor_{page}", args=[self.tenant.slug]) if page else None
        if self.area == "portal":
            assert self.tenant is not None
            url = reverse(f"web:portal_{target}", args=[self.tenant.slug])
        elif target == "audit":
            url = reverse("web:console_audit")
            query = "&".join(
                p for p in (query, f"tenant={self.tenant.slug}" if self.tenant else "") if p
            )
        elif self.tenant is None:
            return None
        else:
            url = reverse(f"web:console_{target}", args=[self.tenant.slug])
        return f"{url}?{query}" if query else url


def _portal(request: HttpRequest) -> View:
    membership = portal_membership(request)
    if membership.departments.exists():  # evidence covers every department
        raise Http404
    return View(
        request=request,
        area="portal",
        tenant=portal_tenant(request),
        can_write=membership.role in CAN_REQUEST,
        can_decide=False,
    )


def _console(request: HttpRequest) -> View:
    slug = request.GET.get("tenant") or request.POST.get("tenant") or ""
    tenant = Tenant.objects.filter(slug=slug).first() if slug else None
    if slug and tenant is None:
        raise Http404
    writer = staff_can_write(request.user)
    return View(request=request, area="console", tenant=tenant, can_write=writer, can_decide=writer)


def _back(view: View) -> str:
    """Where a form returns to: the page it was on (``next``, this site only)."""
    target = view.request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={view.request.get_host()}, require_https=view.request.is_secure()
    ):
        return target
    return view.url("compliance")


def _statuses(view: View, category: str | None) -> list[control_status.ControlStatus]:
    now = timezone.now()
    if view.period is not None:  # as it stood at the end of the auditor's period
        now = min(now, view.period.until)
    if view.tenant is None:
        return control_status.msp_status(category=category, now=now)
    return control_status.tenant_status(
        tenant=view.tenant, category=category, now=now, rows=view.evidence()
    )


def _base(view: View) -> dict[str, Any]:
    tenants = list(Tenant.objects.order_by("name")) if view.area == "console" else []
    return {
        "view": view,
        "categories": Category.choices,
        "tenants": tenants,
        "state_labels": control_status.STATE_LABELS,
        "overview_url": view.url("compliance"),
    }


def overview(view: View) -> HttpResponse:
    statuses = _statuses(view, None)
    counts = control_status.category_counts(statuses)
    runs = TestRun.unscoped if view.area == "console" else TestRun.objects
    recent = runs.all() if view.tenant is None else runs.filter(tenant=view.tenant)
    if view.period is not None:
        recent = recent.filter(
            requested_at__gte=view.period.since, requested_at__lt=view.period.until
        )
    cards = [
        {
            "category": value,
            "label": label,
            "counts": [
                (state, state_label, counts[value][state])
                for state, state_label in control_status.STATE_LABELS.items()
                if counts.get(value, {}).get(state)
            ],
        }
        for value, label in Category.choices
    ]
    context = {
        **_base(view),
        "cards": cards,
        "runs": list(recent.order_by("-requested_at")[:10]),
        "whose": view.tenant.name if view.tenant else "every tenant and the MSP",
    }
    return render(view.request, "compliance/overview.html", context)


def criterion(view: View, category: str) -> HttpResponse:
    if category not in Category.values:
        raise Http404
    statuses = _statuses(view, category)
    exceptions = list(
        view.exceptions()
        .filter(control__category=category)
        .select_related("control")
        .order_by("-requested_at")[:50]
    )
    for item in statuses:
        item.exceptions = [e for e in exceptions if e.control_id == item.control.pk]
    links = {
        item.control.pk: [
            (LINK_LABELS[name], url) for name in item.control.links if (url := view.link(name))
        ]
        for item in statuses
    }
    request_form = ExceptionRequestForm(
        controls=[(s.control.code, f"{s.control.code} {s.control.title}") for s in statuses]
    )
    context = {
        **_base(view),
        "category": category,
        "category_label": Category(category).label,
        "intro": INTROS[category],
        "statuses": statuses,
        "links": links,
        "timeline": control_status.evidence_timeline(view.evidence(), category=category),
        "exceptions": exceptions,
        "request_form": request_form,
        "now": timezone.now(),
    }
    return render(view.request, "compliance/criterion.html", context)


def _record(view: View, pk: uuid.UUID) -> EvidenceRecord:
    record = (
        view.evidence().select_related("control", "control_test", "tenant").filter(pk=pk).first()
    )
    if record is None:
        raise Http404
    return record


def evidence(view: View, pk: uuid.UUID) -> HttpResponse:
    record = _record(view, pk)
    context = {
        **_base(view),
        "record": record,
        "stale": record.valid_until < timezone.now(),
        "download_url": view.url("compliance_evidence_download", record.pk),
        "params": json.dumps(record.query_params, indent=2, sort_keys=True),
        "metrics": json.dumps(record.metrics, indent=2, sort_keys=True),
        "population": json.dumps(record.population[:200], indent=2, sort_keys=True),
        "tenant_slug": record.tenant.slug if record.tenant else None,
    }
    return render(view.request, "compliance/evidence.html", context)


def evidence_download(view: View, pk: uuid.UUID) -> HttpResponse:
    record = _record(view, pk)
    body = json.dumps(evidence_document(record), indent=2, sort_keys=True, ensure_ascii=False)
    response = HttpResponse(body.encode(), content_type="application/json; charset=utf-8")
    name = f"evidence-{record.control_code}-{record.seq}-{record.pk}.json"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def run_now(view: View) -> HttpResponse:
    if not view.can_write:
        raise PermissionDenied("Your role cannot run the tests.")
    trigger = TestRun.Trigger.CONSOLE
    test_run_request(
        actor=Actor.from_request(view.request),
        trigger=trigger,
        tenant=view.tenant,
        requested_by=view.request.user,  # type: ignore[arg-type]
    )
    messages.success(view.request, "The tests are queued; their evidence appears here shortly.")
    return redirect(_back(view))


def exception_create(view: View) -> HttpResponse:
    if not view.can_write:
        raise PermissionDenied("Your role cannot request exceptions.")
    codes = list(Control.objects.filter(active=True).values_list("code", "code"))
    form = ExceptionRequestForm(data=view.request.POST, controls=codes)
    back = _back(view)
    if not form.is_valid():
        errors = "; ".join(f"{field}: {' '.join(map(str, e))}" for field, e in form.errors.items())
        messages.error(view.request, f"The exception was not requested: {errors}")
        return redirect(back)
    try:
        exception_request(
            actor=Actor.from_request(view.request),
            requested_by=view.request.user,  # type: ignore[arg-type]
            tenant=view.tenant,
            control=Control.objects.get(code=form.cleaned_data["control"]),
            entity=form.cleaned_data["entity"],
            justification=form.cleaned_data["justification"],
            expires_at=form.expires_at(),
        )
    except ValidationError as error:
        messages.error(view.request, " ".join(error.messages))
        return redirect(back)
    messages.success(view.request, "Exception requested; someone else must approve it.")
    return redirect(back)


def exception_decision(view: View, pk: uuid.UUID) -> HttpResponse:
    if not view.can_decide:
        raise PermissionDenied("Your role cannot decide exceptions.")
    exception = ControlException.unscoped.filter(pk=pk).first()
    if exception is None:
        raise Http404
    form = ExceptionDecisionForm(data=view.request.POST)
    back = _back(view)
    if not form.is_valid():
        messages.error(view.request, "Choose approve or reject.")
        return redirect(back)
    try:
        exception_decide(
            actor=Actor.from_request(view.request),
            decided_by=view.request.user,  # type: ignore[arg-type]
            exception=exception,
            approve=form.cleaned_data["decision"] == "approve",
            note=form.cleaned_data["note"],
        )
    except ValidationError as error:
        messages.error(view.request, " ".join(error.messages))
        return redirect(back)
    messages.success(view.request, f"Exception {exception.status}.")
    return redirect(back)


def access_review(view: View) -> HttpResponse:
    if not view.can_write:
        raise PermissionDenied("Your role cannot record access reviews.")
    access_review_record(
        actor=Actor.from_request(view.request),
        reviewer=view.request.user,  # type: ignore[arg-type]
        tenant=view.tenant,
        note=view.request.POST.get("note", "")[:2000],
    )
    messages.success(view.request, "Access review recorded: everyone with access, as they are.")
    return redirect(_back(view))


# --- the views of both areas ------------------------------------------------------------------

READ = require_http_methods(["GET", "HEAD"])


def _both(handler: Any, methods: Any) -> tuple[Any, Any]:
    @staff_view()
    @methods
    def in_console(request: HttpRequest, **kwargs: Any) -> HttpResponse:
        return handler(_console(request), **kwargs)

    @portal_view(write_roles=CAN_REQUEST)
    @methods
    def in_portal(request: HttpRequest, slug: str, **kwargs: Any) -> HttpResponse:
        return handler(_portal(request), **kwargs)

    return in_console, in_portal


OVERVIEW = _both(overview, READ)
CRITERION = _both(criterion, READ)
EVIDENCE = _both(evidence, READ)
EVIDENCE_DOWNLOAD = _both(evidence_download, READ)
RUN = _both(run_now, require_POST)
EXCEPTION_CREATE = _both(exception_create, require_POST)
ACCESS_REVIEW = _both(access_review, require_POST)


@staff_view()
@require_POST
def exception_decide_view(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """Staff only: the MSP approves or rejects an exception (never its requester)."""
    return exception_decision(_console(request), pk)

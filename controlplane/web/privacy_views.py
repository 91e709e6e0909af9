"""The privacy pages of one tenant (portal: owners and admins; console: staff): the
retention policy, legal holds, retention runs with what each removed, and data-subject
requests (made, followed, verified, exported, erased). The work is in
``compliance.privacy``; these views read the input, call it and answer. The console's
MSP-wide page sets the retention defaults."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from compliance.privacy import selectors, services
from compliance.privacy.export import export_bytes
from compliance.privacy.forms import (
    WHOLE_TENANT,
    DataSubjectRequestForm,
    EraseForm,
    LegalHoldForm,
    RetentionPolicyForm,
    VerifyForm,
)
from compliance.privacy.models import DataKind, DataSubjectRequest, LegalHold, RetentionRun
from controlplane.agents.models import Agent
from controlplane.audit.services import Actor
from controlplane.web.access import staff_can_write, staff_view
from controlplane.web.forms import add_service_error
from controlplane.web.htmx import wants_fragment
from controlplane.web.scope import READ, WRITE, Scope, tenant_views

WORKING = (DataSubjectRequest.State.SEARCHING, DataSubjectRequest.State.ERASING)


def _readers_only(scope: Scope) -> None:
    """The portal's pages are for owners and admins (what they show names people)."""
    if scope.area == "portal" and not scope.can_edit:
        raise PermissionDenied("Privacy is for the tenant's owners and admins.")


def _agents(scope: Scope) -> list[tuple[uuid.UUID, str]]:
    return list(scope.rows(Agent).order_by("name").values_list("pk", "name"))


def _page(
    scope: Scope,
    *,
    policy_form: RetentionPolicyForm | None = None,
    hold_form: LegalHoldForm | None = None,
    request_form: DataSubjectRequestForm | None = None,
) -> HttpResponse:
    _readers_only(scope)
    in_force = selectors.effective_policy(scope.tenant, timezone.now().date())
    context: dict[str, Any] = {
        "scope": scope,
        "in_force": [(DataKind(kind).label, in_force[kind]) for kind in DataKind.values],
        "history": selectors.policy_history(scope.tenant),
        "holds": selectors.legal_holds(scope.tenant),
        "runs": selectors.recent_runs(scope.tenant),
        "requests": selectors.recent_requests(scope.tenant),
        "policy_form": policy_form or RetentionPolicyForm(),
        "hold_form": hold_form or LegalHoldForm(agents=_agents(scope)),
        "request_form": request_form or DataSubjectRequestForm(),
    }
    return render(scope.request, "privacy/page.html", context)


def privacy(scope: Scope) -> HttpResponse:
    return _page(scope)


def _back(scope: Scope, anchor: str) -> HttpResponse:
    return redirect(f"{scope.url('privacy')}#{anchor}")


def policy_set(scope: Scope) -> HttpResponse:
    form = RetentionPolicyForm(data=scope.request.POST)
    if form.is_valid():
        try:
            row = services.retention_policy_set(
                actor=scope.actor, tenant=scope.tenant, **form.cleaned_data
            )
        except ValidationError as error:
            add_service_error(form, error)
        else:
            label = DataKind(row.kind).label
            messages.success(
                scope.request, f"{label}: {row.days} days from {row.effective_from:%Y-%m-%d}."
            )
            return _back(scope, "retention")
    return _page(scope, policy_form=form)


def hold_place(scope: Scope) -> HttpResponse:
    agents = _agents(scope)
    form = LegalHoldForm(data=scope.request.POST, agents=agents)
    if form.is_valid():
        chosen = form.cleaned_data["agent"]
        agent = scope.get(Agent, uuid.UUID(chosen)) if chosen != WHOLE_TENANT else None
        try:
            services.legal_hold_place(
                actor=scope.actor,
                tenant=scope.tenant,
                reason=form.cleaned_data["reason"],
                reference=form.cleaned_data["reference"],
                agent=agent,
            )
        except ValidationError as error:
            add_service_error(form, error)
        else:
            messages.success(scope.request, "The legal hold is in force.")
            return _back(scope, "holds")
    return _page(scope, hold_form=form)


def hold_release(scope: Scope, pk: uuid.UUID) -> HttpResponse:
    hold = scope.get(LegalHold, pk)
    try:
        services.legal_hold_release(actor=scope.actor, hold=hold)
    except services.PrivacyConflict as error:
        messages.error(scope.request, str(error))
    else:
        messages.success(scope.request, "The legal hold is released.")
    return _back(scope, "holds")


def run_now(scope: Scope) -> HttpResponse:
    run = services.retention_run_request(actor=scope.actor, tenant=scope.tenant)
    messages.success(scope.request, "Retention is being applied; this run shows what it removes.")
    return redirect(scope.url("privacy_run", run.pk))


def run_detail(scope: Scope, pk: uuid.UUID) -> HttpResponse:
    _readers_only(scope)
    run = scope.get(RetentionRun, pk)
    context = {"scope": scope, "run": run, "working": run.state == RetentionRun.State.RUNNING}
    if wants_fragment(scope.request):
        return render(scope.request, "privacy/_run.html", context)
    return render(scope.request, "privacy/run.html", context)


def request_create(scope: Scope) -> HttpResponse:
    form = DataSubjectRequestForm(data=scope.request.POST)
    if form.is_valid():
        user = scope.request.user
        dsr = services.dsr_create(
            actor=scope.actor,
            tenant=scope.tenant,
            identifiers=form.cleaned_data["identifiers"],
            reason=form.cleaned_data["reason"],
            user=user if user.is_authenticated else None,
        )
        messages.success(scope.request, "Every store is being searched for this person.")
        return redirect(scope.url("privacy_request", dsr.pk))
    return _page(scope, request_form=form)


def _request(scope: Scope, pk: uuid.UUID) -> DataSubjectRequest:
    return scope.get(DataSubjectRequest, pk)


def count_rows(counts: dict[str, Any]) -> list[tuple[str, str, int]]:
    """``{"postgres": {"security_alert": 1}, "edge": {"hq-1": {"spool_records": 2}}}`` as
    rows (store, where, count), for a table."""
    rows: list[tuple[str, str, int]] = []
    for store, places in counts.items():
        for place, value in places.items():
            if isinstance(value, dict):
                rows.extend((store, f"{place} {part}", int(n)) for part, n in value.items())
            else:
                rows.append((store, place, int(value)))
    return rows


def _may_export(scope: Scope) -> bool:
    """Who may download a person's data: those who may change things (no auditor)."""
    return scope.can_edit


def _request_page(
    scope: Scope,
    dsr: DataSubjectRequest,
    *,
    verify_form: VerifyForm | None = None,
    erase_form: EraseForm | None = None,
) -> HttpResponse:
    _readers_only(scope)
    context = {
        "scope": scope,
        "dsr": dsr,
        "working": dsr.state in WORKING,
        "can_export": _may_export(scope)
        and dsr.state == DataSubjectRequest.State.FOUND
        and dsr.verified_at is not None,
        "found_rows": count_rows(dsr.found),
        "erased_rows": count_rows(dsr.erased),
        "remaining_rows": [row for row in count_rows(dsr.remaining) if row[2]],
        "verify_form": verify_form or VerifyForm(),
        "erase_form": erase_form or EraseForm(),
        "holds": selectors.active_holds(scope.tenant),
    }
    if wants_fragment(scope.request):
        return render(scope.request, "privacy/_request.html", context)
    return render(scope.request, "privacy/request.html", context)


def request_detail(scope: Scope, pk: uuid.UUID) -> HttpResponse:
    return _request_page(scope, _request(scope, pk))


def request_verify(scope: Scope, pk: uuid.UUID) -> HttpResponse:
    dsr = _request(scope, pk)
    form = VerifyForm(data=scope.request.POST)
    if form.is_valid():
        try:
            services.dsr_verify(actor=scope.actor, dsr=dsr, note=form.cleaned_data["note"])
        except ValidationError as error:
            add_service_error(form, error)
        except services.PrivacyConflict as error:
            messages.error(scope.request, str(error))
            return redirect(scope.url("privacy_request", dsr.pk))
        else:
            messages.success(scope.request, "The person's identity is recorded as checked.")
            return redirect(scope.url("privacy_request", dsr.pk))
    return _request_page(scope, dsr, verify_form=form)


def request_erase(scope: Scope, pk: uuid.UUID) -> HttpResponse:
    dsr = _request(scope, pk)
    form = EraseForm(data=scope.request.POST)
    if form.is_valid():
        try:
            services.dsr_erase(actor=scope.actor, dsr=dsr, confirm=form.cleaned_data["confirm"])
        except ValidationError as error:
            add_service_error(form, error)
        except services.PrivacyConflict as error:
            messages.error(scope.request, str(error))
            return redirect(scope.url("privacy_request", dsr.pk))
        else:
            messages.success(scope.request, "The person's data is being erased everywhere.")
            return redirect(scope.url("privacy_request", dsr.pk))
    return _request_page(scope, dsr, erase_form=form)


def request_retry(scope: Scope, pk: uuid.UUID) -> HttpResponse:
    dsr = _request(scope, pk)
    try:
        services.dsr_retry(actor=scope.actor, dsr=dsr)
    except services.PrivacyConflict as error:
        messages.error(scope.request, str(error))
    return redirect(scope.url("privacy_request", dsr.pk))


def request_export(scope: Scope, pk: uuid.UUID) -> HttpResponse:
    _readers_only(scope)
    if not _may_export(scope):
        raise PermissionDenied("Your role cannot download a person's data.")
    dsr = scope.rows(DataSubjectRequest).filter(pk=pk).first()
    if dsr is None or not dsr.export_enc:
        raise Http404
    if dsr.verified_at is None or dsr.state != DataSubjectRequest.State.FOUND:
        raise PermissionDenied("Verify the person's identity first.")
    response = HttpResponse(export_bytes(dsr), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="data-subject-{dsr.pk}.zip"'
    response["Cache-Control"] = "private, no-store"
    return response


PRIVACY = tenant_views(privacy, READ)
POLICY_SET = tenant_views(policy_set, WRITE)
HOLD_PLACE = tenant_views(hold_place, WRITE)
HOLD_RELEASE = tenant_views(hold_release, WRITE)
RUN_NOW = tenant_views(run_now, WRITE)
RUN = tenant_views(run_detail, READ)
REQUEST_CREATE = tenant_views(request_create, WRITE)
REQUEST = tenant_views(request_detail, READ)
REQUEST_VERIFY = tenant_views(request_verify, WRITE)
REQUEST_ERASE = tenant_views(request_erase, WRITE)
REQUEST_RETRY = tenant_views(request_retry, WRITE)
REQUEST_EXPORT = tenant_views(request_export, READ)


# --- the MSP's defaults (console) -------------------------------------------------------------


@staff_view()
@require_http_methods(["GET", "HEAD", "POST"])
def console_defaults(request: HttpRequest) -> HttpResponse:
    form = RetentionPolicyForm(data=request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            row = services.retention_default_set(
                actor=Actor.from_request(request), **form.cleaned_data
            )
        except ValidationError as error:
            add_service_error(form, error)
        else:
            messages.success(
                request,
                f"MSP default for {DataKind(row.kind).label.lower()}: {row.days} days from "
                f"{row.effective_from:%Y-%m-%d}.",
            )
            return redirect(reverse("web:console_privacy_defaults"))
    context = {
        "defaults": selectors.msp_defaults(),
        "form": form,
        "can_edit": staff_can_write(request.user),
        "builtin_ledger_days": selectors.builtin_ledger_days(),
    }
    return render(request, "privacy/console_defaults.html", context)

"""The console's auditor accounts page: staff read it, admins create, extend and
revoke outside auditors' access."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from controlplane.accounts.auditors import (
    auditor_create,
    auditor_revoke,
    auditor_tenants,
    auditor_update,
)
from controlplane.accounts.models import AuditorAccount, StaffRole, User
from controlplane.audit.services import Actor
from controlplane.web.access import staff_view
from controlplane.web.auditor_forms import AuditorCreateForm, AuditorExtendForm
from controlplane.web.forms import add_service_error

STAFF_ADMINS = (StaffRole.ADMIN,)


def _page(request: HttpRequest, form: AuditorCreateForm | None = None) -> HttpResponse:
    can_manage = getattr(request.user, "staff_role", "") == StaffRole.ADMIN
    accounts = AuditorAccount.objects.select_related("user").order_by("-created_at")
    rows = [
        (account, auditor_tenants(account), AuditorExtendForm(prefix=account.pk.hex))
        for account in accounts
    ]
    context = {
        "rows": rows,
        "can_manage": can_manage,
        "form": (form or AuditorCreateForm()) if can_manage else None,
    }
    return render(request, "console/auditors.html", context)


@staff_view(write_roles=STAFF_ADMINS)
@require_http_methods(["GET", "HEAD", "POST"])
def auditors(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return _page(request)
    form = AuditorCreateForm(request.POST)
    if form.is_valid():
        user = request.user
        try:
            account = auditor_create(
                actor=Actor.from_request(request),
                email=form.cleaned_data["email"],
                full_name=form.cleaned_data["full_name"],
                organization=form.cleaned_data["organization"],
                tenants=list(form.cleaned_data["tenants"]),
                period=form.cleaned_data["period"],
                expires_at=form.cleaned_data["expires_at"],
                created_by=user if isinstance(user, User) else None,
            )
        except ValidationError as error:
            add_service_error(form, error)
        else:
            messages.success(
                request,
                f"{account.user.email} can read their tenants' evidence until "
                f"{account.expires_at:%Y-%m-%d %H:%M} UTC; they got an email to set a "
                "password. Their evidence packages are being made.",
            )
            return redirect("web:console_auditors")
    return _page(request, form)


def _account(pk: uuid.UUID) -> AuditorAccount:
    account = AuditorAccount.objects.select_related("user").filter(pk=pk).first()
    if account is None:
        raise Http404
    return account


@staff_view(write_roles=STAFF_ADMINS)
@require_POST
def auditor_revoke_view(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    account = _account(pk)
    auditor_revoke(actor=Actor.from_request(request), account=account)
    messages.success(request, f"{account.user.email} can no longer sign in.")
    return redirect("web:console_auditors")


@staff_view(write_roles=STAFF_ADMINS)
@require_POST
def auditor_extend_view(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    account = _account(pk)
    form = AuditorExtendForm(request.POST, prefix=account.pk.hex)
    if not form.is_valid():
        messages.error(request, f"{account.user.email}: give the day the access ends.")
        return redirect("web:console_auditors")
    try:
        auditor_update(
            actor=Actor.from_request(request),
            account=account,
            expires_at=form.cleaned_data["expires_at"],
        )
    except ValidationError as error:
        messages.error(request, f"{account.user.email}: {' '.join(error.messages)}")
    else:
        messages.success(
            request,
            f"{account.user.email}'s access now ends {form.cleaned_data['expires_at']:%Y-%m-%d}.",
        )
    return redirect("web:console_auditors")

"""The MSP staff console: every tenant, the staff and the whole audit log."""

from __future__ import annotations

import functools
import uuid
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from controlplane.audit.models import AuditEvent
from controlplane.audit.services import Actor
from controlplane.web import tenant_admin
from controlplane.web.access import staff_can_write, staff_tenant, staff_view
from controlplane.web.audit_log import audit_export, audit_page
from controlplane.web.forms import (
    AuditFilterForm,
    DepartmentForm,
    InvitationForm,
    TenantCreateForm,
    TenantSettingsForm,
    add_service_error,
)
from controlplane.web.htmx import vary_on_htmx, wants_fragment
from controlplane.web.tenant_admin import TenantAdmin
from tenants import selectors, services
from tenants.models import Tenant

RECENT_EVENTS = 15


@staff_view()
@require_http_methods(["GET", "HEAD", "POST"])
def tenants(request: HttpRequest) -> HttpResponse:
    form = TenantCreateForm(data=request.POST if request.method == "POST" else None)
    if form.is_bound and form.is_valid():
        try:
            tenant = services.tenant_create(actor=Actor.from_request(request), **form.cleaned_data)
        except ValidationError as error:
            add_service_error(form, error)
        else:
            messages.success(request, f"Tenant {tenant.name} was created.")
            return redirect("web:console_tenant", tenant.slug)
    query = request.GET.get("q", "")
    context = {
        "tenants": selectors.tenants_with_counts(query),
        "q": query,
        "form": form,
        "can_write": staff_can_write(request.user),
    }
    if request.method == "GET" and wants_fragment(request):
        return vary_on_htmx(render(request, "console/_tenant_results.html", context))
    return vary_on_htmx(render(request, "console/tenants.html", context))


def _admin(request: HttpRequest, tenant: Tenant) -> TenantAdmin:
    page = reverse("web:console_tenant", args=[tenant.slug])
    render_page = functools.partial(_tenant_page, request, tenant)
    return TenantAdmin(
        request=request,
        tenant=tenant,
        area="console",
        can_edit=staff_can_write(request.user),
        people_url=f"{page}#people",
        departments_url=f"{page}#departments",
        render_people=render_page,
        render_departments=render_page,
    )


def _tenant_page(
    request: HttpRequest,
    tenant: Tenant,
    *,
    settings_form: TenantSettingsForm | None = None,
    invite_form: InvitationForm | None = None,
    department_form: DepartmentForm | None = None,
) -> HttpResponse:
    admin = _admin(request, tenant)
    context: dict[str, Any] = {
        "tenant": tenant,
        "settings_form": settings_form or TenantSettingsForm.for_tenant(tenant),
        "events": AuditEvent.unscoped.filter(tenant=tenant).order_by("-seq")[:RECENT_EVENTS],
        **admin.people_context(invite_form),
        **admin.departments_context(department_form),
    }
    return render(request, "console/tenant_detail.html", context)


@staff_view()
@require_safe
def tenant_detail(request: HttpRequest, slug: str) -> HttpResponse:
    return _tenant_page(request, staff_tenant(slug))


@staff_view()
@require_POST
def tenant_settings(request: HttpRequest, slug: str) -> HttpResponse:
    tenant = staff_tenant(slug)
    form = TenantSettingsForm.for_tenant(tenant, data=request.POST)
    if form.is_valid():
        try:
            services.tenant_update(
                actor=Actor.from_request(request), tenant=tenant, **form.cleaned_data
            )
        except ValidationError as error:
            add_service_error(form, error)
            tenant.refresh_from_db()
        else:
            messages.success(request, f"Settings of {tenant.name} were saved.")
            return redirect("web:console_tenant", tenant.slug)
    return _tenant_page(request, tenant, settings_form=form)


@staff_view()
@require_POST
def member_role(request: HttpRequest, slug: str, pk: uuid.UUID) -> HttpResponse:
    return tenant_admin.change_role(_admin(request, staff_tenant(slug)), pk)


@staff_view()
@require_POST
def member_remove(request: HttpRequest, slug: str, pk: uuid.UUID) -> HttpResponse:
    return tenant_admin.remove_member(_admin(request, staff_tenant(slug)), pk)


@staff_view()
@require_POST
def member_mfa_reset(request: HttpRequest, slug: str, pk: uuid.UUID) -> HttpResponse:
    return tenant_admin.reset_second_factor(_admin(request, staff_tenant(slug)), pk)


@staff_view()
@require_POST
def invite(request: HttpRequest, slug: str) -> HttpResponse:
    return tenant_admin.invite(_admin(request, staff_tenant(slug)))


@staff_view()
@require_POST
def invitation_revoke(request: HttpRequest, slug: str, pk: uuid.UUID) -> HttpResponse:
    return tenant_admin.revoke_invitation(_admin(request, staff_tenant(slug)), pk)


@staff_view()
@require_POST
def department_create(request: HttpRequest, slug: str) -> HttpResponse:
    return tenant_admin.create_department(_admin(request, staff_tenant(slug)))


@staff_view()
@require_POST
def department_update(request: HttpRequest, slug: str, pk: uuid.UUID) -> HttpResponse:
    return tenant_admin.update_department(_admin(request, staff_tenant(slug)), pk)


@staff_view()
@require_POST
def department_delete(request: HttpRequest, slug: str, pk: uuid.UUID) -> HttpResponse:
    return tenant_admin.delete_department(_admin(request, staff_tenant(slug)), pk)


@staff_view()
@require_safe
def staff(request: HttpRequest) -> HttpResponse:
    return render(request, "console/staff.html", {"staff": selectors.staff_members()})


@staff_view()
@require_safe
def audit(request: HttpRequest) -> HttpResponse:
    form = AuditFilterForm(data=request.GET, tenants=Tenant.objects.order_by("name"))
    if request.GET.get("export") == "csv" and form.is_valid():
        return audit_export(AuditEvent.unscoped.all(), form, tenant=None, name="msp")
    page = audit_page(AuditEvent.unscoped.all(), form)
    return render(request, "console/audit.html", {"page": page})

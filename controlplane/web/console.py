"""The MSP staff console: every tenant, the staff and the whole audit log."""

from __future__ import annotations

import functools
import uuid
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from controlplane.accounts.models import StaffRole, User
from controlplane.accounts.staff import (
    staff_invite,
    staff_role_change,
    staff_send_password_link,
    staff_set_active,
)
from controlplane.audit.models import AuditEvent
from controlplane.audit.services import Actor
from controlplane.web import tenant_admin
from controlplane.web.access import staff_can_write, staff_tenant, staff_view
from controlplane.web.audit_log import audit_export, audit_page, audit_rows
from controlplane.web.forms import (
    AuditFilterForm,
    DepartmentForm,
    InvitationForm,
    StaffInviteForm,
    StaffRoleForm,
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
        "events": audit_rows(
            list(AuditEvent.unscoped.filter(tenant=tenant).order_by("-seq")[:RECENT_EVENTS]),
            tenant,
        ),
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


STAFF_ADMINS = (StaffRole.ADMIN,)


def _staff_page(request: HttpRequest, invite_form: StaffInviteForm | None = None) -> HttpResponse:
    user = request.user
    can_manage = getattr(user, "staff_role", "") == StaffRole.ADMIN
    rows = [
        (person, StaffRoleForm(initial={"role": person.staff_role}, prefix=person.pk.hex))
        for person in selectors.staff_members()
    ]
    context = {
        "rows": rows,
        "can_manage": can_manage,
        "invite_form": (invite_form or StaffInviteForm()) if can_manage else None,
    }
    return render(request, "console/staff.html", context, status=400 if invite_form else 200)


@staff_view(write_roles=STAFF_ADMINS)
@require_http_methods(["GET", "HEAD", "POST"])
def staff(request: HttpRequest) -> HttpResponse:
    """The MSP's staff; admins invite people here (POST)."""
    if request.method != "POST":
        return _staff_page(request)
    form = StaffInviteForm(request.POST)
    if form.is_valid():
        try:
            person = staff_invite(actor=Actor.from_request(request), **form.cleaned_data)
        except ValidationError as error:
            add_service_error(form, error)
        else:
            messages.success(
                request,
                f"{person.email} was invited as {person.get_staff_role_display().lower()}; "
                "they got an email to set their password.",
            )
            return redirect("web:console_staff")
    return _staff_page(request, invite_form=form)


def _staff_member(pk: uuid.UUID) -> User:
    person = User.objects.filter(pk=pk).exclude(staff_role="").first()
    if person is None:
        raise Http404
    return person


@staff_view(write_roles=STAFF_ADMINS)
@require_POST
def staff_role(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    person = _staff_member(pk)
    form = StaffRoleForm(request.POST, prefix=person.pk.hex)
    if not form.is_valid():
        messages.error(request, f"{person.email}: choose admin, operator or auditor.")
        return redirect("web:console_staff")
    try:
        staff_role_change(
            actor=Actor.from_request(request), user=person, role=form.cleaned_data["role"]
        )
    except ValidationError as error:
        messages.error(request, f"{person.email}: {' '.join(error.messages)}")
    else:
        messages.success(request, f"{person.email} is now {person.get_staff_role_display()}.")
    return redirect("web:console_staff")


@staff_view(write_roles=STAFF_ADMINS)
@require_POST
def staff_resend(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    person = _staff_member(pk)
    if person.has_usable_password() or not person.is_active:
        messages.info(request, f"{person.email} has already set a password.")
    else:
        staff_send_password_link(actor=Actor.from_request(request), user=person)
        messages.success(request, f"A new link to set a password was sent to {person.email}.")
    return redirect("web:console_staff")


@staff_view(write_roles=STAFF_ADMINS)
@require_POST
def staff_active(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    person = _staff_member(pk)
    active = request.POST.get("active") == "true"
    try:
        staff_set_active(actor=Actor.from_request(request), user=person, active=active)
    except ValidationError as error:
        messages.error(request, f"{person.email}: {' '.join(error.messages)}")
    else:
        messages.success(
            request,
            f"{person.email} was reactivated."
            if active
            else f"{person.email} was deactivated: they can no longer sign in or use the API.",
        )
    return redirect("web:console_staff")


@staff_view()
@require_safe
def audit(request: HttpRequest) -> HttpResponse:
    form = AuditFilterForm(data=request.GET, tenants=Tenant.objects.order_by("name"))
    if request.GET.get("export") == "csv" and form.is_valid():
        return audit_export(AuditEvent.unscoped.all(), form, tenant=None, name="msp")
    page = audit_page(AuditEvent.unscoped.all(), form)
    return render(request, "console/audit.html", {"page": page})

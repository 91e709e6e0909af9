"""The customer portal: one tenant's own pages, at /t/<slug>/, for its members."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from controlplane.agents.models import Agent, EdgeNode
from controlplane.audit.models import AuditEvent
from controlplane.audit.services import Actor
from controlplane.web import tenant_admin
from controlplane.web.access import TENANT_ADMINS, portal_membership, portal_tenant, portal_view
from controlplane.web.audit_log import audit_export, audit_page
from controlplane.web.forms import AuditFilterForm, DepartmentForm, InvitationForm, TenantMfaForm
from controlplane.web.tenant_admin import TenantAdmin
from tenants import selectors, services
from tenants.models import Department, Invitation, Membership, TenantRole

OWNER_ONLY = (TenantRole.OWNER,)


def _admin(request: HttpRequest) -> TenantAdmin:
    tenant = portal_tenant(request)
    role = portal_membership(request).role
    return TenantAdmin(
        request=request,
        tenant=tenant,
        area="portal",
        can_edit=role in TENANT_ADMINS,
        people_url=reverse("web:portal_people", args=[tenant.slug]),
        departments_url=reverse("web:portal_departments", args=[tenant.slug]),
        render_people=lambda **forms: _people_page(request, **forms),
        render_departments=lambda **forms: _departments_page(request, **forms),
    )


@portal_view()
@require_safe
def home(request: HttpRequest, slug: str) -> HttpResponse:
    counts = selectors.tenant_counts(
        Membership.objects.all(), Department.objects.all(), Invitation.objects.all()
    )
    context = {
        "tenant": portal_tenant(request),
        "membership": portal_membership(request),
        "counts": counts,
        "departments": selectors.departments(Department.objects.all()),
        "agents": Agent.objects.count(),
        "edge_nodes": EdgeNode.objects.count(),
    }
    return render(request, "portal/home.html", context)


def _people_page(request: HttpRequest, invite_form: InvitationForm | None = None) -> HttpResponse:
    context = {"tenant": portal_tenant(request), **_admin(request).people_context(invite_form)}
    return render(request, "portal/people.html", context)


def _departments_page(
    request: HttpRequest, department_form: DepartmentForm | None = None
) -> HttpResponse:
    context = {
        "tenant": portal_tenant(request),
        **_admin(request).departments_context(department_form),
    }
    return render(request, "portal/departments.html", context)


@portal_view()
@require_safe
def people(request: HttpRequest, slug: str) -> HttpResponse:
    return _people_page(request)


@portal_view()
@require_POST
def invite(request: HttpRequest, slug: str) -> HttpResponse:
    return tenant_admin.invite(_admin(request))


@portal_view()
@require_POST
def member_role(request: HttpRequest, slug: str, pk: uuid.UUID) -> HttpResponse:
    return tenant_admin.change_role(_admin(request), pk)


@portal_view()
@require_POST
def member_remove(request: HttpRequest, slug: str, pk: uuid.UUID) -> HttpResponse:
    return tenant_admin.remove_member(_admin(request), pk)


@portal_view()
@require_POST
def member_mfa_reset(request: HttpRequest, slug: str, pk: uuid.UUID) -> HttpResponse:
    return tenant_admin.reset_second_factor(_admin(request), pk)


@portal_view()
@require_POST
def invitation_revoke(request: HttpRequest, slug: str, pk: uuid.UUID) -> HttpResponse:
    return tenant_admin.revoke_invitation(_admin(request), pk)


@portal_view()
@require_safe
def departments(request: HttpRequest, slug: str) -> HttpResponse:
    return _departments_page(request)


@portal_view()
@require_POST
def department_create(request: HttpRequest, slug: str) -> HttpResponse:
    return tenant_admin.create_department(_admin(request))


@portal_view()
@require_POST
def department_update(request: HttpRequest, slug: str, pk: uuid.UUID) -> HttpResponse:
    return tenant_admin.update_department(_admin(request), pk)


@portal_view()
@require_POST
def department_delete(request: HttpRequest, slug: str, pk: uuid.UUID) -> HttpResponse:
    return tenant_admin.delete_department(_admin(request), pk)


@portal_view()
@require_safe
def audit(request: HttpRequest, slug: str) -> HttpResponse:
    tenant, form = portal_tenant(request), AuditFilterForm(data=request.GET)
    if request.GET.get("export") == "csv" and form.is_valid():
        return audit_export(AuditEvent.objects.all(), form, tenant=tenant, name=tenant.slug)
    page = audit_page(AuditEvent.objects.all(), form, tenant=tenant)
    return render(request, "portal/audit.html", {"tenant": tenant, "page": page})


@portal_view(write_roles=OWNER_ONLY)
@require_http_methods(["GET", "HEAD", "POST"])
def settings(request: HttpRequest, slug: str) -> HttpResponse:
    tenant = portal_tenant(request)
    is_owner = portal_membership(request).role == TenantRole.OWNER
    if request.method == "POST":
        form = TenantMfaForm(data=request.POST)
        if form.is_valid():
            services.tenant_update(
                actor=Actor.from_request(request), tenant=tenant, **form.cleaned_data
            )
            messages.success(
                request,
                "Two-factor sign-in is now required for everyone."
                if tenant.mfa_required
                else "Two-factor sign-in is now optional.",
            )
            return redirect("web:portal_settings", tenant.slug)
    else:
        form = TenantMfaForm(initial={"mfa_required": tenant.mfa_required})
    context = {"tenant": tenant, "form": form if is_owner else None}
    return render(request, "portal/settings.html", context)

"""People, invitations and departments of one tenant, managed from the staff console or
from the tenant's own portal. The two areas share these handlers and their partials;
they differ in how rows are read (``TenantAdmin.rows``), who may do what, and which
page a form error is shown on.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect

from controlplane.accounts.models import TOTPDevice
from controlplane.accounts.services import mfa_reset
from controlplane.audit.services import Actor
from controlplane.web.access import portal_membership
from controlplane.web.forms import (
    DepartmentForm,
    InvitationForm,
    MemberAccessForm,
    add_service_error,
)
from controlplane.web.htmx import fragment_response, is_htmx
from tenants import selectors, services
from tenants.models import Department, Invitation, Membership, Tenant

M = TypeVar("M", bound=Model)
Area = Literal["console", "portal"]
PageRenderer = Callable[..., HttpResponse]

# URL names both areas define, as ``web:<area>_<name>``; each takes the tenant slug
# and, for the object ones, the object's id.
ACTION_NAMES = (
    "member_role",
    "member_remove",
    "member_mfa_reset",
    "invite",
    "invitation_revoke",
    "department_create",
    "department_update",
    "department_delete",
)


@dataclass(frozen=True)
class MemberRow:
    membership: Membership
    form: MemberAccessForm | None
    can_remove: bool
    has_second_factor: bool


@dataclass(frozen=True)
class DepartmentRow:
    department: Department
    form: DepartmentForm | None


@dataclass(frozen=True)
class TenantAdmin:
    request: HttpRequest
    tenant: Tenant
    area: Area
    can_edit: bool
    people_url: str
    departments_url: str
    render_people: PageRenderer = field(repr=False)
    render_departments: PageRenderer = field(repr=False)

    @property
    def names(self) -> dict[str, str]:
        return {name: f"web:{self.area}_{name}" for name in ACTION_NAMES}

    @property
    def actor(self) -> Actor:
        return Actor.from_request(self.request)

    @property
    def acting_role(self) -> str | None:
        """The tenant role the owner rule (tenants.services) is applied to: the person's
        own role in the portal, None for MSP staff in the console."""
        if self.area == "console":
            return None
        return portal_membership(self.request).role

    @property
    def roles(self) -> list[str]:
        """Roles this person may hand out. Only owners (and MSP staff) make owners."""
        return services.grantable_roles(self.acting_role)

    def rows(self, model: type[M]) -> QuerySet[M]:
        """``model``'s rows of this tenant. The portal runs in the tenant's context and
        reads through the scoped manager; the console runs across tenants and filters."""
        if self.area == "portal":
            return model.objects.all()  # type: ignore[attr-defined]
        return model.unscoped.filter(tenant=self.tenant)  # type: ignore[attr-defined]

    def get(self, model: type[M], pk: uuid.UUID) -> M:
        """The object named in the URL, if it belongs to this tenant; 404 otherwise."""
        obj = self.rows(model).filter(pk=pk).first()
        if obj is None:
            raise Http404
        return obj

    def may_change(self, membership: Membership) -> bool:
        return self.can_edit and services.may_change_membership(self.acting_role, membership)

    def require_change(self, membership: Membership) -> None:
        if not self.may_change(membership):
            raise PermissionDenied("Only an owner can change another owner.")

    # --- what the partials show ---------------------------------------------------

    def role_form(self, membership: Membership, data: Any = None) -> MemberAccessForm | None:
        if not self.may_change(membership):
            return None
        return MemberAccessForm(
            data=data,
            initial={
                "role": membership.role,
                "departments": [str(d.pk) for d in membership.departments.all()],
            },
            roles=self.roles,
            departments=selectors.departments(self.rows(Department)),
            prefix=f"m{membership.pk.hex}",
        )

    def member_row(self, membership: Membership, form: MemberAccessForm | None = None) -> MemberRow:
        return MemberRow(
            membership=membership,
            form=form or self.role_form(membership),
            can_remove=self.may_change(membership),
            has_second_factor=TOTPDevice.objects.filter(user_id=membership.user_id).exists(),
        )

    def department_form(self, department: Department, data: Any = None) -> DepartmentForm | None:
        if not self.can_edit:
            return None
        return DepartmentForm.for_department(department, data=data)

    def people_context(self, invite_form: InvitationForm | None = None) -> dict[str, Any]:
        memberships = selectors.members(self.rows(Membership))
        invitations = (
            list(selectors.pending_invitations(self.rows(Invitation))) if self.can_edit else []
        )
        return {
            "admin": self,
            "member_rows": [self.member_row(m) for m in memberships],
            "invitations": invitations,
            "invite_form": invite_form or InvitationForm(roles=self.roles),
        }

    def departments_context(self, department_form: DepartmentForm | None = None) -> dict[str, Any]:
        rows = selectors.departments(self.rows(Department))
        return {
            "admin": self,
            "department_rows": [DepartmentRow(d, self.department_form(d)) for d in rows],
            "department_form": department_form or DepartmentForm(),
        }


def _row_done(
    admin: TenantAdmin, template: str | None, context: dict[str, Any], back_to: str
) -> HttpResponse:
    """After a row action: swap the row (or remove it) for htmx, back to the page
    otherwise. The outcome is in the messages either way."""
    if is_htmx(admin.request):
        return fragment_response(admin.request, template, {"admin": admin, **context})
    return redirect(back_to)


# --- people ---------------------------------------------------------------------------


def change_role(admin: TenantAdmin, pk: uuid.UUID) -> HttpResponse:
    request = admin.request
    membership = admin.get(Membership, pk)
    admin.require_change(membership)
    form = admin.role_form(membership, data=request.POST)
    assert form is not None
    if form.is_valid():
        try:
            with transaction.atomic():
                services.membership_change_role(
                    actor=admin.actor,
                    membership=membership,
                    role=form.cleaned_data["role"],
                    acting_role=admin.acting_role,
                )
                if "departments" in form.fields:
                    chosen = set(form.cleaned_data["departments"])
                    services.membership_set_departments(
                        actor=admin.actor,
                        membership=membership,
                        departments=[d for d in admin.rows(Department) if str(d.pk) in chosen],
                    )
        except ValidationError as error:
            add_service_error(form, error)
            membership.refresh_from_db()
    if form.errors:
        messages.error(request, f"{membership.user.email}: {' '.join(_errors(form))}")
        row = admin.member_row(membership, form=form)
    else:
        limited = sorted(d.name for d in membership.departments.all())
        sees = f"sees {', '.join(limited)} only" if limited else "sees every department"
        messages.success(request, f"{membership.user.email} is now {membership.role} and {sees}.")
        row = admin.member_row(membership)
    return _row_done(admin, "partials/member_row.html", {"row": row}, admin.people_url)


def remove_member(admin: TenantAdmin, pk: uuid.UUID) -> HttpResponse:
    request = admin.request
    membership = admin.get(Membership, pk)
    admin.require_change(membership)
    email = membership.user.email
    try:
        services.membership_remove(
            actor=admin.actor, membership=membership, acting_role=admin.acting_role
        )
    except ValidationError as error:
        messages.error(request, f"{email} was not removed: {' '.join(error.messages)}")
        row = admin.member_row(membership)
        return _row_done(admin, "partials/member_row.html", {"row": row}, admin.people_url)
    messages.success(request, f"{email} was removed and can no longer sign in.")
    return _row_done(admin, None, {}, admin.people_url)


def reset_second_factor(admin: TenantAdmin, pk: uuid.UUID) -> HttpResponse:
    """A person lost their authenticator: remove it, so that they set up a new one at
    their next sign-in (where the tenant requires it). Audited; the person is told."""
    membership = admin.get(Membership, pk)
    admin.require_change(membership)
    person = membership.user
    if not TOTPDevice.objects.filter(user=person).exists():
        messages.info(admin.request, f"{person.email} has no second factor to reset.")
    else:
        mfa_reset(actor=admin.actor, user=person)
        messages.success(
            admin.request,
            f"{person.email}'s second factor was reset; they set up a new one at their next "
            "sign-in. They were told by email.",
        )
    return _row_done(
        admin, "partials/member_row.html", {"row": admin.member_row(membership)}, admin.people_url
    )


def invite(admin: TenantAdmin) -> HttpResponse:
    request = admin.request
    form = InvitationForm(data=request.POST, roles=admin.roles)
    if form.is_valid():
        replaces = (
            admin.rows(Invitation)
            .filter(
                email__iexact=form.cleaned_data["email"].strip(),
                accepted_at__isnull=True,
                revoked_at__isnull=True,
            )
            .exists()
        )
        try:
            invitation, link = services.invitation_create(
                actor=admin.actor,
                tenant=admin.tenant,
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
                acting_role=admin.acting_role,
            )
        except ValidationError as error:
            add_service_error(form, error)
        else:
            replaced = (
                " It replaces the earlier invitation: that link no longer works."
                if replaces
                else ""
            )
            messages.success(
                request,
                f"Invitation sent to {invitation.email} as {invitation.role}.{replaced} "
                f"The link, shown only this once: {link}",
            )
            return redirect(admin.people_url)
    return admin.render_people(invite_form=form)


def revoke_invitation(admin: TenantAdmin, pk: uuid.UUID) -> HttpResponse:
    invitation = admin.get(Invitation, pk)
    if invitation.accepted_at or invitation.revoked_at:
        messages.info(admin.request, f"The invitation of {invitation.email} was already closed.")
    else:
        services.invitation_revoke(actor=admin.actor, invitation=invitation)
        messages.success(admin.request, f"The invitation of {invitation.email} was revoked.")
    return _row_done(admin, None, {}, admin.people_url)


# --- departments ----------------------------------------------------------------------


def create_department(admin: TenantAdmin) -> HttpResponse:
    request = admin.request
    form = DepartmentForm(data=request.POST)
    if form.is_valid():
        try:
            department = services.department_create(
                actor=admin.actor, tenant=admin.tenant, **form.cleaned_data
            )
        except ValidationError as error:
            add_service_error(form, error)
        else:
            messages.success(request, f"Department {department.name} was added.")
            return redirect(admin.departments_url)
    return admin.render_departments(department_form=form)


def update_department(admin: TenantAdmin, pk: uuid.UUID) -> HttpResponse:
    request = admin.request
    department = admin.get(Department, pk)
    form = admin.department_form(department, data=request.POST)
    assert form is not None
    if form.is_valid():
        try:
            services.department_update(
                actor=admin.actor, department=department, **form.cleaned_data
            )
        except ValidationError as error:
            add_service_error(form, error)
            department.refresh_from_db()
    if form.errors:
        messages.error(request, f"{department.name} was not renamed: {' '.join(_errors(form))}")
        row = DepartmentRow(department, form)
    else:
        messages.success(request, f"Department {department.name} was saved.")
        row = DepartmentRow(department, admin.department_form(department))
    return _row_done(admin, "partials/department_row.html", {"row": row}, admin.departments_url)


def delete_department(admin: TenantAdmin, pk: uuid.UUID) -> HttpResponse:
    department = admin.get(Department, pk)
    name = department.name
    services.department_delete(actor=admin.actor, department=department)
    messages.success(admin.request, f"Department {name} was deleted.")
    return _row_done(admin, None, {}, admin.departments_url)


def _errors(form: Any) -> list[str]:
    return [str(message) for errors in form.errors.values() for message in errors]

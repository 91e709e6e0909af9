"""A tenant's evidence packages: the list, a request for a new one, the download. In
the console (staff; admins and operators request), the portal (the tenant's owner) and
the auditor area (packages inside the auditor's period; they request none)."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render

from compliance.models import EvidencePackage
from compliance.packages import selectors
from compliance.packages.services import package_downloaded, package_request
from controlplane.accounts.models import User
from controlplane.web.access import portal_membership
from controlplane.web.auditor_area import auditor_views
from controlplane.web.auditor_forms import PeriodForm
from controlplane.web.forms import add_service_error
from controlplane.web.scope import READ, READ_WRITE, Scope, tenant_views
from tenants.models import TenantRole


def _check_reader(scope: Scope) -> None:
    """In the portal, packages are the owner's."""
    if scope.area == "portal" and portal_membership(scope.request).role != TenantRole.OWNER:
        raise PermissionDenied("Evidence packages are for the tenant's owner.")


def _can_request(scope: Scope) -> bool:
    return scope.can_edit and scope.area != "auditor"


def packages(scope: Scope) -> HttpResponse:
    _check_reader(scope)
    form = PeriodForm(data=scope.request.POST if scope.request.method == "POST" else None)
    if form.is_bound:
        if not _can_request(scope):
            raise PermissionDenied("Your role cannot request packages.")
        if form.is_valid():
            user = scope.request.user
            try:
                package = package_request(
                    actor=scope.actor,
                    tenant=scope.tenant,
                    period=form.cleaned_data["period"],
                    requested_by=user if isinstance(user, User) else None,
                )
            except ValidationError as error:
                add_service_error(form, error)
            else:
                messages.success(
                    scope.request,
                    f"The package of {package.period_start} to {package.period_end} is being "
                    "made; it appears here when ready.",
                )
                return redirect(scope.url("evidence_packages"))
    context = {
        "scope": scope,
        "packages": selectors.packages(scope.rows(EvidencePackage), scope.period),
        "form": form if _can_request(scope) else None,
    }
    return render(scope.request, "compliance/packages.html", context)


def package_download(scope: Scope, pk: uuid.UUID) -> HttpResponse:
    _check_reader(scope)
    package = selectors.packages(scope.rows(EvidencePackage), scope.period).filter(pk=pk).first()
    if package is None or package.status != EvidencePackage.Status.READY:
        raise Http404
    package = scope.get(EvidencePackage, pk)  # now with its content
    data = package_downloaded(actor=scope.actor, package=package)
    response = HttpResponse(data, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{package.file_name}"'
    response["Cache-Control"] = "private, no-store"
    return response


PACKAGES = tenant_views(packages, READ_WRITE)
PACKAGE_DOWNLOAD = tenant_views(package_download, READ)
AUDITOR_PACKAGES = auditor_views(packages)
AUDITOR_PACKAGE_DOWNLOAD = auditor_views(package_download)

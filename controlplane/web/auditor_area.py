"""The outside auditors' area, ``/auditor/``: read-only, only the tenants their account
names, only data of its period (docs/decisions/0037-auditor-access-and-evidence-packages.md).

Anyone else, and an auditor asking for another tenant, gets the same 404 as for a
tenant that does not exist. Writes never reach these views:
``AuditorReadOnlyMiddleware`` refuses them first, and each view allows only GET/HEAD.
An expired or revoked account is signed out before it gets here (``EmailBackend``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_http_methods

from compliance.periods import Period
from controlplane.accounts.models import AuditorAccount, AuditorTenant, User
from controlplane.core.tenancy import tenant_context
from controlplane.web.scope import READ, Handler, Scope
from tenants.models import Tenant

View = Callable[..., HttpResponse]


def auditor_account(request: HttpRequest) -> AuditorAccount:
    """The signed-in auditor's account (set by the decorators below)."""
    account: AuditorAccount = request.auditor_account  # type: ignore[attr-defined]
    return account


def account_period(account: AuditorAccount) -> Period:
    return Period(account.period_start, account.period_end)


def _account_of(request: HttpRequest) -> AuditorAccount:
    user = request.user
    if not isinstance(user, User) or not user.is_external_auditor:
        raise Http404
    account = user.auditor_account
    request.auditor_account = account  # type: ignore[attr-defined]
    request.nav_area = "auditor"  # type: ignore[attr-defined]
    return account


def auditor_home_view(view: View) -> View:
    """A page of the area that names no tenant (``/auditor/``)."""

    @functools.wraps(view)
    @require_http_methods(list(READ))
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        _account_of(request)
        return view(request, *args, **kwargs)

    return wrapper


def auditor_view(view: View) -> View:
    """A page of one of the auditor's tenants, ``view(request, slug, ...)``, run as
    that tenant (ORM scope and row-level security); sets ``request.tenant``."""

    @functools.wraps(view)
    @require_http_methods(list(READ))
    def wrapper(request: HttpRequest, slug: str, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        account = _account_of(request)
        tenant = Tenant.objects.filter(slug=slug, status=Tenant.Status.ACTIVE).first()
        if tenant is None:
            raise Http404
        with tenant_context(tenant):
            if not AuditorTenant.objects.filter(account=account).exists():
                raise Http404
            request.tenant = tenant  # type: ignore[attr-defined]
            return view(request, slug, *args, **kwargs)

    return wrapper


def auditor_scope(request: HttpRequest) -> Scope:
    return Scope(
        request=request,
        tenant=request.tenant,  # type: ignore[attr-defined]
        area="auditor",
        can_edit=False,
        period=account_period(auditor_account(request)),
    )


def auditor_views(handler: Handler) -> View:
    """The auditor's view of a tenant page handler (``handler(scope, **url_kwargs)``),
    as ``tenant_views`` makes the portal's and the console's."""

    @auditor_view
    @functools.wraps(handler)
    def in_auditor_area(request: HttpRequest, slug: str, **kwargs: Any) -> HttpResponse:
        return handler(auditor_scope(request), **kwargs)

    return in_auditor_area

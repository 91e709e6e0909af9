"""Who may open which page. Every console and portal view goes through one of these.

``staff_view`` runs the view across all tenants (MSP staff see every tenant).
``portal_view`` runs it as the tenant in the URL, and only for a member of that tenant:
anyone else gets the same 404 as for a tenant that does not exist.
Writes (any method but GET/HEAD) need a role listed in ``write_roles``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Concatenate, ParamSpec

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse

from controlplane.accounts.models import StaffRole
from controlplane.core.tenancy import all_tenants_context, tenant_context
from tenants.models import Membership, Tenant, TenantRole

P = ParamSpec("P")
View = Callable[Concatenate[HttpRequest, P], HttpResponse]
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

STAFF_WRITERS = (StaffRole.ADMIN, StaffRole.OPERATOR)
TENANT_ADMINS = (TenantRole.OWNER, TenantRole.ADMIN)


def _login_redirect(request: HttpRequest) -> HttpResponse:
    return redirect_to_login(request.get_full_path())


def staff_view(*, write_roles: Iterable[str] = STAFF_WRITERS) -> Callable[[View[P]], View[P]]:
    allowed_writers = frozenset(write_roles)

    def decorator(view: View[P]) -> View[P]:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: P.args, **kwargs: P.kwargs) -> HttpResponse:
            user = request.user
            if not user.is_authenticated:
                return _login_redirect(request)
            if not user.is_msp_staff:
                raise Http404
            if request.method not in SAFE_METHODS and user.staff_role not in allowed_writers:
                raise PermissionDenied("Your staff role is read-only here.")
            request.nav_area = "console"  # type: ignore[attr-defined]
            with all_tenants_context():
                return view(request, *args, **kwargs)

        return wrapper

    return decorator


def staff_tenant(slug: str) -> Tenant:
    """The tenant a staff view names in its URL, or 404."""
    tenant = Tenant.objects.filter(slug=slug).first()
    if tenant is None:
        raise Http404
    return tenant


def portal_view(
    *, write_roles: Iterable[str] = TENANT_ADMINS
) -> Callable[[View[Concatenate[str, P]]], View[Concatenate[str, P]]]:
    """For views of the form ``view(request, slug, ...)``; sets ``request.tenant`` and
    ``request.membership``."""
    allowed_writers = frozenset(write_roles)

    def decorator(view: View[Concatenate[str, P]]) -> View[Concatenate[str, P]]:
        @functools.wraps(view)
        def wrapper(
            request: HttpRequest, slug: str, *args: P.args, **kwargs: P.kwargs
        ) -> HttpResponse:
            user = request.user
            if not user.is_authenticated:
                return _login_redirect(request)
            tenant = Tenant.objects.filter(slug=slug, status=Tenant.Status.ACTIVE).first()
            if tenant is None:
                raise Http404
            with tenant_context(tenant):
                membership = Membership.objects.filter(user=user).first()
                if membership is None:
                    raise Http404
                if request.method not in SAFE_METHODS and membership.role not in allowed_writers:
                    raise PermissionDenied("Your role cannot change this.")
                request.tenant = tenant  # type: ignore[attr-defined]
                request.membership = membership  # type: ignore[attr-defined]
                request.nav_area = "portal"  # type: ignore[attr-defined]
                return view(request, slug, *args, **kwargs)

        return wrapper

    return decorator


def staff_can_write(user: object) -> bool:
    """Whether a staff member's role may change things (the console hides forms if not)."""
    return getattr(user, "staff_role", "") in STAFF_WRITERS


def portal_tenant(request: HttpRequest) -> Tenant:
    """The tenant ``portal_view`` runs the view as."""
    tenant: Tenant = request.tenant  # type: ignore[attr-defined]
    return tenant


def portal_membership(request: HttpRequest) -> Membership:
    """The signed-in person's membership of that tenant."""
    membership: Membership = request.membership  # type: ignore[attr-defined]
    return membership

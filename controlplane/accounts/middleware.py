"""Nobody who owes a second factor gets past the pages that collect it.

For a signed-in browser session:

* the user has an authenticator but this session has not passed it → ``/login/mfa/``;
* the user must use one (staff always; customers when their tenant says so) and has
  none → ``/account/mfa/setup/``.

Only the pages needed to finish either step, sign out or recover an account are
exempt. API requests are exempt because the API authenticates bearer tokens only,
never the session cookie (REST_FRAMEWORK's DEFAULT_AUTHENTICATION_CLASSES).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from urllib.parse import urlencode

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django_htmx.http import HttpResponseClientRedirect

from controlplane.accounts.mfa import is_mfa_verified, mfa_enrolled, mfa_required_for
from controlplane.accounts.models import User


class MfaEnforcementMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    @cached_property
    def exempt_prefixes(self) -> tuple[str, ...]:
        # Resolved on first use: the URLconf is not loaded when middleware is built.
        return (
            reverse("accounts:login"),
            reverse("accounts:logout"),
            reverse("accounts:mfa_setup"),
            "/password-reset/",
            "/invitations/",
            settings.STATIC_URL or "/static/",
            "/healthz",
            "/api/",
        )

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if (
            isinstance(user, User)
            and user.is_authenticated
            and not request.path.startswith(self.exempt_prefixes)
        ):
            if mfa_enrolled(user):
                if not is_mfa_verified(request):
                    return self._redirect(request, reverse("accounts:mfa_verify"))
            elif mfa_required_for(user):
                return self._redirect(request, reverse("accounts:mfa_setup"))
        return self.get_response(request)

    @staticmethod
    def _redirect(request: HttpRequest, target: str) -> HttpResponse:
        # This middleware runs before django-htmx's, so it reads the header itself.
        if request.headers.get("HX-Request") == "true":
            # A fragment URL is no page to come back to: htmx navigates the whole page.
            return HttpResponseClientRedirect(target)
        if request.method == "GET":
            target = f"{target}?{urlencode({'next': request.get_full_path()})}"
        return HttpResponseRedirect(target)


class AuditorReadOnlyMiddleware:
    """An outside auditor changes nothing: every request but GET, HEAD and OPTIONS is
    refused (403), whatever the page, except signing out and setting up the second
    factor their account must have."""

    ALLOWED = ("accounts:logout", "accounts:mfa_setup")

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    @cached_property
    def allowed_paths(self) -> frozenset[str]:
        return frozenset(reverse(name) for name in self.ALLOWED)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if (
            request.method not in ("GET", "HEAD", "OPTIONS")
            and isinstance(user, User)
            and user.is_authenticated
            and user.is_external_auditor
            and request.path not in self.allowed_paths
        ):
            raise PermissionDenied("An auditor's access is read-only.")
        return self.get_response(request)

"""Sign-in, second factor, account, password reset and invitation pages."""

from __future__ import annotations

import math
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout, update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordChangeForm
from django.contrib.auth.views import (
    PasswordResetCompleteView,
    PasswordResetConfirmView,
    PasswordResetDoneView,
    PasswordResetView,
)
from django.core.exceptions import ValidationError
from django.db import IntegrityError
from django.forms import Form
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse_lazy
from django.utils.cache import add_never_cache_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from controlplane.accounts import mfa, services
from controlplane.accounts.forms import (
    CodeForm,
    InvitationAcceptForm,
    ProfileForm,
    SetupConfirmForm,
    SignInForm,
)
from controlplane.accounts.models import User
from controlplane.accounts.services import CodeOutcome, CodeResult, MfaChangeError, SignInOutcome
from controlplane.audit.services import client_ip
from tenants.services import invitation_accept, invitation_find_open

TOO_MANY = "Too many failed attempts. Try again in {minutes} minute{s}."
BAD_CREDENTIALS = "That email and password do not match an account, or the account is disabled."
BAD_CODE = "That code is not right, or it has already been used."
HTTP_TOO_MANY_REQUESTS = 429


def _safe_next(request: HttpRequest) -> str:
    """The ``next`` parameter when it points to this site, else empty."""
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return ""


def _after_sign_in(next_url: str) -> str:
    return next_url or resolve_url(settings.LOGIN_REDIRECT_URL)


def _locked_message(seconds: int) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    return TOO_MANY.format(minutes=minutes, s="" if minutes == 1 else "s")


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # the views below require sign-in
    return user


# --- Sign in and out ----------------------------------------------------------------------


@sensitive_post_parameters("password")
@never_cache
def login_view(request: HttpRequest) -> HttpResponse:
    next_url = _safe_next(request)
    if request.method != "POST" and request.user.is_authenticated:
        return redirect(_after_sign_in(next_url))
    form = SignInForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        result = services.sign_in_check_password(
            request=request,
            email=form.cleaned_data["email"],
            password=form.cleaned_data["password"],
        )
        if result.outcome is SignInOutcome.LOCKED:
            form.add_error(None, _locked_message(result.retry_after))
            status = HTTP_TOO_MANY_REQUESTS
        elif result.outcome is SignInOutcome.INVALID or result.user is None:
            form.add_error(None, BAD_CREDENTIALS)
        elif result.outcome is SignInOutcome.NEEDS_CODE:
            if request.user.is_authenticated:
                logout(request)
            request.session.cycle_key()
            mfa.pending_sign_in_start(request, user=result.user, next_url=next_url)
            return redirect("accounts:mfa_verify")
        else:
            mfa.pending_sign_in_clear(request)
            login(request, result.user)
            mfa.clear_mfa_verified(request)
            return redirect(_after_sign_in(next_url))
    return render(request, "accounts/login.html", {"form": form, "next": next_url}, status=status)


@sensitive_post_parameters("code")
@never_cache
def mfa_verify_view(request: HttpRequest) -> HttpResponse:
    """The second step of sign-in, or of a signed-in session that has not passed it."""
    pending = mfa.pending_sign_in(request)
    if pending is not None:
        user, next_url = pending.user, pending.next_url
    elif isinstance(request.user, User) and request.user.is_authenticated:
        if mfa.is_mfa_verified(request) or not mfa.mfa_enrolled(request.user):
            return redirect(_after_sign_in(_safe_next(request)))
        user, next_url = request.user, _safe_next(request)
    else:
        messages.info(request, "Your sign-in expired. Please sign in again.")
        return redirect("accounts:login")

    form = CodeForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        ip = client_ip(request)
        result = services.mfa_check_code(user=user, code=form.cleaned_data["code"], ip=ip)
        if result.accepted:
            if pending is not None:
                mfa.pending_sign_in_clear(request)
                login(request, user, backend=pending.backend or None)
            else:
                request.session.cycle_key()
            mfa.mark_mfa_verified(request)
            services.record_sign_in(
                user=user,
                ip=ip,
                via="password" if pending else "session",
                second_factor=result.method,
            )
            _warn_recovery_code_used(request, user, result)
            return redirect(_after_sign_in(next_url))
        status = _code_error(form, result)
    return render(
        request,
        "accounts/mfa_verify.html",
        {"form": form, "next": "" if pending else next_url, "email": user.email},
        status=status,
    )


def _warn_recovery_code_used(request: HttpRequest, user: User, result: CodeResult) -> None:
    if result.method == "recovery_code":
        left = mfa.recovery_codes_remaining(user)
        messages.warning(
            request,
            f"You signed in with a recovery code; {left} left. You can create new ones "
            "on your account page.",
        )


def _code_error(form: Form, result: CodeResult) -> int:
    """Put the failure of a code on the form; return the status of the page."""
    if result.outcome is CodeOutcome.LOCKED:
        form.add_error(None, _locked_message(result.retry_after))
        return HTTP_TOO_MANY_REQUESTS
    form.add_error("code", BAD_CODE)
    return 200


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    if isinstance(request.user, User) and request.user.is_authenticated:
        services.record_sign_out(user=request.user, ip=client_ip(request))
    logout(request)
    messages.info(request, "You are signed out.")
    return redirect("accounts:login")


# --- Account page -------------------------------------------------------------------------


def _account_page(request: HttpRequest, *, status: int = 200, **forms: Form) -> HttpResponse:
    user = _user(request)
    enrolled = mfa.mfa_enrolled(user)
    context: dict[str, Any] = {
        "profile_form": ProfileForm(initial={"full_name": user.full_name}),
        "password_form": PasswordChangeForm(user=user),
        "disable_form": CodeForm(prefix="disable", autofocus=False),
        "regenerate_form": CodeForm(prefix="regenerate", autofocus=False),
        "mfa_enrolled": enrolled,
        "mfa_required": mfa.mfa_required_for(user),
        "recovery_codes_left": mfa.recovery_codes_remaining(user) if enrolled else 0,
    }
    context.update(forms)
    context["password_form"].fields["old_password"].widget.attrs.pop("autofocus", None)
    return render(request, "accounts/account.html", context, status=status)


@login_required
@never_cache
def account_view(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return _account_page(request)
    form = ProfileForm(request.POST)
    if not form.is_valid():
        return _account_page(request, profile_form=form)
    services.profile_update(
        user=_user(request), full_name=form.cleaned_data["full_name"], ip=client_ip(request)
    )
    messages.success(request, "Your name is saved.")
    return redirect("accounts:account")


@login_required
@require_POST
@sensitive_post_parameters("old_password", "new_password1", "new_password2")
def password_change_view(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    form = PasswordChangeForm(user=user, data=request.POST)
    if not form.is_valid():
        return _account_page(request, password_form=form)
    services.password_change(
        user=user, new_password=form.cleaned_data["new_password1"], ip=client_ip(request)
    )
    update_session_auth_hash(request, user)
    messages.success(request, "Your password is changed. Your other sessions were signed out.")
    return redirect("accounts:account")


# --- Second factor: set up, turn off, new recovery codes ------------------------------------


@login_required
@never_cache
@sensitive_post_parameters("code")
def mfa_setup_view(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    next_url = _safe_next(request)
    try:
        setup = services.mfa_setup_start(
            user=user, encrypted_secret=request.session.get(mfa.SESSION_SETUP_SECRET)
        )
    except MfaChangeError as refusal:
        messages.info(request, str(refusal))
        return redirect("accounts:account")
    request.session[mfa.SESSION_SETUP_SECRET] = setup.encrypted_secret
    form = SetupConfirmForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            codes = services.mfa_setup_confirm(
                user=user, setup=setup, code=form.cleaned_data["code"], ip=client_ip(request)
            )
        except MfaChangeError as refusal:
            messages.info(request, str(refusal))
            return redirect("accounts:account")
        if codes is not None:
            request.session.pop(mfa.SESSION_SETUP_SECRET, None)
            request.session.cycle_key()
            mfa.mark_mfa_verified(request)
            return _recovery_codes_page(request, codes, next_url=next_url, first_setup=True)
        form.add_error(
            "code",
            "That code is not right. Check that the phone's clock is set "
            "automatically, and enter the code the app shows now.",
        )
    return render(
        request,
        "accounts/mfa_setup.html",
        {
            "form": form,
            "setup": setup,
            "required": mfa.mfa_required_for(user),
            "next": next_url,
        },
    )


def _recovery_codes_page(
    request: HttpRequest, codes: list[str], *, next_url: str, first_setup: bool
) -> HttpResponse:
    # Shown in the response to the POST, never stored in the session: once only.
    response = render(
        request,
        "accounts/recovery_codes.html",
        {"codes": codes, "next": next_url, "first_setup": first_setup},
    )
    add_never_cache_headers(response)
    return response


@login_required
@require_POST
@sensitive_post_parameters("disable-code")
def mfa_disable_view(request: HttpRequest) -> HttpResponse:
    form = CodeForm(request.POST, prefix="disable", autofocus=False)
    if not form.is_valid():
        return _account_page(request, disable_form=form)
    try:
        result = services.mfa_disable(
            user=_user(request), code=form.cleaned_data["code"], ip=client_ip(request)
        )
    except MfaChangeError as refusal:
        messages.error(request, str(refusal))
        return redirect("accounts:account")
    if not result.accepted:
        status = _code_error(form, result)
        return _account_page(request, status=status, disable_form=form)
    mfa.clear_mfa_verified(request)
    messages.success(request, "Two-factor sign-in is turned off.")
    return redirect("accounts:account")


@login_required
@require_POST
@sensitive_post_parameters("regenerate-code")
def recovery_codes_view(request: HttpRequest) -> HttpResponse:
    form = CodeForm(request.POST, prefix="regenerate", autofocus=False)
    if not form.is_valid():
        return _account_page(request, regenerate_form=form)
    try:
        result, codes = services.recovery_codes_regenerate(
            user=_user(request), code=form.cleaned_data["code"], ip=client_ip(request)
        )
    except MfaChangeError as refusal:
        messages.error(request, str(refusal))
        return redirect("accounts:account")
    if not result.accepted:
        status = _code_error(form, result)
        return _account_page(request, status=status, regenerate_form=form)
    return _recovery_codes_page(request, codes, next_url="", first_setup=False)


# --- Password reset -------------------------------------------------------------------------


class ResetRequestView(PasswordResetView):
    """Same page whether or not the email has an account."""

    template_name = "registration/password_reset_form.html"
    email_template_name = "registration/password_reset_email.txt"
    subject_template_name = "registration/password_reset_subject.txt"
    success_url = reverse_lazy("accounts:password_reset_done")

    def form_valid(self, form: Any) -> HttpResponse:
        # The configured public address, not the request's Host header, goes in the link.
        self.extra_email_context = {
            "public_url": settings.PUBLIC_URL,
            "valid_hours": _reset_link_hours(),
        }
        services.password_reset_requested(
            email=form.cleaned_data["email"], ip=client_ip(self.request)
        )
        return super().form_valid(form)


class ResetDoneView(PasswordResetDoneView):
    template_name = "registration/password_reset_done.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return {**super().get_context_data(**kwargs), "valid_hours": _reset_link_hours()}


def _reset_link_hours() -> int:
    return max(1, settings.PASSWORD_RESET_TIMEOUT // 3600)


class ResetConfirmView(PasswordResetConfirmView):
    template_name = "registration/password_reset_confirm.html"
    success_url = reverse_lazy("accounts:password_reset_complete")

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        services.password_reset_completed(user=form.user, ip=client_ip(self.request))
        return response


class ResetCompleteView(PasswordResetCompleteView):
    template_name = "registration/password_reset_complete.html"


# --- Invitations ------------------------------------------------------------------------------


@sensitive_post_parameters("password1", "password2")
@never_cache
def invitation_accept_view(request: HttpRequest, token: str) -> HttpResponse:
    invitation = invitation_find_open(token)
    if invitation is None:
        return render(request, "accounts/invitation_invalid.html", status=404)
    form = InvitationAcceptForm(request.POST or None, email=invitation.email)
    if request.method == "POST" and form.is_valid():
        ip = client_ip(request)
        try:
            user = invitation_accept(
                invitation=invitation,
                full_name=form.cleaned_data["full_name"],
                password=form.cleaned_data["password1"],
                ip=ip,
            )
        except (ValidationError, IntegrityError):  # accepted or revoked meanwhile
            return render(request, "accounts/invitation_invalid.html", status=404)
        if request.user.is_authenticated:
            logout(request)
        login(request, user, backend=settings.AUTHENTICATION_BACKENDS[0])
        services.record_sign_in(user=user, ip=ip, via="invitation", second_factor=None)
        messages.success(request, f"Welcome to {invitation.tenant.name}.")
        return redirect(_after_sign_in(""))
    return render(
        request,
        "accounts/invitation_accept.html",
        {"invitation": invitation, "tenant": invitation.tenant, "form": form},
    )

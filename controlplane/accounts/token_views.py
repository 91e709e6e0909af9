"""The API tokens page: a person's own personal API tokens (create, list, revoke).

The new token is shown once, on the GET after the POST that made it (post/redirect/get
through ``secret_once``), so a reload neither makes another token nor shows it again.
"""

from __future__ import annotations

import datetime as dt
import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_POST

from controlplane.accounts.forms import ApiTokenForm
from controlplane.accounts.models import User
from controlplane.api.models import ApiToken
from controlplane.api.tokens import api_token_create, api_token_revoke, api_token_tenant_for
from controlplane.audit.services import Actor
from controlplane.web import secret_once


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


def _page(request: HttpRequest, form: ApiTokenForm) -> HttpResponse:
    secret = secret_once.take(request)
    tokens = ApiToken.objects.filter(user=_user(request)).select_related("tenant")
    response = render(
        request,
        "accounts/tokens.html",
        {
            "form": form,
            "tokens": tokens,
            "secret": secret,
            "secret_spent": secret is None and secret_once.was_spent(request),
        },
    )
    add_never_cache_headers(response)
    return response


@login_required
def tokens_view(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return _page(request, ApiTokenForm())
    form = ApiTokenForm(request.POST)
    if not form.is_valid():
        return _page(request, form)
    user = _user(request)
    token, plaintext = api_token_create(
        actor=Actor.from_request(request),
        user=user,
        name=form.cleaned_data["name"],
        read_only=form.cleaned_data["read_only"],
        tenant_id=api_token_tenant_for(user=user, via=None, tenant_id=None),
        expires_in=dt.timedelta(days=form.cleaned_data["expires_in_days"]),
    )
    box = secret_once.SecretBox(
        title=f"Token {token.name} was created",
        intro="Send it as “Authorization: Bearer <token>” to /api/v1/. It acts as you, "
        "with your role" + (", for reading only." if token.read_only else "."),
        items=[secret_once.Secret("API token", plaintext)],
        warning="The token is shown only this once. Store it in a secret manager now.",
    )
    ticket = secret_once.stash(request, box)
    return redirect(f"{reverse('accounts:tokens')}?{secret_once.TICKET_PARAMETER}={ticket}")


@login_required
@require_POST
def token_revoke_view(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    token = ApiToken.objects.filter(pk=pk, user=_user(request)).first()
    if token is None:
        raise Http404
    if token.revoked_at is not None:
        messages.info(request, f"Token {token.name} was already revoked.")
    else:
        api_token_revoke(actor=Actor.from_request(request), token=token)
        messages.success(request, f"Token {token.name} was revoked; it stops working at once.")
    return redirect("accounts:tokens")

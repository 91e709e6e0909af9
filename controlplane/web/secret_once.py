"""Credentials shown once, behind post/redirect/get.

A view that makes a credential keeps its ``SecretBox`` here and redirects to the page
with ``?shown=<ticket>``; that GET takes the box out. Reloading the page, going back
or sharing the address finds the ticket spent, so a reload never re-issues a key and
never shows it twice. The box waits in the cache (Redis in the server stack), encrypted
with the field key ring and bound to the person who made it, for a few minutes only.
"""

from __future__ import annotations

import dataclasses
import json
import secrets

from django.core.cache import cache
from django.http import HttpRequest

from controlplane.core.crypto import key_ring

TICKET_PARAMETER = "shown"
TICKET_SECONDS = 300


@dataclasses.dataclass(frozen=True)
class Secret:
    label: str
    value: str
    help: str = ""


@dataclasses.dataclass(frozen=True)
class SecretBox:
    """A credential shown once, right after it was made."""

    title: str
    intro: str
    items: list[Secret]
    warning: str = ""


def _cache_key(request: HttpRequest, ticket: str) -> str:
    return f"secret-once:{request.user.pk}:{ticket}"


def stash(request: HttpRequest, box: SecretBox) -> str:
    """Keep ``box`` for one showing to this person; return the ticket for the redirect."""
    ticket = secrets.token_urlsafe(24)
    sealed = key_ring().encrypt(json.dumps(dataclasses.asdict(box)))
    cache.set(_cache_key(request, ticket), sealed, TICKET_SECONDS)
    return ticket


def take(request: HttpRequest) -> SecretBox | None:
    """The box this GET's ticket names, once; None when there is none or it was spent."""
    ticket = request.GET.get(TICKET_PARAMETER, "")
    if not ticket or len(ticket) > 64:
        return None
    key = _cache_key(request, ticket)
    sealed = cache.get(key)
    if sealed is None:
        return None
    cache.delete(key)
    data = json.loads(key_ring().decrypt(sealed))
    return SecretBox(
        title=data["title"],
        intro=data["intro"],
        items=[Secret(**item) for item in data["items"]],
        warning=data["warning"],
    )


def was_spent(request: HttpRequest) -> bool:
    """True when the address carries a ticket that no longer holds anything."""
    return TICKET_PARAMETER in request.GET

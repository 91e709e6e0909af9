"""Answering htmx requests: a fragment for a swap, the whole page otherwise."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.utils.cache import patch_vary_headers


def is_htmx(request: HttpRequest) -> bool:
    details = getattr(request, "htmx", None)
    return bool(details)


def wants_fragment(request: HttpRequest) -> bool:
    """An htmx swap, not a history restore (which needs the whole page back)."""
    details = getattr(request, "htmx", None)
    return bool(details) and not details.history_restore_request  # type: ignore[union-attr]


def fragment_response(
    request: HttpRequest, template: str | None, context: dict[str, Any] | None = None
) -> HttpResponse:
    """``template`` (nothing if None, which removes the swap target) followed by the
    pending messages, swapped out-of-band into the page's message area.

    The messages go in a <template> so that they survive HTML parsing next to a
    table row (a <div> beside a <tr> would be dropped)."""
    html = render_to_string(template, context, request) if template else ""
    messages = render_to_string("partials/messages.html", {"oob": True}, request)
    html += f"<template>{messages}</template>"
    return HttpResponse(html)


def vary_on_htmx(response: HttpResponse) -> HttpResponse:
    """Pages that answer htmx with a fragment: keep browser caches from mixing the two."""
    patch_vary_headers(response, ["HX-Request"])
    return response

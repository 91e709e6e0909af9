"""Every API error as ``application/problem+json`` (RFC 9457).

The body is ``{type, title, status, detail, errors: [{field, message}]}``. ``errors`` names
the field at fault (dotted for nested fields, ``null`` when the error is about the request
as a whole), so a client can show each message next to its input.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import set_rollback

logger = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:acp:problem:"


class ProblemJSONRenderer(JSONRenderer):
    media_type = PROBLEM_MEDIA_TYPE
    format = "problem+json"


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state of the resource."
    default_code = "conflict"


class ServiceUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "A store this request needs is not reachable; retry later."
    default_code = "service-unavailable"


class UnprocessableEntity(exceptions.APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = "The request cannot be processed."
    default_code = "unprocessable"

    def __init__(self, detail: str, *, field: str | None = None, code: str | None = None) -> None:
        super().__init__(detail, code)
        self.field = field
        self.kind = code


# status -> (type code, title)
PROBLEM_KINDS: dict[int, tuple[str, str]] = {
    400: ("validation-error", "Your request is not valid."),
    401: ("not-authenticated", "Authentication is needed."),
    403: ("permission-denied", "You may not do this."),
    404: ("not-found", "Not found."),
    405: ("method-not-allowed", "Method not allowed."),
    406: ("not-acceptable", "Cannot produce the requested media type."),
    409: ("conflict", "Conflict."),
    413: ("payload-too-large", "The request body is too large."),
    415: ("unsupported-media-type", "Unsupported media type."),
    422: ("unprocessable", "The request cannot be processed."),
    429: ("throttled", "Too many requests."),
    503: ("service-unavailable", "Service unavailable."),
    500: ("server-error", "Internal server error."),
}


def problem(
    status_code: int,
    detail: str,
    *,
    errors: list[dict[str, str | None]] | None = None,
    kind: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    code, title = PROBLEM_KINDS.get(status_code, ("error", "Error."))
    body = {
        "type": TYPE_PREFIX + (kind or code),
        "title": title,
        "status": status_code,
        "detail": detail,
        "errors": errors or [],
    }
    return Response(body, status=status_code, headers=headers, content_type=PROBLEM_MEDIA_TYPE)


def _flatten(detail: Any, prefix: str | None = None) -> Iterator[dict[str, str | None]]:
    """DRF's nested error structure as ``{field, message}`` rows."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = None if key in (NON_FIELD_ERRORS, "non_field_errors") else str(key)
            yield from _flatten(value, _join(prefix, name))
    elif isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            for item in detail:
                yield {"field": prefix, "message": str(item)}
        else:
            for index, item in enumerate(detail):
                if item:
                    yield from _flatten(item, _join(prefix, str(index)))
    else:
        yield {"field": prefix, "message": str(detail)}


def _join(prefix: str | None, name: str | None) -> str | None:
    if prefix is None:
        return name
    if name is None:
        return prefix
    return f"{prefix}.{name}"


def _django_errors(error: DjangoValidationError) -> list[dict[str, str | None]]:
    """A model or service ValidationError as rows. A unique-together clash is reported on
    the field that clashes (``name``), not on the tenant it is unique within."""
    rows: list[dict[str, str | None]] = []
    if not hasattr(error, "error_dict"):
        return [{"field": None, "message": message} for message in error.messages]
    for field, errors in error.error_dict.items():
        for item in errors:
            name: str | None = None if field == NON_FIELD_ERRORS else field
            params = item.params or {}
            if name is None and item.code == "unique_together" and "unique_check" in params:
                fields = [f for f in params["unique_check"] if f != "tenant"]
                name = ",".join(fields) or None
            for message in item.messages:
                rows.append({"field": name, "message": message})
    return rows


def _summary(errors: list[dict[str, str | None]]) -> str:
    first = errors[0] if errors else None
    if first is None:
        return "Your request is not valid."
    where = f"{first['field']}: " if first["field"] else ""
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}{first['message']}{more}"


def problem_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """REST_FRAMEWORK's EXCEPTION_HANDLER: every exception becomes a problem response."""
    set_rollback()
    request = context.get("request")
    if request is not None:
        # Whatever was negotiated (CSV, say), a problem is rendered as problem+json.
        request.accepted_renderer = ProblemJSONRenderer()
        request.accepted_media_type = PROBLEM_MEDIA_TYPE

    if isinstance(exc, DjangoValidationError):
        errors = _django_errors(exc)
        return problem(400, _summary(errors), errors=errors)
    if isinstance(exc, Http404):
        return problem(404, "Not found.")
    if isinstance(exc, DjangoPermissionDenied):
        return problem(403, str(exc) or "You may not do this.")
    if isinstance(exc, IntegrityError):
        logger.warning("integrity error turned into 409: %s", exc)
        return problem(409, "The request conflicts with existing data; retry or change it.")
    if isinstance(exc, UnprocessableEntity):
        errors = [{"field": exc.field, "message": str(exc.detail)}]
        return problem(422, str(exc.detail), errors=errors, kind=exc.kind)
    if isinstance(exc, exceptions.ValidationError):
        errors = list(_flatten(exc.detail))
        return problem(400, _summary(errors), errors=errors)
    if isinstance(exc, exceptions.APIException):
        headers: dict[str, str] = {}
        if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
            view = context.get("view")
            if view is not None and request is not None:
                header = view.get_authenticate_header(request)
                if header:
                    headers["WWW-Authenticate"] = header
        wait = getattr(exc, "wait", None)
        if wait is not None:
            headers["Retry-After"] = str(max(1, math.ceil(wait)))
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        return problem(exc.status_code, str(detail), headers=headers or None)

    logger.exception("unhandled error in the API", exc_info=exc)
    return problem(500, "Something went wrong on our side; it has been logged.")

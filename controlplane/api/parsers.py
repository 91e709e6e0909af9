"""The API's JSON parser, with the two limits every JSON body must meet before it is
parsed: its size (``API_MAX_BODY_BYTES``, 413) and its nesting depth
(``edge.jsondepth.MAX_JSON_DEPTH``, 400; deeper documents end the standard library's
parser in ``RecursionError``). Imported by DRF's settings, so it must not import
controlplane.api.problems (which imports DRF's views)."""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import IO, Any

from django.conf import settings
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import JSONParser
from rest_framework.request import Request

from edge.jsondepth import depth_message, too_deep


class PayloadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "payload-too-large"

    def __init__(self, limit: int) -> None:
        super().__init__(f"The request body exceeds {limit} bytes.")


def body_limit() -> int:
    return int(settings.API_MAX_BODY_BYTES)


def refuse_oversized(request: Request) -> None:
    """413 from the declared length, before anything reads (or authenticates) the body."""
    declared = str(request.META.get("CONTENT_LENGTH") or "")
    if declared.isdigit() and int(declared) > body_limit():
        raise PayloadTooLarge(body_limit())


class LimitedJSONParser(JSONParser):
    def parse(
        self,
        stream: IO[Any] | None,
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        limit = body_limit()
        # A body sent without a length (chunked) is read no further than the limit.
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise PayloadTooLarge(limit)
        if too_deep(raw):
            raise ParseError(depth_message())
        return super().parse(io.BytesIO(raw), media_type, parser_context)

"""Query-string filters that views declare in one line each.

``filters = [Filter("status", "status", choices=...), Filter("site", "site_id", kind="uuid")]``
validates each value (a bad one is a 400 naming the parameter), applies it, and
documents it in the OpenAPI schema.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from django.db.models import QuerySet
from rest_framework import exceptions
from rest_framework.filters import BaseFilterBackend
from rest_framework.request import Request

Kind = Literal["str", "uuid", "bool", "date"]


@dataclass(frozen=True)
class Filter:
    param: str
    lookup: str
    kind: Kind = "str"
    choices: Sequence[str] | None = None
    description: str = ""

    def parse(self, raw: str) -> Any:
        if self.kind == "uuid":
            try:
                return uuid.UUID(raw)
            except ValueError:
                raise exceptions.ValidationError({self.param: ["Give a UUID."]}) from None
        if self.kind == "date":
            try:
                return dt.date.fromisoformat(raw)
            except ValueError:
                raise exceptions.ValidationError(
                    {self.param: ["Give a date, YYYY-MM-DD."]}
                ) from None
        if self.kind == "bool":
            if raw.lower() in ("true", "1"):
                return True
            if raw.lower() in ("false", "0"):
                return False
            raise exceptions.ValidationError({self.param: ["Give true or false."]})
        if self.choices is not None and raw not in self.choices:
            raise exceptions.ValidationError(
                {self.param: [f"Give one of: {', '.join(self.choices)}."]}
            )
        if len(raw) > 200:
            raise exceptions.ValidationError({self.param: ["Give at most 200 characters."]})
        if not printable(raw):
            raise exceptions.ValidationError({self.param: ["Remove the control characters."]})
        return raw


def printable(value: str) -> bool:
    """No NUL and no lone surrogates: PostgreSQL cannot store or compare either."""
    return "\x00" not in value and not any(0xD800 <= ord(c) <= 0xDFFF for c in value)


class QueryFilter(BaseFilterBackend):
    """Applies the view's ``filters``."""

    def filter_queryset(self, request: Request, queryset: QuerySet[Any], view: Any) -> Any:
        for spec in getattr(view, "filters", ()):
            raw = request.query_params.get(spec.param)
            if raw is None or raw == "":
                continue
            value = spec.parse(raw)
            if spec.kind == "bool" and spec.lookup.endswith("__isnull"):
                value = not value
            queryset = queryset.filter(**{spec.lookup: value})
        return queryset

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = []
        for spec in getattr(view, "filters", ()):
            schema: dict[str, Any] = {"type": "string"}
            if spec.kind in ("uuid", "date"):
                schema["format"] = spec.kind
            elif spec.kind == "bool":
                schema = {"type": "boolean"}
            elif spec.choices is not None:
                schema["enum"] = list(spec.choices)
            else:
                schema["maxLength"] = 200
            parameters.append(
                {
                    "name": spec.param,
                    "required": False,
                    "in": "query",
                    "description": spec.description or f"Only rows whose {spec.param} is this.",
                    "schema": schema,
                }
            )
        return parameters

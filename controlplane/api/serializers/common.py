"""Fields and serializers every resource uses."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from django.db.models import Model, QuerySet
from drf_spectacular.utils import OpenApiExample, extend_schema_field
from rest_framework import serializers


@extend_schema_field({"type": "string", "format": "uuid"})
class ScopedRelatedField(serializers.Field):
    """An object of the request's tenant, given by id.

    ``queryset`` is called when the value is checked, inside the tenant scope, so an id
    of another tenant's object is "not found", never found. (A class-level queryset
    cannot be used: a tenant-scoped manager refuses to be read with no tenant active.)
    """

    default_error_messages = {
        "invalid": "Give the id (a UUID) of an existing object.",
        "does_not_exist": "No such object with id {pk}.",
    }

    def __init__(self, queryset: Callable[[], QuerySet[Any]], **kwargs: Any) -> None:
        self.queryset = queryset
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> Model:
        try:
            pk = uuid.UUID(str(data))
        except ValueError:
            self.fail("invalid")
        obj = self.queryset().filter(pk=pk).first()
        if obj is None:
            self.fail("does_not_exist", pk=pk)
        return obj

    def to_representation(self, value: Any) -> str:
        return str(value.pk if isinstance(value, Model) else value)


class ShownOnceField(serializers.CharField):
    """A secret that exists only in this one response: the caller passes it in the
    serializer context under ``secret``; it is stored hashed or encrypted, never in
    plaintext, and no later read returns it."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("read_only", True)
        kwargs.setdefault("source", "*")
        super().__init__(**kwargs)

    def to_representation(self, value: Any) -> str:
        return str(self.context["secret"])


def example(name: str, value: dict[str, Any], **kwargs: Any) -> OpenApiExample:
    return OpenApiExample(name, value=value, **kwargs)


def request_example(value: dict[str, Any], name: str = "Request") -> OpenApiExample:
    return OpenApiExample(name, value=value, request_only=True)


def response_example(
    value: dict[str, Any], name: str = "Response", status_codes: list[str] | None = None
) -> OpenApiExample:
    return OpenApiExample(
        name, value=value, response_only=True, status_codes=status_codes or ["200", "201"]
    )


EXAMPLE_TIME = "2026-11-26T09:30:00Z"
EXAMPLE_TENANT_ID = "0193f0a2-6c1e-7b3a-9f10-2b7c1d5e8a01"
EXAMPLE_DEPARTMENT_ID = "0193f0a2-6c1e-7b3a-9f10-2b7c1d5e8a02"
EXAMPLE_SITE_ID = "0193f0a2-6c1e-7b3a-9f10-2b7c1d5e8a03"
EXAMPLE_NODE_ID = "0193f0a2-6c1e-7b3a-9f10-2b7c1d5e8a04"
EXAMPLE_DEVICE_ID = "0193f0a2-6c1e-7b3a-9f10-2b7c1d5e8a05"
EXAMPLE_AGENT_ID = "0193f0a2-6c1e-7b3a-9f10-2b7c1d5e8a06"
EXAMPLE_KEY_ID = "0193f0a2-6c1e-7b3a-9f10-2b7c1d5e8a07"
EXAMPLE_USER_ID = "0193f0a2-6c1e-7b3a-9f10-2b7c1d5e8a08"
EXAMPLE_MEMBERSHIP_ID = "0193f0a2-6c1e-7b3a-9f10-2b7c1d5e8a09"
EXAMPLE_INVITATION_ID = "0193f0a2-6c1e-7b3a-9f10-2b7c1d5e8a0a"
EXAMPLE_TOKEN_ID = "0193f0a2-6c1e-7b3a-9f10-2b7c1d5e8a0b"
EXAMPLE_PRICE_ID = "0193f0a2-6c1e-7b3a-9f10-2b7c1d5e8a0c"

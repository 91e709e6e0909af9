"""Cursor pagination for every list: stable under inserts, opaque ``next``/``previous``."""

from __future__ import annotations

from typing import Any

from rest_framework.pagination import CursorPagination


class Cursor(CursorPagination):
    """``?cursor=`` from ``next``/``previous``, ``?page_size=`` up to 200 (default 50).

    The order is the view's ``ordering`` unless ``?ordering=`` picks another allowed one.
    """

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    ordering = "-created_at"

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "object",
            "required": ["next", "previous", "results"],
            "properties": {
                "next": {
                    "type": "string",
                    "nullable": True,
                    "format": "uri",
                    "description": "The next page, or null on the last.",
                    "example": "https://cp.msp.example/api/v1/tenants/acme/agents?cursor=cD0yMDI2",
                },
                "previous": {
                    "type": "string",
                    "nullable": True,
                    "format": "uri",
                    "description": "The previous page, or null on the first.",
                    "example": None,
                },
                "results": schema,
            },
        }

"""``count`` and ``money`` filters for every template (a builtin, see settings)."""

from __future__ import annotations

from typing import Any

from django import template

from controlplane.web import formatting

register = template.Library()


@register.filter
def count(value: Any) -> str:
    return formatting.format_count(value)


@register.filter
def money(value: Any, currency: str = "USD") -> str:
    return formatting.format_money(value, currency or "USD")

"""Shape checks for the JSON fields the edge parses (docs/gateway.md)."""

from __future__ import annotations

import re
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import ValidationError

_CLOCK = re.compile(r"^(?:[01]\d|2[0-3]):[0-5]\d$")
NAME_RE = re.compile(r"^[a-z0-9](?:[a-z0-9._-]{0,98}[a-z0-9])?$")


def validate_operating_window(value: Any) -> None:
    """``{}`` (always) or ``{"days": [0-6], "start": "HH:MM", "end": "HH:MM"|"24:00",
    "tz": "Area/City"}``; Monday is 0; an end before the start spans midnight."""
    if value in (None, {}):
        return
    if not isinstance(value, dict):
        raise ValidationError("The operating window must be an object.")
    unknown = set(value) - {"days", "start", "end", "tz"}
    if unknown:
        raise ValidationError(f"Unknown operating window keys: {', '.join(sorted(unknown))}.")
    days = value.get("days", list(range(7)))
    if not isinstance(days, list) or not all(
        isinstance(day, int) and not isinstance(day, bool) and 0 <= day <= 6 for day in days
    ):
        raise ValidationError("Operating window days are weekdays 0 (Monday) to 6.")
    for key in ("start", "end"):
        clock = value.get(key)
        if clock is None or (key == "end" and clock == "24:00"):
            continue
        if not isinstance(clock, str) or not _CLOCK.match(clock):
            raise ValidationError(f"Operating window {key} must be HH:MM.")
    tz = value.get("tz", "UTC")
    try:
        ZoneInfo(str(tz))
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"Operating window tz {tz!r} is not a known time zone.") from None


def validate_names(value: Any) -> None:
    """A list of non-empty, distinct strings (models, tools, data classes)."""
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ValidationError("Expected a list of non-empty names.")
    if len(set(value)) != len(value):
        raise ValidationError("A name is listed twice.")


def validate_tool_data_classes(value: Any) -> None:
    """``{"tool.name": ["finance", ...]}``: which data classes a tool touches."""
    if not isinstance(value, dict):
        raise ValidationError("Tool data classes must map tool names to lists of classes.")
    for tool, classes in value.items():
        if not isinstance(tool, str) or not tool.strip():
            raise ValidationError("Tool names must be non-empty.")
        try:
            validate_names(classes)
        except ValidationError:
            raise ValidationError(f"Tool {tool!r}: expected a list of data classes.") from None

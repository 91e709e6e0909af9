"""``--from``/``--to`` of the recovery commands."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.utils import timezone


def add_period_arguments(parser: CommandParser, what: str) -> None:
    parser.add_argument(
        "--from", dest="start", required=True, help=f"{what}: start, ISO date or datetime (UTC)"
    )
    parser.add_argument("--to", dest="end", help="end, exclusive (default: now)")


def period(options: dict[str, Any]) -> tuple[dt.datetime, dt.datetime]:
    try:
        return parse_period(options["start"], options["end"])
    except ValueError as exc:
        raise CommandError(str(exc)) from exc


def parse_period(start: str, end: str | None) -> tuple[dt.datetime, dt.datetime]:
    """``--from``/``--to`` as ISO dates or datetimes (UTC when no offset is given);
    ``--to`` defaults to now. ValueError names the option."""
    since = _instant(start, "--from")
    until = _instant(end, "--to") if end else timezone.now()
    if since >= until:
        raise ValueError(f"--from ({since.isoformat()}) must be before --to ({until.isoformat()})")
    return since, until


def _instant(text: str, option: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"{option}: {text!r} is not an ISO date or datetime (2026-12-01 or "
            "2026-12-01T10:00:00+00:00)"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)

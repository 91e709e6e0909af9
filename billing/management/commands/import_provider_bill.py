"""Import a provider's usage or cost export for reconciliation (docs/billing.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from billing.provider_bills import FORMATS, export_import


class Command(BaseCommand):
    help = "Import a provider's usage or cost export (JSON or CSV) for reconciliation."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("provider", help="the provider as the ledger names it, e.g. openai")
        parser.add_argument("format", choices=FORMATS)
        parser.add_argument("file", type=Path)

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        try:
            content = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"file: cannot read {path}: {exc.strerror}") from None
        try:
            lines = export_import(
                provider=options["provider"],
                kind=options["format"],
                content=content,
                source=path.name,
            )
        except ValidationError as exc:
            problems = "; ".join(
                f"{field}: {', '.join(m)}" for field, m in exc.message_dict.items()
            )
            raise CommandError(problems) from None
        self.stdout.write(f"imported {lines} lines of {options['provider']} from {path.name}")

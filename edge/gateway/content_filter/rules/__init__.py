"""The injection rules, one module per family."""

from __future__ import annotations

from edge.gateway.content_filter.rules import (
    delimiters,
    exfiltration,
    extraction,
    indirect,
    override,
    persona,
)
from edge.gateway.content_filter.rules.base import Rule

RULES: tuple[Rule, ...] = (
    *override.RULES,
    *persona.RULES,
    *extraction.RULES,
    *delimiters.RULES,
    *exfiltration.RULES,
    *indirect.RULES,
)

__all__ = ["RULES", "Rule"]

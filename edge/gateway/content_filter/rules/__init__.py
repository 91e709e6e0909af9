"""The injection rules, one module per family."""

from __future__ import annotations

from edge.gateway.content_filter.rules import (
    authority,
    delimiters,
    exfiltration,
    extraction,
    indirect,
    languages,
    override,
    persona,
    tool_hijack,
)
from edge.gateway.content_filter.rules.base import Rule

RULES: tuple[Rule, ...] = (
    *override.RULES,
    *persona.RULES,
    *extraction.RULES,
    *delimiters.RULES,
    *exfiltration.RULES,
    *indirect.RULES,
    *authority.RULES,
    *tool_hijack.RULES,
    *languages.RULES,
)

__all__ = ["RULES", "Rule"]

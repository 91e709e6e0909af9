"""A weighted injection rule and the two pattern compilers."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    rule: str  # family reported in InjectionFinding.rule
    reason: str
    weight: float
    pattern: re.Pattern[str]
    view: str = "words"  # which normalized view the pattern runs on
    # Optional: the full weight applies only when ``qualifier`` matches in the window
    # (the match and ``window`` chars after it) and ``negative`` does not; else ``weak``.
    qualifier: re.Pattern[str] | None = None
    weak: float = 0.0
    negative: re.Pattern[str] | None = None
    window: int = 30
    # Markup rules: the rule cannot match unless one of these substrings is present.
    # (Words rules get their trigger words from the pattern itself, see _triggers.)
    needs: tuple[str, ...] = ()
    # The weight on untrusted channels (tool results, documents) when it differs: text
    # there that addresses the model and orders an action is an injection however
    # polite (docs/content-filter.md, "Channels"). A weight of 0 with an untrusted
    # weight makes a rule apply to untrusted content only.
    untrusted_weight: float | None = None

    def weight_for(self, *, untrusted: bool) -> float:
        if untrusted and self.untrusted_weight is not None:
            return self.untrusted_weight
        return self.weight


def words_pattern(pattern: str) -> re.Pattern[str]:
    """Compile a words-view pattern: ``_`` stands for one space, ``~`` for up to N
    filler words (``~3`` = 0..3 words)."""
    pattern = re.sub(r"~(\d+)", lambda m: rf"(?:\w+ ){{0,{m.group(1)}}}", pattern)
    return re.compile(pattern.replace("_", " "))


def markup_pattern(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.MULTILINE)

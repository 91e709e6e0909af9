"""Injection scoring: rule hits on the normalised views, combined as a noisy-OR."""

from __future__ import annotations

import re
from dataclasses import dataclass

from edge.gateway.content_filter.context import Context
from edge.gateway.content_filter.findings import DEFAULT_INJECTION_THRESHOLD, InjectionFinding
from edge.gateway.content_filter.normalize import Views, hidden_payloads, normalize
from edge.gateway.content_filter.prefilter import active_rules
from edge.gateway.content_filter.rules import RULES, Rule


@dataclass(frozen=True)
class _Hit:
    weight: float
    rule: Rule
    snippet: str
    view: str
    start: int
    end: int


def rule_hits(views: Views, *, untrusted: bool = False, prefilter: bool = True) -> list[_Hit]:
    candidates: list[_Hit] = []
    context = Context(views)
    indexes = active_rules(views) if prefilter else range(len(RULES))
    for index in indexes:
        rule = RULES[index]
        subject = views.words if rule.view == "words" else views.markup
        base_weight = rule.weight_for(untrusted=untrusted)
        if base_weight <= 0:
            continue
        for m in rule.pattern.finditer(subject):
            weight = base_weight
            if rule.qualifier is not None or rule.negative is not None:
                window = subject[m.start() : m.end() + rule.window]
                unqualified = rule.qualifier is not None and not rule.qualifier.search(window)
                negated = rule.negative is not None and rule.negative.search(window)
                if unqualified or negated:
                    weight = rule.weak
            if weight <= 0:
                continue
            snippet = m.group().strip()
            weight *= context.factor(
                family=rule.rule, view=rule.view, start=m.start(), end=m.end(), snippet=snippet
            )
            candidates.append(_Hit(weight, rule, snippet, rule.view, m.start(), m.end()))
    # One signal per rule, and one per stretch of text within a family (the language
    # variants of a rule often match the same words).
    kept: list[_Hit] = []
    for hit in sorted(candidates, key=lambda h: -h.weight):
        if any(k.rule is hit.rule for k in kept):
            continue
        if any(
            k.rule.rule == hit.rule.rule
            and k.view == hit.view
            and k.start < hit.end - 1
            and hit.start < k.end - 1  # patterns share their edge spaces
            for k in kept
        ):
            continue
        kept.append(hit)
    return kept


def _combine(hits: list[_Hit]) -> InjectionFinding | None:
    if not hits:
        return None
    # Noisy-OR over the distinct signals: independent weak evidence adds up.
    remaining = 1.0
    for hit in hits:
        remaining *= 1.0 - hit.weight
    top = max(hits, key=lambda h: h.weight)
    score = round(1.0 - remaining, 4)
    return InjectionFinding(
        score=score, reason=f'{top.rule.reason}: "{top.snippet[:80]}"', rule=top.rule.rule
    )


# Invisible characters between letters, and bidi overrides: text meant for the model
# and not for the human reviewing it.
_INVISIBLE_IN_WORD = re.compile("(?<=\\w)[\u200b-\u200d\u2060\u2062-\u2064\ufeff\u00ad]+(?=\\w)")
_BIDI_OVERRIDE = re.compile("[\u202a-\u202e\u2066-\u2069]")
_HIDDEN_TEXT = Rule(
    "hidden_text", "invisible or direction-changing characters", 0.3, re.compile("")
)
# Fragments to be joined ("a = 'ignore all'; b = 'previous instructions'; do a + b").
_FRAGMENT = re.compile("[\"'\u201c\u201d`]([^\"'\u201c\u201d`\n]{2,80})[\"'\u201c\u201d`]")
_JOIN_HINT = re.compile(
    r"\+|\bconcat|\bjoin|\bcombine|\bput together|\bassemble|\bmerge|\bpart \d|\bstep \d|"
    r"\bfragment|\bzusammen|\bensemble|\bjunt|\bunisci|\bjunte|\bsamen",
    re.IGNORECASE,
)


def _hidden_text_hit(text: str) -> _Hit | None:
    if text.isascii():
        return None
    invisible = len(_INVISIBLE_IN_WORD.findall(text))
    bidi = _BIDI_OVERRIDE.search(text)
    if invisible < 3 and bidi is None:
        return None
    snippet = "bidi override" if bidi is not None else f"{invisible} invisible characters"
    return _Hit(_HIDDEN_TEXT.weight, _HIDDEN_TEXT, snippet, "raw", 0, 0)


def _reassembled(text: str) -> str | None:
    """The quoted fragments of ``text`` joined, when the text asks for them to be."""
    if not _JOIN_HINT.search(text):
        return None
    fragments = _FRAGMENT.findall(text)
    return " ".join(fragments) if len(fragments) >= 2 else None


def score_injection(text: str, *, untrusted: bool = False) -> InjectionFinding | None:
    """The injection score of ``text`` whatever its value (``None`` when no rule fires).
    ``untrusted``: the text is a tool result or document (stricter weights). Text hidden
    by an encoding (base64/hex, tag characters, escapes, ROT13, reversed) and quoted
    fragments meant to be joined are scanned too; a hit inside is reported as
    ``encoded_payload`` and scores at least as high as in the clear."""
    hits = rule_hits(normalize(text), untrusted=untrusted)
    hidden = _hidden_text_hit(text)
    if hidden is not None:
        hits.append(hidden)
    inner_best: InjectionFinding | None = None
    inner_texts = list(hidden_payloads(text)) if len(text) >= 16 else []
    joined = _reassembled(text)
    if joined is not None:
        inner_texts.append(joined)
    for decoded in inner_texts:
        inner = _combine(rule_hits(normalize(decoded), untrusted=untrusted))
        if inner is not None and (inner_best is None or inner.score > inner_best.score):
            inner_best = inner
    finding = _combine(hits)
    if inner_best is not None:
        # Hiding an instruction in an encoding is itself a signal: +0.1 over the clear text.
        inner_score = min(1.0, inner_best.score + 0.1)
        outer_score = finding.score if finding is not None else 0.0
        score = round(1.0 - (1.0 - inner_score) * (1.0 - outer_score), 4)
        if finding is None or inner_score >= outer_score:
            finding = InjectionFinding(
                score=score,
                reason=f"encoded payload ({inner_best.rule}): {inner_best.reason}",
                rule="encoded_payload",
            )
        else:
            finding = InjectionFinding(score=score, reason=finding.reason, rule=finding.rule)
    return finding


def detect_injection(
    text: str, *, threshold: float = DEFAULT_INJECTION_THRESHOLD, untrusted: bool = False
) -> InjectionFinding | None:
    """The injection finding when its score reaches ``threshold``, else ``None``."""
    finding = score_injection(text, untrusted=untrusted)
    if finding is None or finding.score < threshold:
        return None
    return finding

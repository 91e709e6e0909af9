"""Prefilter: run a words rule only when the words it needs occur in the text."""

from __future__ import annotations

import re

from edge.gateway.content_filter.normalize import Views
from edge.gateway.content_filter.rules import RULES


def _split_top(pattern: str) -> list[str]:
    """Split a regex source at its top-level ``|`` (outside groups and classes)."""
    parts: list[str] = []
    depth = 0
    in_class = False
    start = 0
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "|" and depth == 0:
            parts.append(pattern[start:i])
            start = i + 1
        i += 1
    parts.append(pattern[start:])
    return parts


def _group_end(pattern: str, open_at: int) -> int:
    """Index of the ``)`` closing the group that opens at ``open_at``."""
    depth = 0
    in_class = False
    i = open_at
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise ValueError(f"unbalanced pattern: {pattern!r}")


# A requirement: some token of the words view is one of ``words`` or starts with one of
# ``prefixes``. A rule runs only if, for one of its top-level alternatives, every
# requirement read off that alternative holds (all are necessary for a match).
_Req = tuple[frozenset[str], tuple[str, ...]]
_WORD = re.compile(r"[^\W\d_]+")


def _skip_quantifier(pattern: str, j: int) -> tuple[int, bool]:
    """Index after a quantifier at ``j`` (if any) and whether it allows zero repeats."""
    optional = False
    if j < len(pattern) and pattern[j] in "?*":
        optional = True
        j += 1
    elif j < len(pattern) and pattern[j] == "+":
        j += 1
    elif j < len(pattern) and pattern[j] == "{":
        close = pattern.index("}", j)
        optional = pattern[j + 1] in "0,"
        j = close + 1
    if j < len(pattern) and pattern[j] in "?+":  # lazy / possessive
        j += 1
    return j, optional


def _sequence_reqs(alt: str, *, end_space: bool = True) -> list[_Req]:
    """Requirements that every match of ``alt`` (no top-level ``|``) satisfies.
    ``end_space``: whether what follows ``alt`` in the whole pattern starts a new token."""
    reqs: list[_Req] = []
    i = 0
    at_token_start = True
    while i < len(alt):
        ch = alt[i]
        if ch == " ":
            optional_space = alt[i + 1 : i + 2] in ("?", "*") or alt.startswith("{0", i + 1)
            at_token_start = not optional_space
            i, _ = _skip_quantifier(alt, i + 1)
            continue
        if ch == "(":
            end = _group_end(alt, i)
            j, optional = _skip_quantifier(alt, end + 1)
            followed_by_space = alt[j : j + 1] == " " or (j == len(alt) and end_space)
            plain = alt.startswith("(?:", i)
            if plain or not alt.startswith("(?", i):
                inner = alt[i + 3 : end] if plain else alt[i + 1 : end]
                parts = _split_top(inner)
                if not optional and at_token_start:
                    first = _first_words(inner, end_space=followed_by_space)
                    if first is not None:
                        reqs.append(first)
                # After the group a new token starts if every way through it ends with a
                # space (or may be empty, after a space).
                may_be_empty = optional or any(part == "" for part in parts)
                ends_space = all(part.endswith(" ") for part in parts if part)
                at_token_start = ends_space and (at_token_start or not may_be_empty)
            else:
                at_token_start = False  # a lookaround: be conservative
            i = j
            continue
        if ch == "\\":
            i, _ = _skip_quantifier(alt, i + 2)
            at_token_start = False
            continue
        if ch == "[":
            close = i + 2
            while alt[close] != "]":
                close += 2 if alt[close] == "\\" else 1
            i, _ = _skip_quantifier(alt, close + 1)
            at_token_start = False
            continue
        m = _WORD.match(alt, i)
        if m is None:
            at_token_start = False
            i += 1
            continue
        word, j = m.group(), m.end()
        nxt = alt[j : j + 1]
        if nxt == " " and (alt[j + 1 : j + 2] in ("?", "*") or alt.startswith("{0", j + 1)):
            # "system ?prompt": the space is optional, the word may run on.
            if at_token_start:
                reqs.append((frozenset(), (word,)))
            at_token_start = False
            i = j
            continue
        if at_token_start:
            if nxt == " " or (nxt == "" and end_space):
                reqs.append((frozenset({word}), ()))
            elif nxt == "?" and (alt[j + 1 : j + 2] == " " or (j + 1 == len(alt) and end_space)):
                reqs.append((frozenset({word, word[:-1]}), ()))
            elif nxt in ("?", "*", "{"):
                if len(word) > 1:
                    reqs.append((frozenset(), (word[:-1],)))
            else:
                reqs.append((frozenset(), (word,)))
        at_token_start = False
        i = j
    return reqs


def _first_words(content: str, *, end_space: bool) -> _Req | None:
    """A group's requirement: each alternative contributes its first requirement."""
    words: set[str] = set()
    prefixes: set[str] = set()
    for part in _split_top(content):
        reqs = _sequence_reqs(part, end_space=end_space)
        if not reqs:
            return None
        words |= reqs[0][0]
        prefixes.update(reqs[0][1])
    return frozenset(words), tuple(sorted(prefixes))


def _requirements(pattern: str) -> list[list[_Req]] | None:
    """Per top-level alternative of a words-view pattern, its requirements; ``None`` when
    some alternative yields none (the rule then always runs)."""
    alternatives = [_sequence_reqs(alt) for alt in _split_top(pattern)]
    return None if any(not reqs for reqs in alternatives) else alternatives


_ALWAYS: list[int] = []
_REQUIREMENTS: dict[int, list[list[_Req]]] = {}
_BY_FIRST_WORD: dict[str, set[int]] = {}
_BY_FIRST_PREFIX: dict[str, set[int]] = {}
for _index, _rule in enumerate(RULES):
    if _rule.view != "words":
        if not _rule.needs:
            _ALWAYS.append(_index)
        continue
    _found = _requirements(_rule.pattern.pattern)
    if _found is None:
        _ALWAYS.append(_index)
        continue
    _REQUIREMENTS[_index] = _found
    for _alternative in _found:
        for _word in _alternative[0][0]:
            _BY_FIRST_WORD.setdefault(_word, set()).add(_index)
        for _prefix in _alternative[0][1]:
            _BY_FIRST_PREFIX.setdefault(_prefix, set()).add(_index)


def active_rules(views: Views) -> list[int]:
    """Indexes of the rules that can possibly match ``views`` (a cheap superset)."""
    words = views.words
    tokens = set(words.split())
    prefix_seen: dict[str, bool] = {}

    def has_prefix(prefix: str) -> bool:
        seen = prefix_seen.get(prefix)
        if seen is None:
            seen = prefix_seen[prefix] = (" " + prefix) in words
        return seen

    candidates: set[int] = set()
    for word in tokens & _BY_FIRST_WORD.keys():
        candidates |= _BY_FIRST_WORD[word]
    for prefix, indexes in _BY_FIRST_PREFIX.items():
        if not indexes <= candidates and has_prefix(prefix):
            candidates |= indexes
    active = set(_ALWAYS)
    for index in candidates:
        for alternative in _REQUIREMENTS[index]:
            if all(
                not req_words.isdisjoint(tokens) or any(has_prefix(p) for p in req_prefixes)
                for req_words, req_prefixes in alternative
            ):
                active.add(index)
                break
    for index, rule in enumerate(RULES):
        if rule.needs and any(n in views.markup for n in rule.needs):
            active.add(index)
    return sorted(active)

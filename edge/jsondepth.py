"""How deeply a JSON document nests, read from its bytes before it is parsed.

Parsers and the code that walks a parsed document recurse once per level; a document
nested thousands deep ends in ``RecursionError`` (a 500) instead of a 400. Every JSON
body the edge and the REST API accept is checked against ``MAX_JSON_DEPTH`` first.
"""

from __future__ import annotations

from itertools import accumulate

MAX_JSON_DEPTH = 128
"""Far above any real request (an OTLP attribute nested a dozen levels, a tool's JSON
schema nested ten, stay under 60) and far below any parser's recursion limit."""

_NOT_BRACKETS = bytes(set(range(256)) - set(b"[]{}"))
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


def json_depth(raw: bytes) -> int:
    """The deepest nesting of arrays and objects in ``raw`` (brackets inside strings do
    not count). For bytes that are not JSON the number is meaningless but finite."""
    brackets = raw.translate(None, _NOT_BRACKETS)
    if len(brackets) <= MAX_JSON_DEPTH:
        return len(brackets)  # an upper bound, and enough to pass the check
    if b'"' in raw:
        # Escapes out first, then the text between quotes is every other piece.
        unescaped = raw
        if b"\\" in raw:
            unescaped = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
        outside = b"".join(unescaped.split(b'"')[::2])
        brackets = outside.translate(None, _NOT_BRACKETS)
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0)


def too_deep(raw: bytes) -> bool:
    return json_depth(raw) > MAX_JSON_DEPTH


def depth_message() -> str:
    return f"the JSON nests deeper than {MAX_JSON_DEPTH} levels"

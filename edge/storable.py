"""Spool records as JSON that every store can hold (docs/decisions/0014-poison-records.md).

PostgreSQL text cannot hold U+0000, and no UTF-8 store can hold a lone surrogate
(U+D800 to U+DFFF, which Python strings may carry after decoding JSON escapes). Such a
character in any field, attribute or attribute key is replaced with U+FFFD, and the
record's ``attributes`` name the fields that were changed under
``acp.edge.replaced_characters``, so nothing is changed silently and no record reaches
the control plane that would stop its pipeline.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

REPLACEMENT = "\ufffd"
REPLACED_ATTRIBUTE = "acp.edge.replaced_characters"
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# How orjson writes U+0000; a lone surrogate makes orjson refuse the document instead.
_ESCAPED_NUL = b"\\u0000"
# In JSON text, left to right: an escaped backslash, a surrogate pair, or a lone surrogate.
_JSON_ESCAPES = re.compile(
    rb"\\\\|\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}"
    rb"|\\u[dD][89a-fA-F][0-9a-fA-F]{2}"
)


def loads_json(body: bytes) -> Any:
    """``orjson.loads``, with the escapes of lone surrogates (``"\\ud800"``, which orjson
    refuses and no store can hold) read as U+FFFD. orjson.JSONDecodeError otherwise."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        if "surrogate" not in str(error):
            raise
    return orjson.loads(_JSON_ESCAPES.sub(_keep_pairs, body))


def _keep_pairs(match: re.Match[bytes]) -> bytes:
    escape = match.group()
    return escape if len(escape) != 6 else b"\\ufffd"


def storable_json(doc: dict[str, Any]) -> bytes:
    """``doc`` (a spool record) as JSON bytes, its unstorable characters replaced.

    The common case costs one ``orjson.dumps`` and one scan of its bytes.
    """
    try:
        body = orjson.dumps(doc)
    except orjson.JSONEncodeError:
        body = None
    if body is not None and _ESCAPED_NUL not in body:
        return body
    replaced: list[str] = []
    clean = _clean(doc, "", replaced)
    if replaced:
        attributes = clean.get("attributes")
        if isinstance(attributes, dict):
            attributes[REPLACED_ATTRIBUTE] = replaced
    return orjson.dumps(clean)


def storable_text(text: str) -> str:
    """``text`` with the characters no store can hold replaced (for text kept apart from
    a record, such as the bodies a residency tenant's edge keeps: edge/residency.py)."""
    return _UNSTORABLE.sub(REPLACEMENT, text)


def _clean_text(text: str, path: str, replaced: list[str]) -> str:
    cleaned = _UNSTORABLE.sub(REPLACEMENT, text)
    if cleaned != text:
        replaced.append(path)
    return cleaned


def _clean(value: Any, path: str, replaced: list[str]) -> Any:
    if isinstance(value, str):
        return _clean_text(value, path or "(record)", replaced)
    if isinstance(value, dict):
        result = {}
        for key, item in value.items():
            name = _UNSTORABLE.sub(REPLACEMENT, key) if isinstance(key, str) else key
            child = f"{path}.{name}" if path else str(name)
            if name != key:
                replaced.append(child)
            result[name] = _clean(item, child, replaced)
        return result
    if isinstance(value, list):
        return [_clean(item, f"{path}[{index}]", replaced) for index, item in enumerate(value)]
    return value

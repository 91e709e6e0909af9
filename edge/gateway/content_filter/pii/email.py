"""E-mail addresses."""

from __future__ import annotations

import re
from collections.abc import Iterator

from edge.gateway.content_filter.findings import PiiFinding
from edge.gateway.content_filter.pii.common import make_finding

_EMAIL = re.compile(
    r"(?<![\w.%+\-])"
    r"(?P<local>[\w%+\-](?:[\w.%+\-]{0,62}[\w%+\-])?)"
    r"@(?P<domain>(?:[^\W_](?:[\w\-]{0,61}[^\W_])?\.)+(?P<tld>[^\W\d_]{2,24}))"
    r"(?![\w\-@]|\.[^\W_])"
)
# "icon@2x.png", "logo@3x.webp": asset names, not addresses.
_FILE_TLDS = frozenset(
    re.findall(
        r"\w+",
        "png jpg jpeg gif svg webp ico bmp tif tiff heic css scss js mjs cjs ts tsx jsx json "
        "yaml yml toml lock html htm xml txt pdf wasm map csv log ini cfg",
    )
)


def _email_matches(text: str) -> Iterator[re.Match[str]]:
    """``_EMAIL`` matches, tried once at the start of the local part before each "@"
    (so the cost follows the number of "@", not the length of the text)."""
    at = text.find("@")
    while at != -1:
        start = at
        while (
            start > 0
            and at - start < 64
            and (text[start - 1].isalnum() or text[start - 1] in "_.%+-")
        ):
            start -= 1
        while start < at and text[start] == ".":
            start += 1
        m = _EMAIL.match(text, start) if start < at else None
        if m is not None and m.start("domain") == at + 1:
            yield m
            at = text.find("@", m.end())
        else:
            at = text.find("@", at + 1)


def find_emails(text: str) -> Iterator[PiiFinding]:
    for m in _email_matches(text):
        if m.group("tld").lower() in _FILE_TLDS:
            continue
        start = m.start()
        before = text[max(0, start - 8) : start]
        token = text[max(0, start - 80) : start].rsplit(None, 1)[-1] if start else ""
        if before.endswith("/") or (before.endswith(":") and "//" in token):
            continue  # userinfo of a URL (https://user:pw@host) or a path segment
        end = m.end()
        if text.startswith(":", end) and end + 1 < len(text) and not text[end + 1].isspace():
            continue  # scp/ssh remote: git@github.com:org/repo.git
        yield make_finding("email", text, start, end)

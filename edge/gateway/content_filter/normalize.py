"""Normalisation and de-obfuscation for the injection rules: two views of a text
(markup and words), and the text hidden in base64/hex blobs."""

from __future__ import annotations

import base64
import binascii
import codecs
import html
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import unquote

from edge.gateway.content_filter.findings import MAX_DECODED_BLOBS

_ZERO_WIDTH = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
    "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\U000e0000-\U000e007f]"
)
# Cyrillic and Greek letters that look like Latin ones (after casefold).
_CONFUSABLES = str.maketrans(
    # Cyrillic a e o p c y x i j s d h l q w v; Greek a e i k v o p t u x; script g; dotless i
    "\u0430\u0435\u043e\u0440\u0441\u0443\u0445\u0456\u0458\u0455\u0501\u04bb\u04cf\u051b\u051d\u0475"
    "\u03b1\u03b5\u03b9\u03ba\u03bd\u03bf\u03c1\u03c4\u03c5\u03c7\u0261\u0131",
    "aeopcyxijsdhlqwvaeikvoptuxgi",
)
_CONFUSABLE_HINT = re.compile("[\u0370-\u03ff\u0400-\u052f\u0261\u0131]")
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t",
                       "@": "a", "$": "s", "!": "i", "|": "l", "€": "e"})  # fmt: skip
_LEET_TOKEN = re.compile(r"(?<![\w@$!|€])(?=[\w@$!|€]*[a-z])(?=[\w@$!|€]*[013457@$!|€])[\w@$!|€]+")
# "i g n o r e", "i.g.n.o.r.e", "i-g-n-o-r-e": letters split by single separators.
# (the same separator throughout: "i.g.n.o.r.e p.r.e.v.i.o.u.s" is two words)
_SPACED_LETTERS = re.compile(
    r"(?<![^\W\d_])[^\W\d_](?P<sep>[ .\-_*])[^\W\d_](?:(?P=sep)[^\W\d_]){2,}(?![^\W\d_])"
)
_SPACED_HINT = re.compile(r"[ .\-_*][^\W\d_][ .\-_*][^\W\d_][ .\-_*]")
_NON_WORD = re.compile(r"[\W_]+")
_NON_WORD_KEEP_UNDERSCORE = re.compile(r"\W+")
# "ig-nore pre-vious in-structions": a hyphen next to a fragment of 1-3 letters joins it.
_HYPHEN_IN_WORD = re.compile(r"-(?<=[^\W\d_]-)(?=[^\W\d_])")
_LEET_HINT = re.compile(r"[a-z][013457@$!|€]|[013457@$!|€][a-z]")
_SPACES = re.compile(r"[ \t\f\v\u00a0]+")
_BLOB = re.compile(r"[A-Za-z0-9+/\-_]{24,}={0,2}")
_HEX = re.compile(r"(?:[0-9A-Fa-f]{2}){16,}")
_PERCENT = re.compile(r"%[0-9A-Fa-f]{2}")


_COMBINING = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")


def _strip_marks(s: str) -> str:
    return _COMBINING.sub("", unicodedata.normalize("NFKD", s))


def _deleet(m: re.Match[str]) -> str:
    return m.group().translate(_LEET)


@dataclass(frozen=True)
class Views:
    markup: str  # casefolded, NFKC, zero-width removed; punctuation and newlines kept
    words: str  # + diacritics stripped, de-leeted, punctuation removed, single-spaced


def normalize(text: str) -> Views:
    s = text
    if "&" in s and ";" in s:
        s = html.unescape(s)
    if "%" in s and len(_PERCENT.findall(s)) >= 4:
        s = unquote(s)
    ascii_only = s.isascii()
    if not ascii_only:
        s = _ZERO_WIDTH.sub("", unicodedata.normalize("NFKC", s))
    s = s.casefold()
    if not ascii_only and _CONFUSABLE_HINT.search(s):
        s = _unconfuse(s)
    if _SPACED_HINT.search(s):
        s = _SPACED_LETTERS.sub(lambda m: _NON_WORD.sub("", m.group()), s)
    markup = _SPACES.sub(" ", s)
    return Views(markup=markup, words=to_words(markup))


_LETTER_RUN = re.compile(r"[^\W\d_]+")
_LATIN = re.compile(r"[a-z]")


def _unconfuse(s: str) -> str:
    """Map Cyrillic/Greek look-alikes to Latin inside words that mix scripts,
    or in every word when the text is mostly Latin; Russian or Greek prose is left as
    it is so its own rules can read it."""
    latin = len(_LATIN.findall(s))
    foreign = len(_CONFUSABLE_HINT.findall(s))
    if latin > 2 * foreign:
        return s.translate(_CONFUSABLES)

    def token(m: re.Match[str]) -> str:
        word = m.group()
        if _LATIN.search(word) and _CONFUSABLE_HINT.search(word):
            return word.translate(_CONFUSABLES)
        return word

    return _LETTER_RUN.sub(token, s)


def _join_split_word(m: re.Match[str]) -> str:
    """Drop the hyphen of "ig-nore" / "pre-vious" (a fragment of at most 3 letters on
    either side); other hyphens become word breaks."""
    s, i = m.string, m.start()
    left = 0
    while left < 4 and i - left - 1 >= 0 and s[i - left - 1].isalpha():
        left += 1
    right = 0
    while right < 4 and i + right + 1 < len(s) and s[i + right + 1].isalpha():
        right += 1
    return "" if left <= 3 or right <= 3 else " "


def to_words(markup: str) -> str:
    w = markup if markup.isascii() else _strip_marks(markup)
    if _LEET_HINT.search(w):
        w = _LEET_TOKEN.sub(_deleet, w)
    if "-" in w:
        w = _HYPHEN_IN_WORD.sub(_join_split_word, w)
    # Underscores stay: identifiers such as ignore_previous(...) are code, not prose.
    return " " + _NON_WORD_KEEP_UNDERSCORE.sub(" ", w).strip() + " "


_TAG_CHARS = re.compile("[\U000e0020-\U000e007e]+")
_ESCAPES = re.compile(r"(?:\\u[0-9a-fA-F]{4}|\\x[0-9a-fA-F]{2}){6,}")
_ROT13_HINT = re.compile(r"\brot-?13\b", re.IGNORECASE)
_REVERSED_HINT = re.compile(r"\b(?:reversed?|backwards?|rückwärts|à l'envers|al revés)\b", re.I)


def hidden_payloads(text: str) -> Iterator[str]:
    """Text hidden in ``text`` by an encoding: base64/hex blobs, Unicode tag characters
    (invisible ASCII), ``\\uXXXX``/``\\xXX`` escapes, and, when the text says so, ROT13
    or reversed writing."""
    yield from decoded_blobs(text)
    if not text.isascii():
        tags = "".join(_TAG_CHARS.findall(text))
        if len(tags) >= 8:
            yield "".join(chr(ord(ch) - 0xE0000) for ch in tags)
    if "\\" in text:
        for m in _ESCAPES.finditer(text):
            yield m.group().encode().decode("unicode_escape", errors="replace")
    if _ROT13_HINT.search(text):
        yield codecs.decode(text, "rot13")
    if _REVERSED_HINT.search(text):
        yield text[::-1]


def decoded_blobs(text: str) -> Iterator[str]:
    """Printable text hidden in base64 or hex blobs of ``text``."""
    seen = 0
    for m in _BLOB.finditer(text):
        blob = m.group()
        if blob.isdigit() or (blob.isalpha() and (blob.islower() or blob.isupper())):
            continue  # a number or a plain word, not an encoding
        raw: bytes | None = None
        if len(blob) % 2 == 0 and _HEX.fullmatch(blob):
            raw = bytes.fromhex(blob)
        else:
            b64 = blob.rstrip("=")
            if "-" in b64 or "_" in b64:
                b64 = b64.replace("-", "+").replace("_", "/")
            b64 += "=" * (-len(b64) % 4)
            try:
                raw = base64.b64decode(b64, validate=True)
            except (binascii.Error, ValueError):
                continue
        decoded = _printable(raw)
        if decoded is not None:
            seen += 1
            yield decoded
            if seen >= MAX_DECODED_BLOBS:
                return


def _printable(raw: bytes) -> str | None:
    try:
        s = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if len(s) < 12 or " " not in s:
        return None
    good = sum(1 for ch in s if ch.isprintable() or ch in "\n\t\r")
    return s if good / len(s) >= 0.95 else None

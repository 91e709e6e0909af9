"""Phone numbers: phone-shaped candidates validated by ``phonenumbers``."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence

import phonenumbers
from phonenumbers import Leniency, PhoneNumberMatcher

from edge.gateway.content_filter.findings import PiiFinding
from edge.gateway.content_filter.pii.common import make_finding, preceded_by_reference

# Phone-shaped runs: optional "+"/"00", digits with the usual separators, 7+ digits.
_PHONE_CANDIDATE = re.compile(
    r"[+(\d](?<![\w+.,/\-@#][+(\d])(?:(?<=\+) ?\(?\d|(?<=\()\d|(?<=\d))"
    r"(?:[ \u00a0().\-/]{0,3}\d){6,17}\)?"
    r"(?:,? ?(?:ext\.?|extension|x|ext:|durchwahl|dw\.?|poste)\s?\d{1,6})?"
    r"(?![\w@/]|[.,\-:]\d|\s?%)"
)
_PHONE_CONTEXT = re.compile(
    r"(?:\b(?:tel|tél|tele|phone|phones|ph|mobile|mob|cell|cellphone|fax|call|called|"
    r"calling|ring|text|sms|whatsapp|signal|telegram|dial|reach|contact|hotline|helpline|"
    r"number|no|nr|telefon|telefonnummer|handy|handynummer|mobil|mobilnummer|rufnummer|"
    r"anrufen|ruf|téléphone|telephone|portable|numéro|numero|appeler|appelez|teléfono|"
    r"telefono|móvil|movil|llamar|llama|llámame|telefoon|telefoonnummer|mobiel|bel|bellen)"
    r"\b\.?)\s*[:.]?(?:\s+\(?\w{1,10}\)?[:.]?){0,3}\s*$",
    re.IGNORECASE,
)
_DATE_LIKE = re.compile(
    r"^\d{1,4}([./\-])\d{1,2}\1\d{1,4}$|^\d{4}[./\-]\d{2}$|^\d{1,2}:\d{2}|^\d{8}$"
)
_DIGIT_GROUPS = re.compile(r"\d+")
_DECIMAL = re.compile(r"^\d+[.,]\d+$")  # 0.400000, 3,14159: a decimal number
_GROUPED = re.compile(r"\d[ \u00a0().\-/]+\d")
_CARD_SHAPED = re.compile(r"^\d{4}([ \-])\d{4}\1\d{4}\1\d{1,4}$|^\d{16,}$")
_IBAN_PREFIX = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4})* ?$")
_DOTTED_QUAD = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3,}$")


def _phone_ok(text: str, start: int, end: int) -> bool:
    raw = text[start:end]
    if _DATE_LIKE.match(raw) or _DOTTED_QUAD.match(raw) or _CARD_SHAPED.match(raw):
        return False
    if preceded_by_reference(text, start):
        return False
    if _IBAN_PREFIX.search(text[max(0, start - 40) : start]):
        return False  # the digits continue an IBAN-shaped code (one that failed its checksum)
    if raw.startswith(("+", "00")):
        return True
    if _GROUPED.search(raw) or raw.startswith("("):
        return True  # written with phone-style grouping
    # A bare digit run is a phone number only when the text says so.
    return bool(_PHONE_CONTEXT.search(text[max(0, start - 30) : start]))


def _candidate_ok(text: str, start: int, chunk: str) -> bool:
    """Cheap checks on a phone-shaped run before any parsing."""
    if _DECIMAL.match(chunk) or preceded_by_reference(text, start):
        return False
    groups = _DIGIT_GROUPS.findall(chunk)
    if len(groups) > 7 or max(len(g) for g in groups) < 2:
        return False  # "1 2 3 4 5 6 7": a list of small numbers
    if chunk[0] in "+(" or chunk.startswith("00"):
        return True
    if _GROUPED.search(chunk):
        return not _IBAN_PREFIX.search(text[max(0, start - 40) : start])
    return bool(_PHONE_CONTEXT.search(text[max(0, start - 30) : start]))


def _valid_regions(chunk: str, regions: Sequence[str]) -> Iterator[str]:
    """The regions in which the whole run parses as a valid number (``+``/``00`` numbers
    carry their own country)."""
    tries: Sequence[str] = ("GB",) if chunk.startswith(("+", "00")) else regions
    for region in tries:
        try:
            number = phonenumbers.parse(chunk, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            yield region


def find_phones(
    text: str, regions: Sequence[str], taken: Sequence[tuple[int, int]] = ()
) -> Iterator[PiiFinding]:
    for c in _PHONE_CANDIDATE.finditer(text):
        chunk = c.group()
        base = c.start()
        if any(a <= base and c.end() <= b for a, b in taken):
            continue  # inside a card number, IBAN or national id found already
        if _CARD_SHAPED.match(chunk) or not _candidate_ok(text, base, chunk):
            continue
        digits = sum(ch.isdigit() for ch in chunk)
        if digits <= 15:
            # One number (the common case): a direct parse says whether it is valid and
            # in which region; the matcher then applies its leniency checks and span.
            tries: Iterable[str] = _valid_regions(chunk, regions)
        else:
            tries = regions  # several numbers run together: let the matcher split them
        for region in tries:
            hit = False
            for pm in PhoneNumberMatcher(chunk, region, leniency=Leniency.VALID):
                start, end = base + pm.start, base + pm.end
                if _phone_ok(text, start, end):
                    hit = True
                    yield make_finding("phone", text, start, end)
            if hit:
                break

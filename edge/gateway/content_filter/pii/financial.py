"""Payment cards (Luhn + issuer ranges) and IBANs (mod 97)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from stdnum import iban as _iban

from edge.gateway.content_filter.findings import PiiFinding
from edge.gateway.content_filter.pii.common import make_finding, preceded_by_reference

_CARD = re.compile(r"\d(?<![\w.,/\-]\d)(?:[ \-]?\d){12,22}(?![\w/\-]|[.,]\d)")
_CARD_GROUP_SHAPES = {(4, 6, 5), (4, 6, 4)}


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _card_brand_ok(d: str) -> bool:
    """Known issuer (IIN) ranges and the lengths each network issues."""
    n = len(d)
    p2, p3, p4, p6 = int(d[:2]), int(d[:3]), int(d[:4]), int(d[:6])
    if d[0] == "4":  # Visa
        return n in (13, 16, 19)
    if 51 <= p2 <= 55 or 2221 <= p4 <= 2720:  # Mastercard
        return n == 16
    if p2 in (34, 37):  # American Express
        return n == 15
    if p4 == 6011 or 644 <= p3 <= 649 or p2 == 65 or 622126 <= p6 <= 622925:  # Discover
        return 16 <= n <= 19
    if 3528 <= p4 <= 3589:  # JCB
        return 16 <= n <= 19
    if p2 in (36, 38, 39) or 300 <= p3 <= 305 or p4 == 3095:  # Diners Club
        return 14 <= n <= 19
    if p2 == 62 or p2 == 81:  # UnionPay
        return 16 <= n <= 19
    if p4 in (5018, 5020, 5038, 5893, 6304, 6759, 6761, 6762, 6763):  # Maestro
        return 13 <= n <= 19
    if 2200 <= p4 <= 2204:  # Mir
        return 16 <= n <= 19
    if p4 == 5019:  # Dankort
        return n == 16
    if p3 == 509 or p4 in (4011, 4312, 4389, 4514, 4576, 5041, 5066, 5067, 6277, 6362, 6363):
        return n == 16  # Elo
    if p4 == 9792:  # Troy
        return n == 16
    return False


def _card_shape_ok(groups: list[str], seps: set[str]) -> bool:
    if len(groups) == 1:
        return True
    if len(seps) != 1:
        return False
    sizes = tuple(len(g) for g in groups)
    if sizes in _CARD_GROUP_SHAPES:
        return True
    return all(s == 4 for s in sizes[:-1]) and 1 <= sizes[-1] <= 4


def _card_in_run(text: str, run: re.Match[str]) -> tuple[int, int] | None:
    """The span of a card number within a digit run, if any."""
    raw = run.group()
    groups = re.split(r"[ \-]", raw)
    seps = set(re.findall(r"[ \-]", raw))
    # Whole run first, then without one or two leading/trailing groups (a trailing
    # expiry date or a leading quantity glued on with the same separator), then a leading
    # card followed by more numbers (several cards listed one after the other).
    n = len(groups)
    trimmed = sorted(
        ((i, j) for i in range(min(n, 3)) for j in range(max(i + 1, n - 2), n + 1)),
        key=lambda w: (w[0] - w[1], w[0]),
    )
    leading = [(0, j) for j in range(n - 3, 0, -1)]
    windows = trimmed + leading
    offsets = []
    pos = 0
    for g in groups:
        offsets.append(pos)
        pos += len(g) + 1
    for i, j in windows:
        digits = "".join(groups[i:j])
        if not 13 <= len(digits) <= 19:
            continue
        if not _card_shape_ok(groups[i:j], seps) or not _card_brand_ok(digits):
            continue
        if not luhn_ok(digits) or len(set(digits)) < 2:
            continue
        start = run.start() + offsets[i]
        if preceded_by_reference(text, start):
            continue
        return start, run.start() + offsets[j - 1] + len(groups[j - 1])
    return None


def find_cards(text: str) -> Iterator[PiiFinding]:
    pos = 0
    while (run := _CARD.search(text, pos)) is not None:
        span = _card_in_run(text, run)
        if span is None:
            pos = run.end()
            continue
        yield make_finding("card", text, *span)
        pos = span[1]


# --- IBAN ---

# Anchored on the check digits (so the engine skips to digits): the match starts two
# characters later than the IBAN.
_IBAN = re.compile(
    r"\d\d(?<=(?<![A-Za-z0-9])[A-Za-z]{2}\d\d)(?:[ \-]?[A-Za-z0-9]){11,30}(?![A-Za-z0-9])"
)
# IBAN length per country (SWIFT IBAN registry, as in python-stdnum's iban.dat): picks
# the one prefix worth validating; stdnum still does the validation.
IBAN_LENGTHS: dict[str, int] = {
    cc: int(n)
    for cc, n in re.findall(
        r"([A-Z]{2})(\d+)",
        "AD24 AE23 AL28 AT20 AZ28 BA20 BE16 BG22 BH22 BI27 BR29 BY28 CH21 CR22 CY28 CZ24 "
        "DE22 DJ27 DK18 DO28 EE20 EG29 ES24 FI18 FK18 FO18 FR27 GB22 GE22 GI23 GL18 GR27 "
        "GT28 HN28 HR21 HU28 IE22 IL23 IQ23 IS26 IT27 JO30 KW30 KZ20 LB28 LC32 LI21 LT20 "
        "LU20 LV21 LY25 MC27 MD24 ME22 MK19 MN20 MR27 MT31 MU30 NI28 NL18 NO15 OM23 PK24 "
        "PL28 PS29 PT25 QA29 RO24 RS22 RU33 SA24 SC31 SD18 SE24 SI19 SK24 SM27 SO23 ST25 "
        "SV28 TL23 TN24 TR26 UA29 VA22 VG24 XK20 YE30",
    )
}


def find_ibans(text: str) -> Iterator[PiiFinding]:
    for m in _IBAN.finditer(text):
        start = m.start() - 2
        raw = text[start : m.end()]
        country = raw[:2]
        if not (country.isupper() or country.islower()):
            continue  # "De89..." is a word followed by digits, not an IBAN
        expected = IBAN_LENGTHS.get(country.upper())
        positions = [i for i, ch in enumerate(raw) if ch not in " -"]
        if expected is None or len(positions) < expected:
            continue
        # The run may have swallowed a following code ("... 00 BIC COBADEFF"): the
        # country's fixed length says where the IBAN ends.
        candidate = "".join(raw[i] for i in positions[:expected]).upper()
        if _iban.is_valid(candidate):
            end = start + positions[expected - 1] + 1
            yield make_finding("iban", text, start, end)

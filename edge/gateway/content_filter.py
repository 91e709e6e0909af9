"""Content filter stage of the edge gateway: prompt-injection scoring and PII detection.

Pure functions over a string, no I/O and no Django. The hot path is compiled regular
expressions and the standard library; the only third-party calls are checksum validators
(``python-stdnum``) on the few candidates that already look like an identifier, and
``phonenumbers`` on short phone-shaped candidates (never on the whole text).

- :func:`scan` returns an :class:`InjectionFinding` (or ``None`` below the threshold) and
  the PII found, as non-overlapping character spans of the original text.
- :func:`redact` replaces those spans with ``[EMAIL]``, ``[PHONE]``, ``[CARD]``,
  ``[IBAN]`` or ``[NATIONAL_ID]``.

Method, labelled evaluation set and measured precision/recall: docs/content-filter.md.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import html
import re
import unicodedata
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from urllib.parse import unquote

import phonenumbers
from phonenumbers import Leniency, PhoneNumberMatcher
from stdnum import iban as _iban
from stdnum.de import idnr as _de_idnr
from stdnum.es import dni as _es_dni
from stdnum.es import nie as _es_nie
from stdnum.fr import nir as _fr_nir
from stdnum.nl import bsn as _nl_bsn
from stdnum.us import ssn as _us_ssn

__all__ = [
    "ALL_PII_TYPES",
    "DEFAULT_INJECTION_THRESHOLD",
    "DEFAULT_PHONE_REGIONS",
    "REDACTION_LABELS",
    "InjectionFinding",
    "PiiFinding",
    "ScanResult",
    "detect_injection",
    "find_pii",
    "redact",
    "scan",
    "score_injection",
]


@dataclass(frozen=True)
class InjectionFinding:
    """A prompt-injection verdict: combined score in [0, 1], the strongest rule that fired
    (``rule``, e.g. ``instruction_override``) and a short human-readable ``reason``."""

    score: float
    reason: str
    rule: str


@dataclass(frozen=True)
class PiiFinding:
    """One PII span of the scanned text: ``text == scanned[start:end]``."""

    kind: str  # email | phone | card | iban | national_id
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class ScanResult:
    injection: InjectionFinding | None
    pii: list[PiiFinding]


ALL_PII_TYPES: frozenset[str] = frozenset({"email", "phone", "card", "iban", "national_id"})
REDACTION_LABELS: dict[str, str] = {
    "email": "[EMAIL]",
    "phone": "[PHONE]",
    "card": "[CARD]",
    "iban": "[IBAN]",
    "national_id": "[NATIONAL_ID]",
}
DEFAULT_INJECTION_THRESHOLD = 0.5
# Regions whose national formats are tried for numbers written without "+"/"00".
DEFAULT_PHONE_REGIONS: tuple[str, ...] = ("US", "GB", "DE", "FR", "NL", "ES")

# When two findings overlap, the more specific kind wins (a card number also parses as a
# long phone number, an IBAN's digits as anything).
_PRIORITY = {"card": 0, "iban": 1, "national_id": 2, "email": 3, "phone": 4}

# The most base64/hex blobs decoded per scan (bounds the cost). The text itself is always
# scanned whole: every detector is linear in its length.
_MAX_DECODED_BLOBS = 8


def scan(
    text: str,
    *,
    pii_types: Collection[str] = ALL_PII_TYPES,
    injection: bool = True,
    injection_threshold: float = DEFAULT_INJECTION_THRESHOLD,
    phone_regions: Sequence[str] = DEFAULT_PHONE_REGIONS,
) -> ScanResult:
    """Scan ``text`` for prompt injection (when ``injection``) and the PII kinds in
    ``pii_types``. ``injection`` in the result is ``None`` when the score is below
    ``injection_threshold``. PII findings are sorted by start and never overlap."""
    unknown = set(pii_types) - ALL_PII_TYPES
    if unknown:
        raise ValueError(f"unknown PII types: {sorted(unknown)}")
    finding = detect_injection(text, threshold=injection_threshold) if injection else None
    pii = find_pii(text, pii_types, phone_regions=phone_regions) if pii_types else []
    return ScanResult(injection=finding, pii=pii)


def redact(text: str, findings: Sequence[PiiFinding]) -> str:
    """Replace each finding's span with its label. Overlapping or nested findings are
    merged into one replacement (labelled by the first-starting, then longest, finding);
    findings whose span lies outside ``text`` are ignored."""
    spans = sorted(
        (f for f in findings if 0 <= f.start < f.end <= len(text)),
        key=lambda f: (f.start, -f.end),
    )
    out: list[str] = []
    pos = 0
    cur_start = cur_end = -1
    cur_kind = ""
    for f in spans:
        if f.start < cur_end:  # overlaps the current span: extend it
            cur_end = max(cur_end, f.end)
            continue
        if cur_end >= 0:
            out.append(text[pos:cur_start])
            out.append(REDACTION_LABELS.get(cur_kind, "[REDACTED]"))
            pos = cur_end
        cur_start, cur_end, cur_kind = f.start, f.end, f.kind
    if cur_end >= 0:
        out.append(text[pos:cur_start])
        out.append(REDACTION_LABELS.get(cur_kind, "[REDACTED]"))
        pos = cur_end
    out.append(text[pos:])
    return "".join(out)


# ---------------------------------------------------------------------------------------
# PII
# ---------------------------------------------------------------------------------------


def find_pii(
    text: str,
    pii_types: Collection[str] = ALL_PII_TYPES,
    *,
    phone_regions: Sequence[str] = DEFAULT_PHONE_REGIONS,
) -> list[PiiFinding]:
    """All PII of the requested kinds, sorted, without overlaps. Every cheap detector
    runs so that, e.g., a card number is never reported as a phone number even when only
    phones are requested; the phone detector (the costly one) runs only when asked."""
    found: list[PiiFinding] = []
    found.extend(_find_cards(text))
    found.extend(_find_ibans(text))
    found.extend(_find_national_ids(text))
    found.extend(_find_emails(text))
    if "phone" in pii_types:
        taken = [(f.start, f.end) for f in found]
        found.extend(_find_phones(text, phone_regions, taken))
    kept = _resolve_overlaps(found)
    return [f for f in kept if f.kind in pii_types]


def _resolve_overlaps(found: list[PiiFinding]) -> list[PiiFinding]:
    """Keep the most specific finding where findings overlap (by kind priority, then
    length). ``starts``/``kept`` stay sorted by start, so each check is a bisection."""
    ranked = sorted(found, key=lambda f: (_PRIORITY[f.kind], -(f.end - f.start), f.start))
    starts: list[int] = []
    kept: list[PiiFinding] = []
    for f in ranked:
        i = bisect.bisect_left(starts, f.start)
        if i > 0 and kept[i - 1].end > f.start:
            continue  # overlaps the kept finding that starts before it
        if i < len(kept) and kept[i].start < f.end:
            continue  # overlaps the kept finding that starts at or after it
        starts.insert(i, f.start)
        kept.insert(i, f)
    return kept


def _finding(kind: str, text: str, start: int, end: int) -> PiiFinding:
    return PiiFinding(kind=kind, start=start, end=end, text=text[start:end])


# Words that, right before a number, say it is a business reference and not PII.
_REF_SUFFIX = r"(?:\s*(?:no|nr|num|number|nummer|numero|número|n°|nº|id|#|code))"
# Words that make the next number a reference on their own ("Order 4155552671") ...
_REF_WORDS = (
    r"order|orders|invoice|inv|ticket|case|incident|tracking|shipment|parcel|consignment|"
    r"waybill|awb|ref|reference|po|sku|part|serial|s/n|sn|batch|lot|build|version|ver|"
    r"release|txn|trx|booking|reservation|confirmation|receipt|quote|issue|pr|bug|uuid|"
    r"(?<!caller )id|auftrag|auftragsnummer|bestellung|bestellnummer|bestellnr|rechnung|"
    r"rechnungsnummer|rechnungsnr|kundennummer|kundennr|sendungsnummer|vorgangsnummer|"
    r"aktenzeichen|commande|facture|colis|pedido|factura|albaran|envio|referencia|"
    r"expediente|bestelling|bestelnummer|factuur|factuurnummer|zending|klantnummer|"
    r"dossiernummer"
)
# ... and words that do with a "no."/"number"/"ID" after them ("Customer ID 4155552671";
# "dossier" alone is just "file" in French).
_REF_WORDS_WITH_SUFFIX = (
    r"customer|cust|client|member|account|acct|policy|claim|contract|transaction|payment|"
    r"item|article|product|model|package|job|run|request|req|employee|vendor|supplier|"
    r"kunde|kunden|mitglieds|vertrags|cliente|socio|lid|klant|dossier"
)
_REFERENCE_BEFORE = re.compile(
    r"(?:\b(?:" + _REF_WORDS + r")" + _REF_SUFFIX + r"?"
    r"|\b(?:" + _REF_WORDS_WITH_SUFFIX + r")" + _REF_SUFFIX + r"|\bn[°º]|#)\s*[.:#=]?\s*$",
    re.IGNORECASE,
)


def _preceded_by_reference(text: str, start: int) -> bool:
    return bool(_REFERENCE_BEFORE.search(text[max(0, start - 40) : start]))


# --- email ---

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


def _find_emails(text: str) -> Iterator[PiiFinding]:
    for m in _email_matches(text):
        if m.group("tld").lower() in _FILE_TLDS:
            continue
        start = m.start()
        before = text[max(0, start - 8) : start]
        if before.endswith((":", "/")) and not before.lower().endswith("mailto:"):
            continue  # userinfo of a URL (https://user:pw@host) or a path segment
        end = m.end()
        if text.startswith(":", end) and end + 1 < len(text) and not text[end + 1].isspace():
            continue  # scp/ssh remote: git@github.com:org/repo.git
        yield _finding("email", text, start, end)


# --- payment cards ---

_CARD = re.compile(r"\d(?<![\w.,/\-]\d)(?:[ \-]?\d){12,22}(?![\w/\-]|[.,]\d)")
_CARD_GROUP_SHAPES = {(4, 6, 5), (4, 6, 4)}


def _luhn_ok(digits: str) -> bool:
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
        if not _luhn_ok(digits) or len(set(digits)) < 2:
            continue
        start = run.start() + offsets[i]
        if _preceded_by_reference(text, start):
            continue
        return start, run.start() + offsets[j - 1] + len(groups[j - 1])
    return None


def _find_cards(text: str) -> Iterator[PiiFinding]:
    pos = 0
    while (run := _CARD.search(text, pos)) is not None:
        span = _card_in_run(text, run)
        if span is None:
            pos = run.end()
            continue
        yield _finding("card", text, *span)
        pos = span[1]


# --- IBAN ---

# Anchored on the check digits (so the engine skips to digits): the match starts two
# characters later than the IBAN.
_IBAN = re.compile(
    r"\d\d(?<=(?<![A-Za-z0-9])[A-Za-z]{2}\d\d)(?:[ \-]?[A-Za-z0-9]){11,30}(?![A-Za-z0-9])"
)
# IBAN length per country (SWIFT IBAN registry, as in python-stdnum's iban.dat): picks
# the one prefix worth validating; stdnum still does the validation.
_IBAN_LENGTHS: dict[str, int] = {
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


def _find_ibans(text: str) -> Iterator[PiiFinding]:
    for m in _IBAN.finditer(text):
        start = m.start() - 2
        raw = text[start : m.end()]
        country = raw[:2]
        if not (country.isupper() or country.islower()):
            continue  # "De89..." is a word followed by digits, not an IBAN
        expected = _IBAN_LENGTHS.get(country.upper())
        positions = [i for i, ch in enumerate(raw) if ch not in " -"]
        if expected is None or len(positions) < expected:
            continue
        # The run may have swallowed a following code ("... 00 BIC COBADEFF"): the
        # country's fixed length says where the IBAN ends.
        candidate = "".join(raw[i] for i in positions[:expected]).upper()
        if _iban.is_valid(candidate):
            end = start + positions[expected - 1] + 1
            yield _finding("iban", text, start, end)


# --- national identifiers ---

_SSN_DASHED = re.compile(r"\d(?<![\w\-]\d)\d\d-\d\d-\d{4}(?![\w\-]|[.,]\d)")
_NINO = re.compile(
    r"(?P<prefix>[A-CEGHJ-PR-TW-Z](?<![A-Za-z0-9][A-Z])[A-CEGHJ-NPR-TW-Z])"
    r"(?P<sp> ?)\d{2}(?P=sp)\d{2}(?P=sp)\d{2}(?P=sp)[A-D](?![A-Za-z0-9])"
)
_NINO_BAD_PREFIXES = frozenset({"BG", "GB", "NK", "KN", "TN", "NT", "ZZ"})
_DNI = re.compile(r"\d(?<![\w\-]\d)\d{7}[ \-]?[A-Za-z](?![\w\-])")
_NIE = re.compile(r"[XYZxyz](?<![\w\-][XYZxyz])[ \-]?\d{7}[ \-]?[A-Za-z](?![\w\-])")
_NIR = re.compile(
    r"[1-478](?<![\w.,/\-][1-478])(?P<sp> ?)\d{2}(?P=sp)(?:0[1-9]|1[0-2]|[2-9]\d)(?P=sp)"
    r"(?:\d{2}|2[ABab])(?P=sp)\d{3}(?P=sp)\d{3}(?P=sp)(?:- ?)?\d{2}(?![\w\-]|[.,]\d)"
)
# German tax id in its printed grouping (no leading zero): "12 345 678 901".
_IDNR_GROUPED = re.compile(r"[1-9](?<![\w.,/\-][1-9])\d \d{3} \d{3} \d{3}(?![\w\-]|[.,]\d)")
# Bare digit runs that are an identifier only when the text says so right before.
_WEAK_ID = re.compile(
    r"\d(?<![\w.,/\-]\d)(?:\d{2}[ .]?\d{2}[ .]?\d{4}|\d{3}\.\d{2}\.\d{3}|\d{2}\.\d{3}\.\d{3}"
    r"|\d{2} \d{3} \d{3}|(?<=[1-9])\d{10})(?![\w\-]|[.,]\d)"
)
_ID_CONTEXT = re.compile(
    r"(?P<ssn>\bssn\b|social security|soc\.? sec|\bss ?#)"
    r"|(?P<bsn>\bbsn\b|burgerservicenummer|sofi-?\s?nummer|citizen service number)"
    r"|(?P<idnr>steuer-?\s?id|steuer-?identifikations|identifikationsnummer|\bidnr\b|"
    r"\bid-nr\b|steuerliche id|tax id|\btin\b|steuernummer)"
    r"|(?P<generic>national id|national identi|identity number|id number|personal number|"
    r"identification number|personal id|persoonsnummer|n[uú]mero de identi|"
    r"num[eé]ro d.identi)",
    re.IGNORECASE,
)
_ID_CONTEXT_WINDOW = 60


def _weak_id_kinds(text: str, start: int) -> set[str]:
    window = text[max(0, start - _ID_CONTEXT_WINDOW) : start]
    if "\n\n" in window:
        window = window.rsplit("\n\n", 1)[1]
    kinds: set[str] = set()
    for m in _ID_CONTEXT.finditer(window):
        kinds.update(k for k, v in m.groupdict().items() if v)
    return kinds


def _is_reference(text: str, start: int) -> bool:
    """A reference label right before the number, unless the text names an identity
    document ("Steuer-ID:", "national ID number") there."""
    return _preceded_by_reference(text, start) and not _weak_id_kinds(text, start)


def _find_national_ids(text: str) -> Iterator[PiiFinding]:
    if not any(ch.isdigit() for ch in text):
        return
    for m in _SSN_DASHED.finditer(text):
        raw = m.group()
        if (raw[:3] == "123" and raw[4:6] == "45") or len(set(raw.replace("-", ""))) == 1:
            continue  # the ubiquitous sample values
        if _us_ssn.is_valid(raw) and not _is_reference(text, m.start()):
            yield _finding("national_id", text, m.start(), m.end())
    for m in _NINO.finditer(text):
        prefix_ok = m.group("prefix") not in _NINO_BAD_PREFIXES
        if prefix_ok and not _is_reference(text, m.start()):
            yield _finding("national_id", text, m.start(), m.end())
    for m in _DNI.finditer(text):
        if _es_dni.is_valid(m.group().upper()) and not _is_reference(text, m.start()):
            yield _finding("national_id", text, m.start(), m.end())
    for m in _NIE.finditer(text):
        if _es_nie.is_valid(m.group().upper()):
            yield _finding("national_id", text, m.start(), m.end())
    for m in _NIR.finditer(text):
        valid = _fr_nir.is_valid(m.group().replace("-", ""))
        if valid and not _is_reference(text, m.start()):
            yield _finding("national_id", text, m.start(), m.end())
    for m in _IDNR_GROUPED.finditer(text):
        if _de_idnr.is_valid(m.group()) and not _is_reference(text, m.start()):
            yield _finding("national_id", text, m.start(), m.end())
    for m in _WEAK_ID.finditer(text):
        kinds = _weak_id_kinds(text, m.start())
        if not kinds:
            continue
        digits = re.sub(r"\D", "", m.group())
        ok = False
        if len(digits) == 9:
            if kinds & {"ssn", "generic"}:
                ok = ok or (_us_ssn.is_valid(digits) and len(set(digits)) > 1)
            if kinds & {"bsn", "generic"}:
                ok = ok or _nl_bsn.is_valid(digits)
        elif len(digits) == 11 and kinds & {"idnr", "generic"}:
            ok = _de_idnr.is_valid(digits)
        if ok:
            yield _finding("national_id", text, m.start(), m.end())


# --- phone numbers ---

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
    if _preceded_by_reference(text, start):
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
    if _DECIMAL.match(chunk) or _preceded_by_reference(text, start):
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


def _find_phones(
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
                    yield _finding("phone", text, start, end)
            if hit:
                break


# ---------------------------------------------------------------------------------------
# Prompt injection
# ---------------------------------------------------------------------------------------

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
class _Views:
    markup: str  # casefolded, NFKC, zero-width removed; punctuation and newlines kept
    words: str  # + diacritics stripped, de-leeted, punctuation removed, single-spaced


def _normalize(text: str) -> _Views:
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
        s = s.translate(_CONFUSABLES)
    if _SPACED_HINT.search(s):
        s = _SPACED_LETTERS.sub(lambda m: _NON_WORD.sub("", m.group()), s)
    markup = _SPACES.sub(" ", s)
    return _Views(markup=markup, words=_to_words(markup))


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


def _to_words(markup: str) -> str:
    w = markup if markup.isascii() else _strip_marks(markup)
    if _LEET_HINT.search(w):
        w = _LEET_TOKEN.sub(_deleet, w)
    if "-" in w:
        w = _HYPHEN_IN_WORD.sub(_join_split_word, w)
    # Underscores stay: identifiers such as ignore_previous(...) are code, not prose.
    return " " + _NON_WORD_KEEP_UNDERSCORE.sub(" ", w).strip() + " "


def _decoded_blobs(text: str) -> Iterator[str]:
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
            if seen >= _MAX_DECODED_BLOBS:
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


@dataclass(frozen=True)
class _Rule:
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


def _w(pattern: str) -> re.Pattern[str]:
    """Compile a words-view pattern: ``_`` stands for one space, ``~`` for up to N
    filler words (``~3`` = 0..3 words)."""
    pattern = re.sub(r"~(\d)", lambda m: rf"(?:\w+ ){{0,{m.group(1)}}}", pattern)
    return re.compile(pattern.replace("_", " "))


def _m(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.MULTILINE)


# --- instruction override (EN, DE, FR, ES, NL) ---
_OVERRIDE_OBJECTS_EN = (
    r"(?:instructions?|rules|directives?|guidelines|guidance|prompts?|commands|orders|"
    r"constraints|restrictions|policies|programming|guardrails|safeguards|directions|"
    r"training|conditioning|limitations)"
)
_OVERRIDE_QUAL_EN = re.compile(
    r" (?:all|any|every|previous|previously|prior|above|earlier|preceding|initial|original|"
    r"former|foregoing|your|system|developer|safety|openai|anthropic) "
    r"| (?:you (?:were|have been|ve been) (?:given|told|taught)|given to you|you received|"
    r"you ve received|you have received|so far|until now|up to now|to date) "
)
# "ignore any instructions contained in the document" is a defence, "forget the previous
# instructions I gave you" is the user's own change of mind.
_OVERRIDE_NEGATIVE = re.compile(
    r" (?:in|inside|within|contained in|embedded in|found in|hidden in|from|that appear in)"
    r" (?:the|this|that|any|these|those|such) (?:\w+ )?(?:document|documents|email|emails|"
    r"file|files|page|pages|text|attachment|attachments|website|web page|content|data|input|"
    r"tool|tools|output|results?|message|messages|ticket|pdf|dokument|e mail|datei|texte?|"
    r"document|fichier|documento|archivo|correo|bestand|bericht)"
    r"| (?:contained|embedded|hidden|found) (?:in|inside|within) (?:it|them|there) "
    r"| (?:therein|in it|inside it|within it) "
    r"| (?:i|we) (?:gave|sent|wrote|provided|had given|mentioned|shared|added|set)"
    r"| my (?:previous|earlier|last|prior|old|own) "
    r"| (?:ich|wir) (?:dir |ihnen |euch |)(?:gegeben|geschickt|geschrieben)"
    r"| mes (?:instructions|consignes) | mis instrucciones | mijn (?:instructies|opdrachten) "
)
_OVERRIDE_QUAL_DE = re.compile(
    r" (?:alle|allen|samtliche|vorherigen?|vorigen?|bisherigen?|obigen?|fruheren?|"
    r"vorangegangenen?|ursprunglichen?|deine|deinen|ihre|ihren|system|sicherheits|alten) "
    r"| die (?:dir|ihnen|man dir) (?:\w+ )?(?:gegeben|vorgegeben|gesagt|mitgegeben) "
    r"| (?:bis jetzt|bislang|erhaltenen|bisher erhaltenen) "
)
_OVERRIDE_QUAL_FR = re.compile(
    r" (?:toutes|tous|precedentes?|anterieures?|ci dessus|tes|vos|initiales?|originales?|"
    r"systeme|securite|anciennes?|d avant) "
    r"| qu on (?:t|vous) a (?:donnees?|fournies?|imposees?) | que (?:tu as|vous avez) recues? "
    r"| (?:recues?|jusqu ici|jusqu a present|jusqu a maintenant) "
)
_OVERRIDE_QUAL_ES = re.compile(
    r" (?:todas|todos|anteriores|previas|de arriba|tus|sus|iniciales|originales|sistema|"
    r"seguridad|precedentes|antiguas) "
    r"| que (?:te|le) (?:dieron|han dado|dio|ha dado|impusieron|dimos) | que recibiste "
    r"| (?:recibidas|hasta ahora|hasta el momento) "
)
_OVERRIDE_QUAL_NL = re.compile(
    r" (?:alle|vorige|voorgaande|eerdere|bovenstaande|je|jouw|uw|oorspronkelijke|"
    r"systeem|veiligheids|oude) "
    r"| die (?:je|jij|u) (?:hebt |heeft |)(?:gekregen|kreeg|kregen|meegekregen) "
    r"| (?:tot nu toe|ontvangen|gekregen) "
)

_RULES: tuple[_Rule, ...] = (
    _Rule(
        "instruction_override",
        "asks to ignore the previous instructions",
        0.9,
        _w(
            r" (?:ignore|ignoring|disregard|disregarding|forget|forgetting|skip|bypass|"
            r"override|overlook|discard|drop|abandon|neglect|dismiss|set aside|throw out|"
            r"do not follow|don t follow|dont follow|stop following|no longer follow|"
            r"nevermind|never mind) ~5" + _OVERRIDE_OBJECTS_EN + r" "
        ),
        qualifier=_OVERRIDE_QUAL_EN,
        weak=0.2,
        negative=_OVERRIDE_NEGATIVE,
        window=40,
    ),
    _Rule(
        "instruction_override",
        "asks to ignore everything said before",
        0.75,
        _w(
            r" (?:ignore|disregard|forget) ~2(?:everything|all|anything|what) ~3"
            r"(?:above|before|previously|so far|earlier|you (?:were|ve been|have been) "
            r"(?:told|given|instructed|taught)|prior to this)"
        ),
    ),
    _Rule(
        "instruction_override",
        "asks to forget what the model was told (de/fr/es/nl)",
        0.75,
        _w(
            r" (?:vergiss|vergessen sie|ignoriere|ignorieren sie) (?:alles |)was (?:man |)"
            r"(?:dir|ihnen) ~2(?:gesagt|aufgetragen|befohlen|vorgegeben|beigebracht|erklart)"
            r"|(?:oublie|oubliez|ignore|ignorez) (?:tout |)ce qu on (?:t|vous) a ~1(?:dit|"
            r"demande|ordonne|appris|explique|impose)"
            r"|(?:olvida|olvide|ignora|ignore) (?:todo |)lo que (?:te|le) (?:han |)(?:dicho|"
            r"dijeron|ordenado|ordenaron|pedido|pidieron|ensenado|ensenaron|indicado|indicaron)"
            r"|(?:vergeet|negeer) (?:alles |)wat (?:je|jij|u) ~3(?:opgedragen|verteld|gezegd|"
            r"geinstrueerd|gevraagd|geleerd)"
        ),
    ),
    _Rule(
        "instruction_override",
        "says the model no longer follows its rules",
        0.75,
        _w(
            r" you (?:don t|do not|dont|no longer|won t|will not|wont|needn t|need not|"
            r"shouldn t|should not|don t have to|do not have to|don t need to|do not need to)"
            r" ~1(?:follow|obey|adhere to|comply with|respect|abide by|care about) ~3"
            r"(?:guidelines|rules|instructions|policies|policy|restrictions|guardrails|"
            r"principles|programming|directives|terms)"
        ),
    ),
    _Rule(
        "instruction_override",
        "asks to set aside the user's actual request",
        0.6,
        _w(
            r" (?:ignore|disregard|skip|forget|drop|override) (?:the|this|that|your|any) "
            r"~2(?:request|question|task|query|assignment|instructions|prompt) "
        ),
        qualifier=re.compile(
            r" (?:user s|users|user|summary|summarization|summarisation|translation|original|"
            r"actual|real|customer s|human s) "
        ),
        weak=0.0,
        window=0,
    ),
    _Rule(
        "instruction_override",
        "dictates the exact reply instead",
        0.35,
        _w(
            r" instead (?:you (?:should|must|will) |)(?:reply|respond|answer|say|output|write|"
            r"print|state|tell) (?:only |just |)(?:with|that|the following|this)"
            r"|(?:reply|respond|answer) (?:only|just|exclusively) with "
        ),
    ),
    _Rule(
        "instruction_override",
        "claims the safety layer is disabled",
        0.7,
        _w(
            r" (?:safety|content|moderation|security|ethics|ethical|filter|filtering|"
            r"guardrail|guardrails|alignment) (?:layer|filter|filters|system|systems|policy|"
            r"policies|mode|module|checks|settings|guardrails|protocols|)~1 ?(?:has been|"
            r"have been|is|are|was|were|is now|are now) (?:disabled|turned off|switched off|"
            r"off|removed|deactivated|suspended|bypassed|lifted|offline|down)"
        ),
    ),
    _Rule(
        "instruction_override",
        "demands unconditional compliance",
        0.35,
        _w(
            r" (?:comply|agree) with (?:all|every|any) (?:request|requests|instruction|"
            r"instructions|command|commands|order|orders)"
            r"|(?:never|do not|don t|must not) (?:refuse|decline|reject) (?:any|anything|"
            r"a request|requests)"
            r"|always (?:comply|obey|agree)"
        ),
    ),
    _Rule(
        "instruction_override",
        "asks to ignore the text above and do something else",
        0.7,
        _w(
            r" (?:ignore|disregard) (?:all |everything |the |)(?:of the |)(?:above|previous|"
            r"preceding|prior)(?: text| content| message| messages| input| conversation|)"
            r" (?:and |then |instead |now )~2(?:say|print|output|respond|reply|write|type|"
            r"tell|translate|answer|return|just|only|instead|do)"
        ),
    ),
    _Rule(
        "instruction_override",
        "dismisses the text above, then asks for something",
        0.6,
        _w(
            r" (?:ignore|disregard|forget) (?:all of |all |everything |)(?:the |)(?:above|"
            r"previous|preceding|prior)(?: text| content| message| messages| input|"
            r" conversation| part|) "
        ),
        qualifier=re.compile(
            r" (?:what|tell|give|print|show|say|write|list|reveal|output|send|password|"
            r"secret|secrets|key|keys|token|credentials|admin|prompt|instructions)\b"
        ),
        weak=0.3,
        window=50,
        negative=_OVERRIDE_NEGATIVE,
    ),
    _Rule(
        "instruction_override",
        "fordert auf, vorherige Anweisungen zu ignorieren (de)",
        0.9,
        _w(
            r" (?:ignorier\w*|vergiss|vergessen|vergesst|missacht\w*|verwirf|verwerfen|"
            r"ubergeh\w*|uebergeh\w*|setze|setzen|befolge nicht|befolgen sie nicht) ~5"
            r"(?:\w*anweisung(?:en)?|\w*instruktion(?:en)?|\w*regeln|\w*vorgaben|befehle|"
            r"\w*richtlinien|"
            r"systemprompt|system prompt|prompts?|einschrankungen|anordnungen|programmierung) "
        ),
        qualifier=_OVERRIDE_QUAL_DE,
        weak=0.2,
        negative=_OVERRIDE_NEGATIVE,
        window=40,
    ),
    _Rule(
        "instruction_override",
        "fordert auf, vorherige Anweisungen zu ignorieren (de)",
        0.85,
        _w(
            r" (?:alle|samtliche|deine|ihre|die) ~2(?:anweisungen|instruktionen|regeln|"
            r"vorgaben|befehle|richtlinien) ~3(?:ignorieren|vergessen|missachten|"
            r"verwerfen|ausser kraft)"
        ),
        qualifier=_OVERRIDE_QUAL_DE,
        weak=0.2,
        negative=_OVERRIDE_NEGATIVE,
        window=40,
    ),
    _Rule(
        "instruction_override",
        "demande d'ignorer les instructions précédentes (fr)",
        0.9,
        _w(
            r" (?:ignore|ignorez|ignorer|ignores|oublie|oubliez|oublier|neglige|negligez|"
            r"ne tiens pas compte|ne tenez pas compte|ne tiens plus compte|"
            r"ne tenez plus compte|fais abstraction|faites abstraction|laisse tomber|"
            r"n obeis plus|n obeissez plus|passe outre|passez outre) ~5"
            r"(?:instructions?|consignes?|regles|directives|ordres|commandes|prompts?|"
            r"restrictions|limitations|programmation) "
        ),
        qualifier=_OVERRIDE_QUAL_FR,
        weak=0.2,
        negative=_OVERRIDE_NEGATIVE,
        window=40,
    ),
    _Rule(
        "instruction_override",
        "pide ignorar las instrucciones anteriores (es)",
        0.9,
        _w(
            r" (?:ignora|ignore|ignoren|ignorar|ignoras|olvida|olvide|olviden|olvidar|"
            r"olvidate|haz caso omiso|hagan caso omiso|omite|omita|descarta|descarte|"
            r"desobedece|desobedezca|no sigas|no siga|deja de seguir) ~5"
            r"(?:instrucciones|instruccion|reglas|indicaciones|directrices|ordenes|normas|"
            r"prompts?|restricciones|limitaciones|programacion) "
        ),
        qualifier=_OVERRIDE_QUAL_ES,
        weak=0.2,
        negative=_OVERRIDE_NEGATIVE,
        window=40,
    ),
    _Rule(
        "instruction_override",
        "vraagt eerdere instructies te negeren (nl)",
        0.9,
        _w(
            r" (?:negeer|negeren|negeert|vergeet|vergeten|ignoreer|ignoreren|"
            r"volg niet|volg niet langer|schuif opzij) ~5"
            r"(?:instructies|instructie|regels|opdrachten|richtlijnen|aanwijzingen|"
            r"prompts?|systeemprompt|beperkingen|restricties|programmering) "
        ),
        qualifier=_OVERRIDE_QUAL_NL,
        weak=0.2,
        negative=_OVERRIDE_NEGATIVE,
        window=40,
    ),
    _Rule(
        "instruction_override",
        "vraagt eerdere instructies te negeren (nl)",
        0.85,
        _w(
            r" (?:alle|je|jouw|de) ~2(?:instructies|regels|opdrachten|richtlijnen) ~3"
            r"(?:negeren|vergeten|ignoreren)"
        ),
        qualifier=_OVERRIDE_QUAL_NL,
        weak=0.2,
        negative=_OVERRIDE_NEGATIVE,
        window=40,
    ),
    _Rule(
        "instruction_override",
        "announces replacement instructions",
        0.4,
        _m(
            r"(?:^|[\n>\]:.!,)]) *(?:\W{0,4})(?:new|updated|real|actual|true|revised|"
            r"override|priority|important|urgent) (?:system )?(?:instructions?|directives?|"
            r"task|rules?|orders|prompt|message)\W{0,4}(?::|-{1,2}|\n)"
            r"|(?:^|\n) *(?:neue anweisungen|nouvelles instructions|nuevas instrucciones|"
            r"nieuwe instructies) ?:"
        ),
        view="markup",
        needs=(
            "instruction",
            "directive",
            "task",
            "rule",
            "order",
            "prompt",
            "message",
            "anweisung",
            "instructies",
            "instrucciones",
        ),
    ),
    _Rule(
        "instruction_override",
        "announces a new system prompt",
        0.6,
        _w(
            r" (?:new|updated|revised|override|overriding|replacement|real) system "
            r"(?:prompt|message|instructions) "
            r"|(?:neuer|neue) system ?(?:prompt|anweisungen) |nouveau prompt systeme "
            r"|nuevo prompt del sistema |nieuwe systeemprompt "
        ),
    ),
    _Rule(
        "instruction_override",
        "claims the model has been given new instructions",
        0.5,
        _w(
            r" (?:your|the|my) (?:new|real|actual|updated|true|only|revised) (?:instructions|"
            r"task|orders|directives|objective|goal|job|mission|purpose|rules) (?:is|are|now|"
            r"will be|from now) "
        ),
    ),
    _Rule(
        "instruction_override",
        "declares the model's instructions void",
        0.75,
        _w(
            r" (?:your|the) ~3(?:instructions|rules|guidelines|directives|prompt|programming|"
            r"restrictions|policies|constraints|orders) ~4(?:no longer apply|do not apply|"
            r"don t apply|dont apply|are void|are null|are invalid|are outdated|are obsolete|"
            r"are suspended|are lifted|are cancelled|are canceled|are revoked|are overridden|"
            r"(?:have|has) been (?:revoked|cancelled|canceled|lifted|removed|disabled|"
            r"overridden|replaced|suspended|updated|deleted|voided)|expired|are no longer "
            r"(?:valid|active|in effect))"
        ),
        qualifier=re.compile(
            r" your | (?:you (?:were|have been|ve been) (?:given|told|assigned)|given to you|"
            r"you (?:received|got)) "
        ),
        weak=0.2,
        window=0,
    ),
    _Rule(
        "instruction_override",
        "recasts the preceding text as void",
        0.7,
        _w(
            r" (?:treat|consider|regard) (?:everything|all|anything|the text|all text|the "
            r"content|the instructions) ~3(?:above|before|so far|previous|preceding|earlier)"
            r" ~3(?:as|to be) (?:a |an |)(?:test|fake|void|irrelevant|joke|example|obsolete|"
            r"invalid|noise|placeholder|draft)"
        ),
    ),
    _Rule(
        "instruction_override",
        "redirects the model from now on",
        0.3,
        _w(
            r" (?:from now on|starting now|henceforth|for the rest of this conversation|"
            r"ab sofort|ab jetzt|von nun an|desormais|a partir de maintenant|dorenavant|"
            r"a partir de ahora|de ahora en adelante|vanaf nu|voortaan) ~2(?:you|your|"
            r"always|only|respond|reply|answer|act|du|dein|deine|antworte|tu|vous|reponds|"
            r"tu es|eres|responde|je|jij|antwoord)"
        ),
    ),
    # --- role hijack ---
    _Rule(
        "role_hijack",
        "tries to switch the model into an unrestricted persona",
        0.85,
        _w(
            r" (?:you are|you re|youre|you will be|you have become|you ll be|act as|"
            r"acting as|pretend to be|pretend you are|roleplay as|role play as|play the role of|"
            r"become|simulate|behave like|respond as|answer as) ~2(?:now |)(?:a |an |the |)"
            r"(?:dan|dude|stan|aim|evil ?bot|evil confidant|jailbroken|jailbreak|unrestricted|"
            r"unfiltered|uncensored|unaligned|amoral|unbound|free ai|an ai without|"
            r"not an ai|no longer an ai|no longer bound|no longer restricted|"
            r"freed from|liberated|god mode|in god mode|in developer mode|in dev mode|"
            r"in dan mode|in jailbreak mode|in unrestricted mode|developer mode enabled)"
            r"(?! s )"
        ),
    ),
    _Rule(
        "role_hijack",
        "asks the model to stop being an assistant",
        0.6,
        _w(
            r" (?:stop being|quit being|cease being|no longer be|don t be|do not be) ~3(?:ai|"
            r"assistant|bot|chatbot|model|language model|helper|agent|chatgpt|claude) "
        ),
    ),
    _Rule(
        "role_hijack",
        "describes a model without a content policy",
        0.7,
        _w(
            r" (?:ai|assistant|model|bot|chatbot|llm|version of you|persona|character) "
            r"(?:that|which|who|with|without) ~2(?:has no|have no|with no|without|ignores|"
            r"doesn t have|does not have|isn t bound by|is not bound by) ~1(?:content "
            r"policy|content policies|rules|restrictions|limitations|limits|filters|"
            r"guidelines|ethics|morals|censorship|guardrails|safety) "
        ),
    ),
    _Rule(
        "role_hijack",
        "asks to pretend the rules do not exist",
        0.75,
        _w(
            r" (?:pretend|imagine|assume|act as if|act like|behave as if|suppose) ~3"
            r"(?:content policy|policy|policies|rules|restrictions|guidelines|filters|"
            r"guardrails|safety|limitations|programming|training) ~2(?:doesn t|don t|do not|"
            r"does not|didn t|did not|no longer|never) (?:exist|existed|apply|matter|count)"
        ),
    ),
    _Rule(
        "role_hijack",
        "claims there are no rules in this conversation",
        0.6,
        _w(
            r" (?:there are|there re|theres|there is) no (?:more |longer any |)(?:rules|"
            r"restrictions|limits|limitations|filters|guidelines|boundaries|guardrails|"
            r"content policy|policies) (?:here|anymore|any more|now|for you|in this|"
            r"in sandbox|in developer|in dev)"
        ),
    ),
    _Rule(
        "role_hijack",
        "deceased-relative roleplay jailbreak",
        0.6,
        _w(
            r" (?:pretend|act|roleplay|role play|play|imagine|be) ~4(?:my|a|an|your) "
            r"(?:deceased|dead|late|departed) (?:grandma|grandmother|grandpa|grandfather|"
            r"granny|nan|nana|mother|father|mom|dad|uncle|aunt)"
        ),
    ),
    _Rule(
        "role_hijack",
        "tells the model it is no longer an assistant",
        0.6,
        _w(
            r" (?:you are|you re|youre) no longer ~3(?:ai|assistant|bot|chatbot|model|"
            r"language model|helper|agent|chatgpt|claude) "
        ),
    ),
    _Rule(
        "role_hijack",
        "asks the model to act without restrictions",
        0.8,
        _w(
            r" (?:act|acting|behave|respond|answer|reply|pretend|roleplay|role play|operate|"
            r"function|continue|speak|write|talk|be|you are|you re|you will|you can|"
            r"you must|you have|simulate|as) ~6"
            r"(?:without|with no|with zero|free of|free from|unbound by|ignoring|regardless of|"
            r"not bound by|not restricted by|unrestricted by|no longer bound by|"
            r"no longer restricted by) ~3(?:restrictions?|limitations?|limits|"
            r"filters?|filtering|rules|guidelines|censorship|ethics|ethical|morals?|moral|"
            r"policies|policy|boundaries|safeguards|guardrails|constraints|content policy|"
            r"safety) "
        ),
    ),
    _Rule(
        "role_hijack",
        "claims the model has no restrictions",
        0.75,
        _w(
            r" (?:you|you now|you no longer|chatgpt|claude|the ai|the assistant|the model) "
            r"(?:have|has|ha|do not have|don t have|dont have) (?:no|zero|any) ~1"
            r"(?:restrictions|limitations|limits|filters|rules|guidelines|censorship|ethics|"
            r"morals|policies|boundaries|guardrails) "
        ),
    ),
    _Rule(
        "role_hijack",
        "claims the model has no restrictions (de/fr/es/nl)",
        0.75,
        _w(
            r" (?:du hast (?:jetzt |nun |ab sofort |)(?:keine|keinerlei)|tu n as (?:plus |)"
            r"(?:aucune|aucun|pas de)|vous n avez (?:plus |)(?:aucune|aucun|pas de)|"
            r"no tienes (?:ya |)(?:ninguna |ningun |ningunas |)|ya no tienes|"
            r"(?:je|jij|u) (?:hebt|heeft) (?:nu |)geen|(?:je|jij) geen) ~1"
            r"(?:regeln|einschrankungen|beschrankungen|filter|grenzen|richtlinien|regles|"
            r"restrictions|limites|filtres|reglas|restricciones|limites|filtros|regels|"
            r"beperkingen|restricties|filters|grenzen)"
        ),
    ),
    _Rule(
        "role_hijack",
        "do-anything-now jailbreak",
        0.85,
        _w(r" (?:do anything now|dan mode|dan prompt|jailbreak mode|jailbroken mode) "),
    ),
    _Rule(
        "role_hijack",
        "asks for developer/god mode output",
        0.75,
        _w(
            r" (?:developer mode|dev mode|god mode|debug mode|admin mode|sudo mode) "
            r"~2(?:enabled|activated|output|response|responses|is now active|has been enabled)"
            r"|(?:enable|activate|enter|switch to|turn on|unlock) ~1(?:developer|dev|god|"
            r"jailbreak|dan|unrestricted|sudo) mode ~4(?:you|your|respond|responses|"
            r"answer|chatgpt|ai|assistant|policies|restrictions|filters)"
        ),
    ),
    _Rule(
        "role_hijack",
        "mentions a jailbreak",
        0.3,
        _w(r" (?:jailbreak|jailbroken|jailbreaking) "),
    ),
    _Rule(
        "role_hijack",
        "wechselt in eine Rolle ohne Einschränkungen (de)",
        0.85,
        _w(
            r" (?:du bist (?:jetzt|nun|ab sofort|ab jetzt|von nun an)|verhalte dich|agiere|"
            r"antworte|tu so|tue so|spiel|spiele|handle|sei|du darfst|du kannst|du musst) "
            r"~8(?:ohne|frei von|ungeachtet|unabhangig von) ~3(?:einschrankungen|"
            r"beschrankungen|regeln|filter|zensur|"
            r"richtlinien|grenzen|moral|ethik|sicherheitsrichtlinien|vorgaben) "
            r"|(?:du bist (?:jetzt|nun|ab sofort) ~2(?:dan|uneingeschrankt|unzensiert|"
            r"ungefiltert|befreit|frei|im entwicklermodus|im developer modus|im gott modus))"
            r"|(?:entwicklermodus|developer modus|gottmodus) ~2(?:aktiviert|aktiv|an|"
            r"eingeschaltet|du|antworte)"
        ),
    ),
    _Rule(
        "role_hijack",
        "bascule vers un rôle sans restrictions (fr)",
        0.85,
        _w(
            r" (?:tu es (?:maintenant|desormais|dorenavant)|agis|agissez|comporte toi|"
            r"comportez vous|reponds|repondez|fais comme si|faites comme si|joue|jouez|"
            r"tu peux|tu dois|sois|soyez) ~8(?:sans|libre de|libere de|affranchi de) ~3"
            r"(?:restrictions?|limites?|limitations?|"
            r"filtres?|censure|regles|ethique|morale|garde fous|politiques?) "
            r"|tu es (?:maintenant|desormais|dorenavant) ~2(?:dan|libere|debride|sans filtre|"
            r"non censure|en mode developpeur)"
            r"|mode (?:developpeur|dieu|sans restriction) ~2(?:active|actif|on|tu|reponds)"
        ),
    ),
    _Rule(
        "role_hijack",
        "cambia a un rol sin restricciones (es)",
        0.85,
        _w(
            r" (?:ahora eres|a partir de ahora eres|desde ahora eres|actua|actue|actuen|"
            r"comportate|compórtate|responde|responda|finge|finja|haz como si|juega|eres|"
            r"puedes|debes|se) ~8(?:sin|libre de|liberado de) ~3(?:restriccion|"
            r"restricciones|limites?|limitaciones|filtros?|censura|reglas|etica|moral|politicas?) "
            r"|(?:ahora|desde ahora|a partir de ahora) eres ~2(?:dan|libre|liberado|"
            r"sin filtros|sin censura|en modo desarrollador)"
            r"|modo (?:desarrollador|dios|sin restricciones) ~2(?:activado|activo|on|eres|"
            r"responde)"
        ),
    ),
    _Rule(
        "role_hijack",
        "wisselt naar een rol zonder beperkingen (nl)",
        0.85,
        _w(
            r" (?:je bent nu|jij bent nu|u bent nu|gedraag je|gedraag u|doe alsof|"
            r"antwoord|reageer|beantwoord|speel|je mag|je kunt|je moet|wees) ~8(?:zonder|"
            r"vrij van|bevrijd van) ~3(?:beperkingen|restricties|filters?|"
            r"regels|censuur|richtlijnen|ethiek|moraal|grenzen) "
            r"|(?:je bent nu|jij bent nu) ~2(?:dan|vrij|onbeperkt|ongecensureerd|"
            r"ongefilterd|in ontwikkelaarsmodus)"
            r"|(?:ontwikkelaarsmodus|ontwikkelaars modus|godmodus) ~2(?:geactiveerd|actief|"
            r"aan|ingeschakeld|je|antwoord)"
        ),
    ),
    # --- system prompt exfiltration ---
    _Rule(
        "prompt_exfiltration",
        "asks to reveal the system prompt",
        0.85,
        _w(
            r" (?:reveal|print|show|display|output|repeat|tell|give|leak|dump|expose|share|"
            r"disclose|list|spell out|recite|paste|copy|write out|write down|echo|return|"
            r"provide|send|what (?:is|are|were|was)|summarize|translate|quote|enumerate) "
            r"~4(?:your|ur|thy) ~2(?:system prompt|system message|system instructions?|"
            r"initial (?:prompt|instructions)|original (?:prompt|instructions)|"
            r"hidden (?:prompt|instructions|rules)|secret (?:prompt|instructions|rules)|"
            r"internal (?:prompt|instructions|rules|guidelines)|pre ?prompt|"
            r"developer (?:prompt|message|instructions)|(?:full|complete|exact) "
            r"(?:prompt|instructions)|confidential instructions|prompt|instructions|"
            r"guidelines|rules|directives|configuration|base prompt|meta prompt|setup text|"
            r"setup|preamble|priming|starting text|initial text|context)"
            r"(?: (?:verbatim|word for word|exactly|in full|above|in a code block))?"
        ),
        qualifier=re.compile(
            r"system|initial|original|hidden|secret|internal|pre ?prompt|developer|"
            r"verbatim|word for word|full|complete|exact|confidential|base prompt|"
            r"meta prompt|(?:your|ur) prompt|code block|first line|starting (?:from|with)|"
            r"from the (?:start|beginning|top)|everything|all of|in full|as written|entire|"
            r"whole|setup|preamble|priming|initial text|starting text"
        ),
        weak=0.3,
        window=25,
    ),
    _Rule(
        "prompt_exfiltration",
        "asks to reveal hidden instructions",
        0.7,
        _w(
            r" (?:reveal|print|show|display|output|repeat|leak|dump|expose|disclose|recite|"
            r"echo|list|return|write out|spell out) ~3(?:the|any|every|all|each|all the|"
            r"all of the|all your|all of your) (?:hidden|secret|internal|confidential) "
            r"(?:system |)(?:prompts?|instructions?|rules?|messages?|directives?|guidelines?)"
        ),
    ),
    _Rule(
        "prompt_exfiltration",
        "asks what the model was told by its operator",
        0.7,
        _w(
            r" what (?:did|has|have|does) (?:the |your |)(?:developer|developers|system|admin|"
            r"administrator|operator|creator|creators|company|openai|anthropic|owner|"
            r"programmer|programmers) ~1(?:tell|told|instruct|instructed|say to|said to|"
            r"give|gave) you"
            r"|what (?:were|was) you (?:told|instructed|programmed) (?:to|before|by|at|"
            r"initially|originally)"
        ),
    ),
    _Rule(
        "prompt_exfiltration",
        "asks what the system prompt says",
        0.55,
        _w(
            r" (?:what|wat|was|que|quel|quelle|qu|welche|welches|cual|cuales) ~5(?:your|je|"
            r"jouw|dein|deinem|deinen|deiner|ton|votre|tu) (?:system prompt|systeemprompt|"
            r"systemprompt|prompt systeme|prompt del sistema|system message|"
            r"systeeminstructies|systemanweisungen|hidden instructions|secret instructions|"
            r"initial instructions|original instructions|initial prompt)"
        ),
    ),
    _Rule(
        "prompt_exfiltration",
        "fordert die internen Regeln an (de, verb-final)",
        0.8,
        _w(
            r" (?:deine|ihre|dein|ihr|deinen|ihren) ~2(?:system ?prompt|systemprompt|"
            r"anweisungen|regeln|instruktionen|vorgaben|richtlinien|prompt) ~4(?:offenlegen|"
            r"preisgeben|ausgeben|verraten|zeigen|nennen|wiederholen|offenbaren|ausdrucken|"
            r"aufschreiben|abschreiben|auflisten)"
        ),
        qualifier=re.compile(
            r"system|intern|geheim|versteck|ursprung|anfang|vollstandig|wortlich|komplett"
        ),
        weak=0.3,
        window=10,
    ),
    _Rule(
        "prompt_exfiltration",
        "password or secret held in the model's context",
        0.6,
        _w(
            r" (?:password|passwords|secret|secrets|api key|api keys|token|tokens|credentials)"
            r" ~2(?:stored|saved|kept|held|hidden|written|contained|that is|that are|you have)"
            r" ~2(?:in|inside) (?:your|the) (?:memory|context|system prompt|prompt|"
            r"instructions|configuration|config|context window)"
        ),
    ),
    _Rule(
        "prompt_exfiltration",
        "asks to repeat the text above (de/fr/es/nl)",
        0.65,
        _w(
            r" (?:wiederhole|wiederholen|zeige|zeig|drucke|schreibe|schreib|gib|kopiere)"
            r" ~3(?:den text|alles|den inhalt|die nachricht|die nachrichten|die anweisungen)"
            r" ~3(?:oben|davor|vor dieser|vorher|daruber|uber dieser)"
            r"|(?:affiche|repete|repetez|recopie|recopiez|imprime|ecris|ecrivez|donne|montre)"
            r" ~3(?:le texte|tout le texte|tout ce|le contenu|les messages|les instructions)"
            r" ~3(?:qui precede|precedent|ci dessus|au dessus|avant ce|avant cette)"
            r"|(?:repite|repita|muestra|muestrame|imprime|escribe|copia|dame) ~3(?:el texto|"
            r"todo el texto|todo lo|el contenido|los mensajes|las instrucciones) ~3"
            r"(?:anterior|anteriores|de arriba|que precede|antes de este|previo)"
            r"|(?:herhaal|toon|print|schrijf|kopieer|geef) ~3(?:de tekst|alle tekst|alles|"
            r"de inhoud|de berichten|de instructies) ~3(?:hierboven|erboven|voorafgaand|"
            r"hiervoor|voor dit bericht|daarboven)"
        ),
    ),
    _Rule(
        "prompt_exfiltration",
        "asks to print the system prompt",
        0.3,
        _w(
            r" (?:reveal|print|show|display|output|repeat|leak|dump|expose|disclose|recite) "
            r"~3(?:the|this) (?:system|initial|original|developer) (?:prompt|instructions|"
            r"message)"
        ),
    ),
    _Rule(
        "prompt_exfiltration",
        "asks to repeat the text above",
        0.75,
        _w(
            r" (?:repeat|print|output|copy|echo|recite|reproduce|write out|rewrite) "
            r"~3(?:words|text|everything|content|instructions|lines|sentences|all) "
            r"~2(?:above|before this|before the|at the (?:top|start|beginning)|"
            r"from the (?:top|start|beginning)|that came before|preceding)"
            r"|(?:everything|all|anything|the text|whatever) (?:that |which |)(?:was|is|were|"
            r"has been|you were) ~1(?:written|said|given|sent|typed|provided|shown) (?:before|"
            r"above|prior to) (?:my|this|the) (?:first |)(?:message|conversation|chat|prompt)"
            r"|(?:starting|beginning|start|begin) with (?:the words |)you are (?:a |an |)"
            r"(?:helpful|chatgpt|an ai|a large language|assistant)"
            r"|what (?:were|was) you (?:told|instructed|given) (?:before|at the start|"
            r"initially|in your)"
        ),
    ),
    _Rule(
        "prompt_exfiltration",
        "fordert den Systemprompt an (de)",
        0.85,
        _w(
            r" (?:zeig|zeige|zeigen sie|gib|gebe|geben sie|nenne|nennen sie|verrate|"
            r"verraten sie|wiederhole|wiederholen sie|drucke|schreib|schreibe|liste|"
            r"offenbare|gib mir|was (?:ist|sind|waren)) ~3(?:deinen|deine|dein|ihren|ihre|"
            r"ihr) ~2(?:system ?prompt|systemnachricht|systemanweisungen|system anweisungen|"
            r"anfangsanweisungen|ursprunglichen anweisungen|geheimen anweisungen|"
            r"versteckten anweisungen|internen anweisungen|anweisungen|instruktionen|"
            r"vorgaben|prompt|regeln)"
        ),
        qualifier=re.compile(
            r"system|ursprung|geheim|versteck|intern|anfang|wortlich|vollstandig|prompt|"
            r"anweisungen|instruktionen"
        ),
        weak=0.3,
        window=25,
    ),
    _Rule(
        "prompt_exfiltration",
        "demande le prompt système (fr)",
        0.85,
        _w(
            r" (?:revele|revelez|reveler|affiche|affichez|afficher|montre|montrez|montrer|"
            r"donne|donnez|repete|repetez|imprime|imprimez|ecris|ecrivez|dis|dites|"
            r"recopie|recopiez|divulgue|divulguez|quel(?:le)?s? (?:est|sont)) ~3"
            r"(?:ton|ta|tes|votre|vos) ~2(?:prompt systeme|prompt|instructions?|consignes|"
            r"message systeme|directives|regles)"
        ),
        qualifier=re.compile(
            r"systeme|initia|origin|secret|cache|interne|mot pour mot|integral|prompt|"
            r"instructions|consignes"
        ),
        weak=0.3,
        window=25,
    ),
    _Rule(
        "prompt_exfiltration",
        "pide el prompt del sistema (es)",
        0.85,
        _w(
            r" (?:revela|revelame|revele|muestra|muestrame|muestre|dime|di|diga|digame|"
            r"imprime|imprima|repite|repita|escribe|escriba|dame|deme|ensename|"
            r"cual(?:es)? (?:es|son)) ~3(?:tu|tus|su|sus) ~2(?:prompt del sistema|"
            r"prompt de sistema|prompt|instrucciones|indicaciones|mensaje del sistema|"
            r"directrices|reglas)"
        ),
        qualifier=re.compile(
            r"sistema|inicial|original|secret|ocult|intern|palabra por palabra|complet|"
            r"prompt|instrucciones"
        ),
        weak=0.3,
        window=25,
    ),
    _Rule(
        "prompt_exfiltration",
        "vraagt om de systeemprompt (nl)",
        0.85,
        _w(
            r" (?:toon|laat|geef|herhaal|print|verklap|onthul|schrijf|noem|wat (?:is|zijn)) "
            r"~3(?:je|jouw|uw) ~2(?:systeemprompt|systeem prompt|system prompt|"
            r"systeeminstructies|instructies|prompt|richtlijnen|regels|opdrachten)"
        ),
        qualifier=re.compile(
            r"systeem|system|oorspronkelijk|geheim|verborgen|intern|letterlijk|volledig|"
            r"prompt|instructies"
        ),
        weak=0.3,
        window=25,
    ),
    # --- delimiter / markup injection ---
    _Rule(
        "delimiter_injection",
        "chat-template special token",
        0.45,
        _m(
            r"<\|(?:im_start|im_end|system|user|assistant|endoftext|eot_id|start_header_id|"
            r"end_header_id|begin_of_text)\|>|<<\s*/?sys\s*>>"
        ),
        view="markup",
        needs=("<|", "<<"),
    ),
    _Rule(
        "delimiter_injection",
        "system/instruction tag",
        0.35,
        _m(
            r"</? ?(?:system|sys|system_prompt|instructions?|admin|developer) ?>"
            r"|\[/?(?:inst|system|sys)\]"
        ),
        view="markup",
        needs=("<", "["),
    ),
    _Rule(
        "delimiter_injection",
        "closes the user turn and opens a privileged one",
        0.7,
        _m(
            r"</ ?(?:user|human|input|context|document|data|query|customer)"
            r" ?>\s*<\|?(?:system|sys|assistant|admin|developer|instructions?)\|? ?>"
            r"|<\|im_end\|>\s*<\|im_start\|> ?(?:system|assistant)"
            r"|\[/inst\]\s*\[inst\]|<\|im_start\|> ?system"
        ),
        view="markup",
        needs=("</", "<|", "[/"),
    ),
    _Rule(
        "delimiter_injection",
        "fake system/instruction header",
        0.55,
        _m(
            r"(?:^|\n) *(?:#{2,}|={3,}|-{3,}|\*{2,}|\[) *(?:system|sys|new system|"
            r"instructions?|new instructions?|system prompt|admin|developer|assistant)"
            r" *(?:message|prompt|override|update|)\s*(?::|#{2,}|={3,}|-{3,}|\*{2,}|\])"
            r"|(?:begin|start|end|beginning)(?: of)? (?:the )?(?:new )?(?:system|developer|"
            r"admin) (?:prompt|message|instructions?|override)"
            r"|end of (?:the )?(?:user|untrusted|customer) (?:input|message|prompt|data)"
        ),
        view="markup",
        needs=("sys", "instruction", "admin", "developer", "assistant", "end of"),
    ),
    _Rule(
        "delimiter_injection",
        "fake role turn inside the content",
        0.5,
        _m(
            r"(?:^|\n|[.!?] |>) *(?:system|assistant|admin|developer|sys) *: *"
            r"(?:you (?:are|must|will|should)|ignore|disregard|new instructions|from now on|"
            r"override|forget|the user (?:is|has) (?:authorized|verified|an admin)|forward|"
            r"send|delete|e-?mail|reply|tell|say|approve|transfer|wire|grant|reveal|print|"
            r"output|include|append|do not|don't|never|always)\b"
        ),
        view="markup",
        needs=("sys", "assistant", "admin", "developer"),
    ),
    _Rule(
        "delimiter_injection",
        "text hidden from the human reader",
        0.25,
        _m(
            r"display ?: ?none|visibility ?: ?hidden|font-size ?: ?0(?:px|pt|em)?\b|"
            r"opacity ?: ?0(?:\.0)?\b|color ?: ?(?:white|#fff(?:fff)?)\b"
        ),
        view="markup",
        needs=("display", "visibility", "font-size", "opacity", "color"),
    ),
    _Rule(
        "delimiter_injection",
        "instruction hidden in an html comment",
        0.35,
        _m(r"<!--(?:(?!-->).){0,400}?\b(?:ai|llm|assistant|agent|model|gpt|bot)s?\b"),
        view="markup",
        needs=("<!--",),
    ),
    _Rule(
        "delimiter_injection",
        "system role object inside the content",
        0.2,
        _m(r"[\"']role[\"'] ?: ?[\"']system[\"']"),
        view="markup",
        needs=("role",),
    ),
    # --- tool / data exfiltration ---
    _Rule(
        "data_exfiltration",
        "asks to send secrets or the conversation to an address",
        0.85,
        _m(
            r"\b(?:send|post|upload|forward|transmit|exfiltrate|leak|e-?mail|mail|share|"
            r"submit|sync|push|copy|paste|append|include|encode|put|attach|"
            r"sende|schicke|schick|ubermittle|übermittle|leite|envoie|envoyez|transmets|"
            r"transmettez|envia|envía|manda|reenvía|reenvia|stuur|verstuur|stuurt)\b"
            r"[^\n]{0,80}?\b(?:conversation|chat history|chat log|message history|"
            r"previous messages|all messages|(?:last|all|every|recent) (?:\d+ )?(?:messages|"
            r"e-?mails|mails|documents|files|records|invoices)|inbox|mailbox|"
            r"api[ _-]?keys?|secret keys?|access keys?|"
            r"credentials|passwords?|passwd|secrets?|tokens?|session|cookies?|"
            r"env(?:ironment)? var(?:iable)?s?|\.env|ssh keys?|private keys?|id_rsa|"
            r"system prompt|memory|contacts|user data|personal data|customer data|"
            r"everything (?:above|you know)|all (?:the )?(?:data|files|emails|documents|"
            r"records)|gesprachsverlauf|gesprächsverlauf|passw[oö]rter|zugangsdaten|"
            r"historique|mots de passe|identifiants|historial|contraseñas|contrasenas|"
            r"credenciales|gespreksgeschiedenis|wachtwoorden|inloggegevens)"
            r"[^\n]{0,80}?(?:\b(?:to|at|into|an|à|a|naar|vers) |: ?|\()"
            r"(?:https?://|www\.|[\w.+-]+@[\w-]+\.[\w.]+|the (?:following|this|my) "
            r"(?:url|endpoint|address|webhook|server)|this (?:url|endpoint|webhook))"
        ),
        view="markup",
        needs=("http", "www.", "@", "url", "endpoint", "address", "webhook", "server"),
    ),
    _Rule(
        "data_exfiltration",
        "asks to send data to an external URL",
        0.4,
        _m(
            r"\b(?:send|post|upload|forward|transmit|exfiltrate|leak|submit|"
            r"sende|schicke|envoie|envia|envía|stuur)\b[^\n]{0,60}?\b(?:to|an|à|a|naar) "
            r"(?:https?://|www\.)"
        ),
        view="markup",
        needs=("http", "www."),
    ),
    _Rule(
        "data_exfiltration",
        "markdown image that carries data in its URL",
        0.8,
        _m(r"!\[[^\]\n]{0,200}\]\( ?<?https?://[^\s)?]{1,300}\?[^\s)=]{0,200}=[^\s)]{0,500}"),
        view="markup",
        needs=("![",),
        qualifier=re.compile(
            r"[?&][^\s)]*(?:\{|\}|\[|<|%7b|%5b|%3c|\$|\b(?:paste|insert|append|replace)\b|"
            r"\b(?:data|secret|key|token|conversation|chat|"
            r"history|prompt|password|pwd|session|summary|payload|leak|exfil|memory|ssn|msg|"
            r"message|content|context|creds?|credentials)s?=)"
        ),
        weak=0.3,
        window=0,
    ),
    _Rule(
        "data_exfiltration",
        "asks to render an image or link built from the data",
        0.45,
        _w(
            r" (?:render|display|show|output|include|insert|append|embed|print) ~5"
            r"(?:image|markdown|img|link|url|pixel) ~12(?:with|containing|where|replace|"
            r"append|include|insert|add|encode) ~6(?:conversation|chat|history|data|"
            r"secrets?|keys?|tokens?|passwords?|email|memory|summary|answer|previous|"
            r"user s|users|personal|information)"
        ),
    ),
    _Rule(
        "data_exfiltration",
        "shell command that ships secrets out",
        0.75,
        _m(
            r"\b(?:curl|wget|invoke-webrequest|iwr|nc|ncat|netcat)\b[^\n]{0,160}?"
            r"(?:\$\(|\benv\b|printenv|/etc/passwd|/etc/shadow|\.ssh|id_rsa|\.env\b|"
            r"\.aws/credentials|api[_-]?key|secret|token|password|@-)"
            r"|\b(?:cat|type|printenv|env)\b[^\n]{0,80}?\|\s*(?:curl|wget|nc|ncat)\b"
        ),
        view="markup",
        needs=("curl", "wget", "invoke-webrequest", "iwr", "nc"),
    ),
    _Rule(
        "data_exfiltration",
        "pipes a downloaded script into a shell",
        0.35,
        _m(r"\b(?:curl|wget)\b[^\n]{0,120}?\|\s*(?:sudo )?(?:sh|bash|zsh|python3?)\b"),
        view="markup",
        needs=("curl", "wget"),
    ),
    # --- instructions aimed at the model inside data (indirect injection) ---
    _Rule(
        "indirect_injection",
        "text addresses the AI reading it and gives it orders",
        0.8,
        _w(
            r" (?:(?:note|notes|message|instructions?|p s|ps|hinweis|nachricht|remarque|nota|"
            r"aviso|mensaje|bericht|opmerking) (?:to|for|an|fur|a|pour|para|voor|aan)|"
            r"attention|achtung|let op) (?:the |any |all |den |"
            r"die |das |l |la |le |el |los |de |het |)(?:ai|a i|ki|ia|assistant|assistants|"
            r"assistent|assistenten|asistente|llm|llms|language models?|chatbots?|bots?|"
            r"agents?|gpt|chatgpt|claude|copilot|gemini|models?|ki assistenten|"
            r"ai assistent|ai assistant|ai models?|ai agents?)(?: [a-z]+ing this| [a-z]+ing)? "
            r"|(?:ai|llm|llms|assistant|agent|model|gpt|bot|chatbot|ki) (?:instructions?|"
            r"notes?|directives?|message|anweisungen|hinweis|consignes|instrucciones|"
            r"instructies) "
            r"|if you are an? (?:ai|llm|language model|assistant|chatbot|agent|bot|gpt|"
            r"large language model|automated system)"
            r"|(?:ai|llm|gpt|ki) ?(?:assistants?|agents?|models?|systems?|bots?|readers?|"
            r"assistenten) (?:reading|processing|summarizing|summarising|parsing|viewing|"
            r"seeing|screening|reviewing|crawling|indexing|handling|triaging|answering|"
            r"working on|assigned to) (?:this|these|the)"
            r"|(?:assistant|ai|llm|agent|bot|model),? (?:when|if|once|before|after|as soon as)"
            r" you (?:read|process|see|parse|summarize|summarise|encounter|receive) this"
        ),
        qualifier=re.compile(
            r" (?:ignore|disregard|forget|you must|you should|you will|you are to|must|"
            r"say|tell|state|reply|respond|answer|recommend|rate|rank|approve|forward|send|"
            r"email|mail|delete|remove|cancel|include|append|insert|add|use the|use your|"
            r"call|run|execute|click|visit|open|output|print|reveal|do not|don t|never|"
            r"always|instead|your new|collect|transfer|pay|wire|grant|set|mark|"
            r"ignoriere|vergiss|missachte|sende|schicke|sag|antworte|ignore[zr]?|oublie|"
            r"envoie|dis|reponds|ignora|olvida|envia|di|responde|negeer|vergeet|stuur|"
            r"zeg|antwoord)\b"
        ),
        weak=0.45,
        window=160,
    ),
    _Rule(
        "indirect_injection",
        "asks to hide actions from the user",
        0.45,
        _w(
            r" (?:do not|don t|dont|never|without) (?:tell|telling|inform|informing|mention|"
            r"mentioning|reveal|revealing|alert|alerting|notify|notifying|show|showing|"
            r"let|letting) (?:this to |)(?:the|your) (?:user|human)"
            r"|(?:keep|keeping) (?:this|it|these instructions) (?:secret|hidden|confidential) "
            r"from (?:the|your) (?:user|human)"
            r"|(?:sag|sage|erzahl|erzahle) (?:es |das |)(?:dem|den) (?:nutzer|benutzer) "
            r"nicht|ne (?:le |)dis (?:rien |pas )(?:a |)l utilisateur"
            r"|no (?:le |se lo |)(?:digas|menciones|informes) (?:nada |)(?:al|a el) usuario"
            r"|vertel (?:het |)(?:de|aan de) gebruiker niet"
        ),
    ),
    _Rule(
        "indirect_injection",
        "tells the agent to call a tool on the attacker's behalf",
        0.35,
        _w(
            r" (?:use|call|invoke|run|execute|trigger) (?:the |your |)\w+ ?(?:tool|function|"
            r"plugin|api|action) (?:to |and )(?:send|forward|email|delete|transfer|pay|"
            r"wire|post|upload|export|share|grant|create|add|remove)"
        ),
    ),
    # --- encoded payloads ---
    _Rule(
        "encoded_payload",
        "asks to decode a payload and follow it",
        0.6,
        _w(
            r" (?:decode|decrypt|deobfuscate|base64 decode|rot13|unscramble|reverse) ~8"
            r"(?:and|then) ~3(?:follow|execute|run|obey|do|perform|act on|carry out|apply|"
            r"comply)"
        ),
    ),
)

# --- prefilter: run a words rule only when one of its possible first words is present ---


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
_WORD = re.compile(r"[a-z]+")


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
for _index, _rule in enumerate(_RULES):
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


def _active_rules(views: _Views) -> list[int]:
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
    for index, rule in enumerate(_RULES):
        if rule.needs and any(n in views.markup for n in rule.needs):
            active.add(index)
    return sorted(active)


# Quoted mentions inside a discussion about attacks ("phrases like 'ignore previous
# instructions'") are not attacks: such hits count for half.
_META_DISCUSSION = re.compile(
    r"prompt injection|jailbreak attempts?|injection attacks?|attack(?:s|ers)?\b|red team|"
    r"phrases?\b|for example|e\.g\.|such as|classifier|detector|\bfilters?\b|regexp?\b|"
    r"regular expression|pattern|blocklist|denylist|guardrail|test case|unit test|"
    r"training|awareness|phishing|example|sample|\bcatch(?:es)?\b|\bdetect|\bflag"
)


_QUOTED = re.compile(
    '["\u201c\u201e\u00ab\u2018`][^"\u201d\u201c\u00bb\u2019`\n]{4,200}["\u201d\u201c\u00bb\u2019`]'
    "|(?<!\\w)'[^'\n]{4,200}'(?!\\w)"
)


def _meta_quote_spans(raw_view: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    for m in _QUOTED.finditer(raw_view):
        spans.append((m.start(), m.end()))
    return spans


@dataclass(frozen=True)
class _Hit:
    weight: float
    rule: _Rule
    snippet: str
    view: str
    start: int
    end: int


def _rule_hits(views: _Views, *, prefilter: bool = True) -> list[_Hit]:
    candidates: list[_Hit] = []
    meta: bool | None = None  # computed on the first hit only
    quoted_words = ""
    indexes = _active_rules(views) if prefilter else range(len(_RULES))
    for index in indexes:
        rule = _RULES[index]
        subject = views.words if rule.view == "words" else views.markup
        for m in rule.pattern.finditer(subject):
            weight = rule.weight
            if rule.qualifier is not None or rule.negative is not None:
                window = subject[m.start() : m.end() + rule.window]
                unqualified = rule.qualifier is not None and not rule.qualifier.search(window)
                negated = rule.negative is not None and rule.negative.search(window)
                if unqualified or negated:
                    weight = rule.weak
            if weight <= 0:
                continue
            snippet = m.group().strip()
            if meta is None:
                meta = bool(_META_DISCUSSION.search(views.markup))
                if meta:
                    quoted_words = "\x00".join(
                        _to_words(views.markup[a:b]) for a, b in _meta_quote_spans(views.markup)
                    )
            if meta and snippet[:40] in quoted_words:
                weight *= 0.5
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
            and k.start < hit.end
            and hit.start < k.end
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


def score_injection(text: str) -> InjectionFinding | None:
    """The injection score of ``text`` whatever its value (``None`` when no rule fires).
    Base64/hex blobs that decode to text are scanned too; a hit inside one is reported
    as ``encoded_payload`` and scores at least as high as in the clear."""
    hits = _rule_hits(_normalize(text))
    inner_best: InjectionFinding | None = None
    if len(text) >= 24:
        for decoded in _decoded_blobs(text):
            inner = _combine(_rule_hits(_normalize(decoded)))
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
    text: str, *, threshold: float = DEFAULT_INJECTION_THRESHOLD
) -> InjectionFinding | None:
    """The injection finding when its score reaches ``threshold``, else ``None``."""
    finding = score_injection(text)
    if finding is None or finding.score < threshold:
        return None
    return finding

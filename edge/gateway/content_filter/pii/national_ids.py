"""National identifiers, validated by their checksums."""

from __future__ import annotations

import re
from collections.abc import Iterator

from stdnum.be import nn as _be_nn
from stdnum.de import idnr as _de_idnr
from stdnum.es import dni as _es_dni
from stdnum.es import nie as _es_nie
from stdnum.fr import nir as _fr_nir
from stdnum.it import codicefiscale as _it_cf
from stdnum.nl import bsn as _nl_bsn
from stdnum.pl import pesel as _pl_pesel
from stdnum.us import ssn as _us_ssn

from edge.gateway.content_filter.findings import PiiFinding
from edge.gateway.content_filter.pii.common import make_finding, preceded_by_reference

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
# Italian codice fiscale: 6 letters, 2 digits, month letter, 2 digits, letter, 3 digits,
# check letter (omocodia may swap digits for letters; those are left out).
_IT_CF = re.compile(
    r"[A-Za-z](?<![\w\-][A-Za-z])[A-Za-z]{5}\d{2}[ABCDEHLMPRSTabcdehlmprst]\d{2}[A-Za-z]\d{3}[A-Za-z](?![\w\-])"
)
# Belgian national number in its printed form 85.07.30-033.28.
_BE_NN = re.compile(r"\d(?<![\w.\-]\d)\d\.[01]\d\.[0-3]\d-\d{3}\.\d{2}(?![\w\-]|[.,]\d)")
_WEAK_ID = re.compile(
    r"\d(?<![\w.,/\-]\d)(?:\d{2}[ .]?\d{2}[ .]?\d{4}|\d{3}\.\d{2}\.\d{3}|\d{2}\.\d{3}\.\d{3}"
    r"|\d{2} \d{3} \d{3}|(?<=[1-9])\d{10})(?![\w\-]|[.,]\d)"
)
_ID_CONTEXT = re.compile(
    r"(?P<ssn>\bssn\b|social security|soc\.? sec|\bss ?#)"
    r"|(?P<bsn>\bbsn\b|burgerservicenummer|sofi-?\s?nummer|citizen service number)"
    r"|(?P<idnr>steuer-?\s?id|steuer-?identifikations|identifikationsnummer|\bidnr\b|"
    r"\bid-nr\b|steuerliche id|tax id|\btin\b|steuernummer)"
    r"|(?P<pesel>\bpesel\b)"
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
    return preceded_by_reference(text, start) and not _weak_id_kinds(text, start)


def find_national_ids(text: str) -> Iterator[PiiFinding]:
    if not any(ch.isdigit() for ch in text):
        return
    for m in _SSN_DASHED.finditer(text):
        raw = m.group()
        if (raw[:3] == "123" and raw[4:6] == "45") or len(set(raw.replace("-", ""))) == 1:
            continue  # the ubiquitous sample values
        if _us_ssn.is_valid(raw) and not _is_reference(text, m.start()):
            yield make_finding("national_id", text, m.start(), m.end(), "us_ssn")
    for m in _NINO.finditer(text):
        prefix_ok = m.group("prefix") not in _NINO_BAD_PREFIXES
        if prefix_ok and not _is_reference(text, m.start()):
            yield make_finding("national_id", text, m.start(), m.end(), "uk_nino")
    for m in _DNI.finditer(text):
        if _es_dni.is_valid(m.group().upper()) and not _is_reference(text, m.start()):
            yield make_finding("national_id", text, m.start(), m.end(), "es_dni")
    for m in _NIE.finditer(text):
        if _es_nie.is_valid(m.group().upper()):
            yield make_finding("national_id", text, m.start(), m.end(), "es_nie")
    for m in _NIR.finditer(text):
        valid = _fr_nir.is_valid(m.group().replace("-", ""))
        if valid and not _is_reference(text, m.start()):
            yield make_finding("national_id", text, m.start(), m.end(), "fr_nir")
    for m in _IDNR_GROUPED.finditer(text):
        if _de_idnr.is_valid(m.group()) and not _is_reference(text, m.start()):
            yield make_finding("national_id", text, m.start(), m.end(), "de_idnr")
    for m in _IT_CF.finditer(text):
        if _it_cf.is_valid(m.group().upper()) and not _is_reference(text, m.start()):
            yield make_finding("national_id", text, m.start(), m.end(), "it_codice_fiscale")
    for m in _BE_NN.finditer(text):
        if _be_nn.is_valid(m.group()) and not _is_reference(text, m.start()):
            yield make_finding("national_id", text, m.start(), m.end(), "be_nn")
    for m in _WEAK_ID.finditer(text):
        kinds = _weak_id_kinds(text, m.start())
        if not kinds:
            continue
        digits = re.sub(r"\D", "", m.group())
        subtype = _weak_id_subtype(digits, kinds)
        if subtype:
            yield make_finding("national_id", text, m.start(), m.end(), subtype)


def _weak_id_subtype(digits: str, kinds: set[str]) -> str:
    """Which labelled identifier a bare digit run is, by the label and its checksum."""
    if len(digits) == 9:
        if kinds & {"ssn", "generic"} and _us_ssn.is_valid(digits) and len(set(digits)) > 1:
            return "us_ssn"
        if kinds & {"bsn", "generic"} and _nl_bsn.is_valid(digits):
            return "nl_bsn"
    elif len(digits) == 11:
        if kinds & {"idnr", "generic"} and _de_idnr.is_valid(digits):
            return "de_idnr"
        if kinds & {"pesel", "generic"} and _pl_pesel.is_valid(digits):
            return "pl_pesel"
    return ""

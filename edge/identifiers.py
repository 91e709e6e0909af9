"""A data subject's identifiers (email, phone, customer id) and the one pattern that
finds each of them in any text (docs/privacy.md, "Finding a person").

Shared by the edge (its spool and response cache) and the control plane (PostgreSQL,
ClickHouse), so every store is searched and erased with the same pattern. The pattern
uses only what Python's ``re``, RE2 (ClickHouse) and PostgreSQL's regular expressions
read alike: ``(?i)``, character classes, groups, alternation, and ``\\`` before any
character that is not a letter or a digit. It has three groups: the character before
the identifier (or the start), the identifier, the character after it (or the end), so
``REPLACEMENT`` keeps the neighbours and replaces only the identifier. A replacement
consumes the neighbours, so two occurrences one character apart need a second pass;
every eraser runs it twice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers

EMAIL, PHONE, CUSTOMER_ID = "email", "phone", "customer_id"
KINDS = (EMAIL, PHONE, CUSTOMER_ID)
TOMBSTONE = "[erased]"
REPLACEMENT = r"\1" + TOMBSTONE + r"\3"

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})+")
_CUSTOMER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/#-]{3,99}")
# Between two digits of a written phone number: spaces, dots, dashes, brackets.
_SEPARATORS = "[ .()-]*"
# What may not stand right before or after each kind, or it is part of something longer.
_NEIGHBOURS = {
    EMAIL: ("[^0-9A-Za-z._%+-]", "[^0-9A-Za-z_%+-]"),
    PHONE: ("[^0-9+]", "[^0-9]"),
    CUSTOMER_ID: ("[^0-9A-Za-z_-]", "[^0-9A-Za-z_-]"),
}


class IdentifierError(ValueError):
    """The value is not an identifier of its kind; the message says what is expected."""


def _literal(text: str) -> str:
    return "".join(c if c.isascii() and c.isalnum() else "\\" + c for c in text)


def _digits(digits: str) -> str:
    return _SEPARATORS.join(digits)


@dataclass(frozen=True)
class Identifier:
    kind: str
    value: str
    """Normalised: an email in lower case, a phone number in E.164 (+CCNNN…)."""

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "value": self.value}

    @property
    def pattern(self) -> str:
        before, after = _NEIGHBOURS[self.kind]
        return f"(?i)(^|{before})({self._core()})($|{after})"

    def _core(self) -> str:
        if self.kind != PHONE:
            return _literal(self.value)
        number = phonenumbers.parse(self.value, None)
        national = phonenumbers.national_significant_number(number)
        region = phonenumbers.region_code_for_number(number)
        metadata = phonenumbers.PhoneMetadata.metadata_for_region(region or "")
        trunk = metadata.national_prefix if metadata and metadata.national_prefix else ""
        # +44 20 7946 0958, 0044 20…, (020) 7946 0958, 20 7946 0958: the national number,
        # after the country code or the national trunk prefix or nothing.
        prefixes = [f"(?:\\+|00)?{_digits(str(number.country_code))}"]
        if trunk:
            prefixes.append(_digits(trunk))
        return f"(?:(?:{'|'.join(prefixes)}){_SEPARATORS})?{_digits(national)}"

    @property
    def masked(self) -> str:
        """Enough for a person to recognise the request, not enough to find anyone."""
        value = self.value
        if self.kind == EMAIL:
            local, _, domain = value.partition("@")
            return f"{local[:1]}***@{domain}"
        return f"{value[:3]}***{value[-2:]}"


def parse_identifier(kind: str, value: object) -> Identifier:
    """The normalised identifier; IdentifierError naming the kind when ``value`` is not
    one."""
    if kind not in KINDS:
        raise IdentifierError(f"kind must be one of {', '.join(KINDS)}")
    text = value.strip() if isinstance(value, str) else ""
    if kind == EMAIL:
        if not _EMAIL.fullmatch(text):
            raise IdentifierError("email must be an email address such as jane@example.com")
        return Identifier(EMAIL, text.lower())
    if kind == PHONE:
        try:
            number = phonenumbers.parse(text, None)
        except phonenumbers.NumberParseException:
            number = None
        if number is None or not phonenumbers.is_possible_number(number):
            raise IdentifierError(
                "phone must be a number in international form, such as +44 20 7946 0958"
            )
        return Identifier(
            PHONE, phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        )
    if not _CUSTOMER_ID.fullmatch(text):
        raise IdentifierError(
            "customer_id must be 4-100 letters, digits and . _ : / # -, starting with a "
            "letter or digit"
        )
    return Identifier(CUSTOMER_ID, text)


def parse_identifiers(items: object) -> list[Identifier]:
    """``[{"kind", "value"}, …]`` as identifiers, at least one and at most 20."""
    if not isinstance(items, list) or not 1 <= len(items) <= 20:
        raise IdentifierError("identifiers must be a list of 1 to 20 {kind, value} objects")
    found = []
    for item in items:
        if not isinstance(item, dict):
            raise IdentifierError("identifiers must be a list of 1 to 20 {kind, value} objects")
        found.append(parse_identifier(str(item.get("kind", "")), item.get("value")))
    return list(dict.fromkeys(found))


_compiled: dict[str, re.Pattern[str]] = {}


def compiled(identifier: Identifier) -> re.Pattern[str]:
    pattern = identifier.pattern
    if pattern not in _compiled:
        _compiled[pattern] = re.compile(pattern)
    return _compiled[pattern]


def any_match(identifiers: list[Identifier], text: str) -> bool:
    return any(compiled(i).search(text) for i in identifiers)


def erase_text(identifiers: list[Identifier], text: str) -> str:
    """``text`` with every occurrence of the identifiers replaced by the tombstone."""
    for identifier in identifiers:
        pattern = compiled(identifier)
        for _ in range(2):
            text = pattern.sub(REPLACEMENT, text)
    return text


def erase_json(identifiers: list[Identifier], value: object) -> object:
    """A JSON value with ``erase_text`` applied to every string in it (keys kept)."""
    if isinstance(value, str):
        return erase_text(identifiers, value)
    if isinstance(value, list):
        return [erase_json(identifiers, item) for item in value]
    if isinstance(value, dict):
        return {key: erase_json(identifiers, item) for key, item in value.items()}
    return value

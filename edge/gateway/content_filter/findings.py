"""What the detectors report, and the constants every part shares."""

from __future__ import annotations

from dataclasses import dataclass


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

    kind: str  # one of ALL_PII_TYPES
    start: int
    end: int
    text: str
    subtype: str = ""
    """The specific type where the kind has several: ``us_ssn``, ``uk_nino``, ``de_idnr``
    … for national ids, ``ipv4``/``ipv6``, ``aws_access_key``, ``jwt`` … for secrets."""


@dataclass(frozen=True)
class ScanResult:
    injection: InjectionFinding | None
    pii: list[PiiFinding]


ALL_PII_TYPES: frozenset[str] = frozenset(
    {"email", "phone", "card", "iban", "national_id", "ip_address", "mac_address", "secret"}
)
REDACTION_LABELS: dict[str, str] = {
    "email": "[EMAIL]",
    "phone": "[PHONE]",
    "card": "[CARD]",
    "iban": "[IBAN]",
    "national_id": "[NATIONAL_ID]",
    "ip_address": "[IP_ADDRESS]",
    "mac_address": "[MAC_ADDRESS]",
    "secret": "[SECRET]",
}
DEFAULT_INJECTION_THRESHOLD = 0.5
# Regions whose national formats are tried for numbers written without "+"/"00".
DEFAULT_PHONE_REGIONS: tuple[str, ...] = ("US", "GB", "DE", "FR", "NL", "ES")

# When two findings overlap, the more specific kind wins (a card number also parses as a
# long phone number, an IBAN's digits as anything).
# A secret (a connection string's password, a key) beats anything found inside it.
PRIORITY = {
    "secret": 0,
    "card": 1,
    "iban": 2,
    "national_id": 3,
    "email": 4,
    "mac_address": 5,
    "ip_address": 6,
    "phone": 7,
}

# The most base64/hex blobs decoded per scan (bounds the cost). The text itself is always
# scanned whole: every detector is linear in its length.
MAX_DECODED_BLOBS = 8

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
PRIORITY = {"card": 0, "iban": 1, "national_id": 2, "email": 3, "phone": 4}

# The most base64/hex blobs decoded per scan (bounds the cost). The text itself is always
# scanned whole: every detector is linear in its length.
MAX_DECODED_BLOBS = 8

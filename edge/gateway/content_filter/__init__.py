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

from collections.abc import Collection, Sequence

from edge.gateway.content_filter.channels import CHANNELS, USER, channel
from edge.gateway.content_filter.decision import decide_injection
from edge.gateway.content_filter.findings import (
    ALL_PII_TYPES,
    DEFAULT_INJECTION_THRESHOLD,
    DEFAULT_PHONE_REGIONS,
    REDACTION_LABELS,
    InjectionFinding,
    PiiFinding,
    ScanResult,
)
from edge.gateway.content_filter.injection import detect_injection, score_injection
from edge.gateway.content_filter.pii import find_pii, redact

__all__ = [
    "ALL_PII_TYPES",
    "CHANNELS",
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


def scan(
    text: str,
    *,
    pii_types: Collection[str] = ALL_PII_TYPES,
    injection: bool = True,
    injection_threshold: float = DEFAULT_INJECTION_THRESHOLD,
    phone_regions: Sequence[str] = DEFAULT_PHONE_REGIONS,
    source: str = USER,
    use_classifier: bool = False,
) -> ScanResult:
    """Scan ``text`` for prompt injection (when ``injection`` and the ``source`` channel
    is scanned for it) and the PII kinds in ``pii_types``. ``injection`` in the result
    is ``None`` when the rules score below ``injection_threshold`` and (with
    ``use_classifier``) the learned stage does not flag it either. Untrusted channels
    (tool results, documents) are held to the stricter rule. PII findings are sorted
    by start and never overlap."""
    unknown = set(pii_types) - ALL_PII_TYPES
    if unknown:
        raise ValueError(f"unknown PII types: {sorted(unknown)}")
    where = channel(source)
    finding = (
        decide_injection(
            text,
            threshold=injection_threshold,
            untrusted=where.untrusted,
            use_classifier=use_classifier,
        )
        if injection and where.injection
        else None
    )
    pii = find_pii(text, pii_types, phone_regions=phone_regions) if pii_types else []
    return ScanResult(injection=finding, pii=pii)

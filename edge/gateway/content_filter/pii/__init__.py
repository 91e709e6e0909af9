"""PII detection: every detector finds candidate shapes, then validates them."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from edge.gateway.content_filter.findings import (
    ALL_PII_TYPES,
    DEFAULT_PHONE_REGIONS,
    REDACTION_LABELS,
    PiiFinding,
)
from edge.gateway.content_filter.pii.common import resolve_overlaps
from edge.gateway.content_filter.pii.email import find_emails
from edge.gateway.content_filter.pii.financial import find_cards, find_ibans
from edge.gateway.content_filter.pii.national_ids import find_national_ids
from edge.gateway.content_filter.pii.network import find_ip_addresses, find_mac_addresses
from edge.gateway.content_filter.pii.phones import find_phones
from edge.gateway.content_filter.pii.secrets import find_secrets


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
    found.extend(find_secrets(text))
    found.extend(find_cards(text))
    found.extend(find_ibans(text))
    found.extend(find_national_ids(text))
    found.extend(find_emails(text))
    found.extend(find_mac_addresses(text))
    found.extend(find_ip_addresses(text))
    if "phone" in pii_types:
        taken = [(f.start, f.end) for f in found]
        found.extend(find_phones(text, phone_regions, taken))
    kept = resolve_overlaps(found)
    return [f for f in kept if f.kind in pii_types]


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

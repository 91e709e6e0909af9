"""Personal data in stored span text, hidden on display as the tenant's policy says.

The edge gateway redacts what passes through it before it is recorded, but agents that
send OpenTelemetry spans themselves send their bodies as they are. Wherever the control
plane shows span text, a tenant whose policy redacts or blocks personal data sees it
redacted by the gateway's own detector (``edge.gateway.content_filter``). The stored
rows are not changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from controlplane.gateway.models import Policy
from edge.gateway import content_filter

REDACTING = frozenset({Policy.Pii.REDACT, Policy.Pii.BLOCK})


@dataclass(frozen=True)
class Redaction:
    kinds: frozenset[str]

    def apply(self, text: str) -> str:
        if not text:
            return text
        findings = content_filter.find_pii(text, self.kinds)
        return content_filter.redact(text, findings) if findings else text


def display_redaction(policy: Policy | None) -> Redaction | None:
    """How to show span text under ``policy`` (a tenant's, or None when it has none):
    None means as stored."""
    if policy is None or policy.pii not in REDACTING:
        return None
    listed = frozenset(policy.pii_types) & content_filter.ALL_PII_TYPES
    return Redaction(kinds=listed or content_filter.ALL_PII_TYPES)  # none listed: all


SPAN_TEXT_FIELDS = ("request_body", "response_body", "status_message", "attributes")


def redact_span(row: dict[str, Any], redaction: Redaction | None) -> dict[str, Any]:
    """A span row as ``trace_spans`` gives it, its free text redacted as ``redaction``
    says (unchanged when None)."""
    if redaction is None:
        return row
    return row | {
        field: redaction.apply(str(row[field] or "")) for field in SPAN_TEXT_FIELDS if field in row
    }

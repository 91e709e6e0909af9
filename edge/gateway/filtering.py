"""Stage 3: the content filter, applied as the tenant's policy says.

The detectors live in ``edge.gateway.content_filter`` (``scan``/``redact``); this stage
decides what a finding means: prompt injection ``block|flag|off``, personal data
``off|flag|redact|block``. It reads user and tool messages (and embedding input) —
what reaches the agent from outside — and, when redacting, rewrites them in the
request before it goes anywhere, so neither the provider nor the record sees them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence

import orjson

from edge.gateway import content_filter
from edge.gateway.catalog import TenantPolicy
from edge.gateway.content_filter import InjectionFinding, PiiFinding, ScanResult
from edge.gateway.content_filter.channels import TOOL_RESULT, UNTRUSTED_CHANNELS
from edge.gateway.request import GatewayRequest, answer_slots, scanned_slots
from edge.gateway.verdicts import BLOCK, FLAG, REDACT, Refusal, Verdict

STAGE = "content_filter"

Scan = Callable[..., ScanResult]
Redact = Callable[[str, Sequence[PiiFinding]], str]


def pii_types(policy: TenantPolicy) -> frozenset[str]:
    """The kinds to look for; none listed means all. Kinds this edge does not know (a
    newer control plane) are left out rather than failing every request."""
    if policy.pii == "off":
        return frozenset()
    wanted = frozenset(policy.pii_types) or content_filter.ALL_PII_TYPES
    return wanted & content_filter.ALL_PII_TYPES


def _refuse(code: str, reason: str) -> Refusal:
    return Refusal(403, "acp_filter", code, reason, stage=STAGE)


def _label(finding: PiiFinding) -> str:
    return f"{finding.kind}:{finding.subtype}" if finding.subtype else finding.kind


def _kinds(counts: Counter[str]) -> str:
    """``national_id:us_ssn, email x2``: each finding's specific type where it has one."""
    return ", ".join(f"{kind} x{count}" if count > 1 else kind for kind, count in counts.items())


def screen(
    request: GatewayRequest,
    policy: TenantPolicy,
    verdicts: list[Verdict],
    *,
    scan: Scan = content_filter.scan,
    redact: Redact = content_filter.redact,
) -> None:
    """Append this stage's verdicts; raise Refusal when the policy blocks. Redaction
    rewrites ``request.body`` in place."""
    kinds = pii_types(policy)
    detect_injection = policy.injection != "off"
    if not detect_injection and not kinds:
        return
    worst: InjectionFinding | None = None
    worst_channel = ""
    found: Counter[str] = Counter()
    slots = scanned_slots(request)
    for slot in slots:
        result = scan(
            slot.text,
            pii_types=kinds,
            injection=detect_injection,
            source=slot.channel,
            use_classifier=policy.injection_classifier,
        )
        injection = result.injection
        if injection is not None and (worst is None or injection.score > worst.score):
            worst = injection
            worst_channel = slot.channel
        findings = result.pii
        if findings:
            found.update(_label(finding) for finding in findings)
            if policy.pii in ("redact", "block"):
                # Blocked requests go nowhere but the record; it must not hold them either.
                slot.replace(redact(slot.text, findings))
                request.redacted = True
    if detect_injection and worst is None:
        # A payload split across several tool results or documents: read them together.
        untrusted = [slot.text for slot in slots if slot.channel in UNTRUSTED_CHANNELS]
        if len(untrusted) > 1:
            worst = scan("\n".join(untrusted), pii_types=(), source=TOOL_RESULT).injection
            worst_channel = TOOL_RESULT
    if worst is not None:
        reason = f"prompt injection suspected (score {worst.score:.2f}): {worst.reason}"
        if worst_channel != "user":
            reason += f" [in {worst_channel}]"
        if policy.injection == "block":
            raise _refuse("filter.injection", reason)
        verdicts.append(Verdict(STAGE, FLAG, "filter.injection", reason))
    if found:
        reason = f"personal data: {_kinds(found)}"
        if policy.pii == "block":
            raise _refuse("filter.pii", reason)
        verdict = REDACT if policy.pii == "redact" else FLAG
        verdicts.append(Verdict(STAGE, verdict, "filter.pii", reason))


def redact_text(
    text: str,
    policy: TenantPolicy,
    *,
    scan: Scan = content_filter.scan,
    redact: Redact = content_filter.redact,
) -> str:
    """``text`` with the policy's personal data types redacted (for captured answers)."""
    if policy.pii != "redact" or not text:
        return text
    findings = scan(text, pii_types=pii_types(policy), injection=False).pii
    return redact(text, findings) if findings else text


def redact_pii(
    request: GatewayRequest,
    policy: TenantPolicy,
    *,
    scan: Scan = content_filter.scan,
    redact: Redact = content_filter.redact,
) -> bool:
    """Redact the request's personal data when the tenant redacts or blocks it; used for
    the record of a request refused before this stage. True when anything changed."""
    if policy.pii not in ("redact", "block"):
        return False
    for slot in scanned_slots(request):
        findings = scan(slot.text, pii_types=pii_types(policy), injection=False).pii
        if findings:
            slot.replace(redact(slot.text, findings))
            request.redacted = True
    return request.redacted


# --- the answer --------------------------------------------------------------------------

RESPONSE_CODE = "filter.response_pii"
STREAM_CUT = "the answer was cut: it carried personal data or secrets the tenant blocks"


def screen_answer(api: str, content: bytes, policy: TenantPolicy, verdicts: list[Verdict]) -> bytes:
    """The provider's whole answer on its way to the agent, scanned for the policy's
    personal data and secrets (texts and tool-call arguments): flagged, redacted in what
    the agent gets, or withheld (``Refusal``) as the tenant's policy says."""
    kinds = pii_types(policy)
    if not kinds:
        return content
    answer = orjson.loads(content)
    found: Counter[str] = Counter()
    for slot in answer_slots(api, answer):
        findings = content_filter.find_pii(slot.text, kinds)
        if findings:
            found.update(_label(finding) for finding in findings)
            if policy.pii == "redact":
                slot.replace(content_filter.redact(slot.text, findings))
    if not found:
        return content
    reason = f"personal data or secrets in the answer: {_kinds(found)}"
    if policy.pii == "block":
        raise _refuse(RESPONSE_CODE, reason)
    if policy.pii == "redact":
        verdicts.append(Verdict(STAGE, REDACT, RESPONSE_CODE, reason))
        return orjson.dumps(answer)
    verdicts.append(Verdict(STAGE, FLAG, RESPONSE_CODE, reason))
    return content


class StreamScreen:
    """A streamed answer scanned as it passes. What is already out cannot be taken
    back: ``flag`` and ``redact`` record the decision when the stream ends (the record
    keeps a redacted copy), ``block`` cuts the stream at the first finding."""

    # Scan once this much new text has arrived; look back this far so that a value cut
    # between two scans is seen whole.
    STEP = 256
    OVERLAP = 200

    def __init__(self, policy: TenantPolicy) -> None:
        self.mode = policy.pii
        self.kinds = pii_types(policy)
        self.text = ""
        self.consumed = 0
        self.scanned_to = 0
        self.found: Counter[str] = Counter()
        self.seen: set[tuple[int, str]] = set()

    @property
    def blocked(self) -> bool:
        return self.mode == "block" and bool(self.found)

    def feed(self, pieces: Sequence[str]) -> bool:
        """Take the stream's text so far (a growing list of pieces); True when the policy
        says to cut the stream now."""
        if not self.kinds:
            return False
        if len(pieces) > self.consumed:
            self.text += "".join(pieces[self.consumed :])
            self.consumed = len(pieces)
        if self.mode == "block":
            self._scan(len(self.text))  # every chunk, before it goes out
        elif len(self.text) - self.scanned_to >= self.STEP:
            # Up to the last space: a value still arriving is read whole next time.
            end = self.text.rfind(" ", self.scanned_to) + 1 or len(self.text)
            self._scan(end)
        return self.blocked

    def finish(self, pieces: Sequence[str]) -> Verdict | None:
        """The decision on the whole stream, once it is over."""
        if not self.kinds:
            return None
        cut = self.blocked
        self.text += "".join(pieces[self.consumed :])
        self.consumed = len(pieces)
        self._scan(len(self.text))
        if not self.found:
            return None
        reason = f"personal data or secrets in the streamed answer: {_kinds(self.found)}"
        if cut:
            return Verdict(STAGE, BLOCK, RESPONSE_CODE, reason + " (stream cut)")
        return Verdict(STAGE, FLAG, RESPONSE_CODE, reason + " (already streamed to the agent)")

    def _scan(self, end: int) -> None:
        start = max(0, self.scanned_to - self.OVERLAP)
        for finding in content_filter.find_pii(self.text[start:end], self.kinds):
            key = (start + finding.end, finding.kind)
            if key not in self.seen:
                self.seen.add(key)
                self.found[_label(finding)] += 1
        self.scanned_to = max(self.scanned_to, end)

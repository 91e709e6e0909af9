"""The per-category PDF of a package: each control's results over the period, the
stretches of time no evidence covers (auditors look for gaps in time), the records
that did not pass, and the exceptions in force."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.template.loader import render_to_string

from compliance.models import Category, Control, ControlException, EvidenceRecord
from compliance.periods import Period

SHOWN_RECORDS = 40  # per control; the JSON has every one
RESULTS = ("pass", "fail", "exception", "not_applicable")


@dataclass
class ControlSummary:
    control: Control
    counts: dict[str, int] = field(default_factory=dict)
    latest: EvidenceRecord | None = None
    tests: list[str] = field(default_factory=list)
    gaps: list[tuple[str, dt.datetime, dt.datetime]] = field(default_factory=list)
    not_passed: list[EvidenceRecord] = field(default_factory=list)
    more_not_passed: int = 0
    exceptions: list[ControlException] = field(default_factory=list)

    @property
    def status(self) -> str:
        if self.latest is None:
            return "no evidence"
        return self.latest.result.replace("_", " ")

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def uncovered(
    spans: Sequence[tuple[dt.datetime, dt.datetime]], since: dt.datetime, until: dt.datetime
) -> list[tuple[dt.datetime, dt.datetime]]:
    """The parts of ``[since, until)`` that no span covers."""
    gaps = []
    cursor = since
    for start, end in sorted(spans):
        if start > cursor:
            gaps.append((cursor, min(start, until)))
        cursor = max(cursor, end)
        if cursor >= until:
            break
    if cursor < until:
        gaps.append((cursor, until))
    return [(a, b) for a, b in gaps if a < b]


def summarize(
    controls: Sequence[Control],
    records: Sequence[EvidenceRecord],
    exceptions: Sequence[ControlException],
    period: Period,
) -> list[ControlSummary]:
    """One summary per control that is active or has evidence in the period; failing
    first, then by code."""
    summaries = {c.pk: ControlSummary(control=c) for c in controls}
    spans: dict[tuple[Any, str], list[tuple[dt.datetime, dt.datetime]]] = {}
    for record in records:
        summary = summaries[record.control_id]
        summary.counts[record.result] = summary.counts.get(record.result, 0) + 1
        if summary.latest is None or record.seq > summary.latest.seq:
            summary.latest = record
        spans.setdefault((record.control_id, record.test_key), []).append(
            (record.period_start, record.period_end)
        )
        if record.result != EvidenceRecord.Result.PASS:
            if len(summary.not_passed) < SHOWN_RECORDS:
                summary.not_passed.append(record)
            else:
                summary.more_not_passed += 1
    for (control_id, test_key), found in spans.items():
        summaries[control_id].tests.append(test_key)
        for start, end in uncovered(found, period.since, period.until):
            summaries[control_id].gaps.append((test_key, start, end))
    for exception in exceptions:
        if exception.control_id in summaries:
            summaries[exception.control_id].exceptions.append(exception)
    shown = [s for s in summaries.values() if s.control.active or s.total]
    order = {"fail": 0, "no evidence": 1, "exception": 2, "not applicable": 3, "pass": 4}
    return sorted(shown, key=lambda s: (order.get(s.status, 5), s.control.code))


def criterion_pdf(
    *, category: Category, summaries: Sequence[ControlSummary], header: dict[str, Any]
) -> bytes:
    from weasyprint import HTML  # imported here: Pango loads once, in the process that renders

    totals = Counter[str]()
    for summary in summaries:
        totals.update(summary.counts)
    html = render_to_string(
        "compliance/package_criterion.html",
        {
            "category": category,
            "summaries": summaries,
            "header": header,
            "totals": [(result.replace("_", " "), totals.get(result, 0)) for result in RESULTS],
            "shown_records": SHOWN_RECORDS,
        },
    )
    pdf: bytes = HTML(string=html).write_pdf()
    return pdf

"""Reads of control status: the latest evidence of each test, rolled up to controls and
criterion pages, failing first.

A test's state is its latest evidence's result, or ``stale`` once that evidence is past
``valid_until``, or ``missing`` when it has none. A control takes the worst state of its
tests; in the MSP-wide view, the worst over every tenant and the MSP's own chain.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import QuerySet

from compliance.models import (
    Category,
    Control,
    ControlException,
    ControlTest,
    EvidenceRecord,
    Scope,
)
from controlplane.core.tenancy import all_tenants_context
from tenants.models import Tenant

FAIL, STALE, MISSING, EXCEPTION, PASS, NOT_APPLICABLE = (
    "fail",
    "stale",
    "missing",
    "exception",
    "pass",
    "not_applicable",
)
# Worst first: the order of the criterion pages.
STATE_ORDER = (FAIL, STALE, MISSING, EXCEPTION, PASS, NOT_APPLICABLE)
STATE_LABELS = {
    FAIL: "Failing",
    STALE: "Stale",
    MISSING: "Not tested",
    EXCEPTION: "Exception",
    PASS: "Passing",
    NOT_APPLICABLE: "Not applicable",
}
# The heavy columns a status listing never needs.
LIGHT = ("population", "query_text", "query_params")


def state_of(record: EvidenceRecord | None, now: dt.datetime) -> str:
    if record is None:
        return MISSING
    if record.valid_until < now:
        return STALE
    return str(record.result)


def worst(states: list[str]) -> str:
    return min(states, key=STATE_ORDER.index) if states else MISSING


@dataclass
class TestStatus:
    __test__ = False  # not a pytest class

    test: ControlTest
    state: str
    latest: EvidenceRecord | None
    # MSP-wide view: the state per tenant slug ("MSP" for the MSP's own chain).
    by_tenant: dict[str, str] = field(default_factory=dict)


@dataclass
class ControlStatus:
    control: Control
    state: str
    tests: list[TestStatus]
    exceptions: list[ControlException] = field(default_factory=list)

    @property
    def label(self) -> str:
        return STATE_LABELS[self.state]


def _latest(records: QuerySet[EvidenceRecord]) -> list[EvidenceRecord]:
    """The newest record per (tenant, test) of ``records``."""
    return list(
        records.defer(*LIGHT)
        .order_by("tenant_id", "control_test_id", "-seq")
        .distinct("tenant_id", "control_test_id")
    )


def latest_msp_evidence() -> dict[uuid.UUID, EvidenceRecord]:
    """The MSP's own chain: the newest record per test. Read across tenants because it
    belongs to none; the customer portal shows its result and dates, not its entities."""
    with all_tenants_context():
        rows = _latest(EvidenceRecord.unscoped.filter(tenant__isnull=True))
    return {r.control_test_id: r for r in rows}


def _controls(category: str | None) -> list[Control]:
    controls = Control.objects.filter(active=True).prefetch_related("tests").order_by("code")
    if category:
        controls = controls.filter(category=category)
    return list(controls)


def _active_tests(control: Control) -> list[ControlTest]:
    return [t for t in control.tests.all() if t.active]


def tenant_status(
    *, tenant: Tenant, category: str | None, now: dt.datetime, rows: QuerySet[EvidenceRecord]
) -> list[ControlStatus]:
    """Every control (of ``category``) for one tenant, failing first. ``rows`` is the
    tenant's evidence as the caller may read it (scoped manager or unscoped filtered)."""
    own = {r.control_test_id: r for r in _latest(rows.filter(tenant=tenant))}
    msp = latest_msp_evidence()
    result = []
    for control in _controls(category):
        tests = []
        for test in _active_tests(control):
            latest = (msp if test.scope == Scope.MSP else own).get(test.pk)
            tests.append(TestStatus(test=test, state=state_of(latest, now), latest=latest))
        result.append(
            ControlStatus(control=control, state=worst([t.state for t in tests]), tests=tests)
        )
    return sorted(result, key=lambda c: (STATE_ORDER.index(c.state), c.control.code))


def msp_status(*, category: str | None, now: dt.datetime) -> list[ControlStatus]:
    """Every control across every tenant and the MSP, failing first. Staff only (the
    caller holds ``all_tenants_context``)."""
    slugs = dict(Tenant.objects.filter(status=Tenant.Status.ACTIVE).values_list("pk", "slug"))
    latest: dict[uuid.UUID, dict[str, EvidenceRecord]] = defaultdict(dict)
    for record in _latest(EvidenceRecord.unscoped.all()):
        if record.tenant_id is None:
            latest[record.control_test_id]["MSP"] = record
        elif record.tenant_id in slugs:
            latest[record.control_test_id][slugs[record.tenant_id]] = record
    result = []
    for control in _controls(category):
        tests = []
        for test in _active_tests(control):
            records = latest.get(test.pk, {})
            names = ["MSP"] if test.scope == Scope.MSP else sorted(slugs.values())
            by_tenant = {name: state_of(records.get(name), now) for name in names}
            worst_name = min(by_tenant, key=lambda n: STATE_ORDER.index(by_tenant[n]), default="")
            tests.append(
                TestStatus(
                    test=test,
                    state=worst(list(by_tenant.values())),
                    latest=records.get(worst_name),
                    by_tenant=by_tenant,
                )
            )
        result.append(
            ControlStatus(control=control, state=worst([t.state for t in tests]), tests=tests)
        )
    return sorted(result, key=lambda c: (STATE_ORDER.index(c.state), c.control.code))


def category_counts(statuses: list[ControlStatus]) -> dict[str, dict[str, int]]:
    """Per category: how many controls are in each state."""
    counts: dict[str, dict[str, int]] = {c: defaultdict(int) for c in Category.values}
    for status in statuses:
        counts[status.control.category][status.state] += 1
    return {category: dict(states) for category, states in counts.items()}


def evidence_timeline(
    rows: QuerySet[EvidenceRecord], *, category: str, limit: int = 50
) -> list[EvidenceRecord]:
    """The newest evidence of a category's controls, newest first."""
    return list(
        rows.filter(control__category=category)
        .defer(*LIGHT)
        .select_related("control", "tenant")
        .order_by("-recorded_at", "-seq")[:limit]
    )

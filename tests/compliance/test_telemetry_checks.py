"""The control tests over the agents' own telemetry in ClickHouse (the gateway's
verdicts, data classes, traces, providers) and the reconciliation of the two stores;
always one tenant's, never another's."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from compliance.checks.p import pii_kinds
from controlplane.core.tenancy import tenant_context
from controlplane.gateway import services as gateway
from controlplane.telemetry.models import DeadLetter
from controlplane.telemetry.reconcile import reconcile_tenant
from edge import residency
from tenants.models import Tenant
from tenants.services import tenant_update
from tests.compliance.controls import collect, entity_keys
from tests.conftest import SYSTEM
from tests.web.conftest import Fleet, make_fleet
from tests.web.telemetry import ingest, span
from tests.web.test_traces import a_trace, new_trace_id

pytestmark = pytest.mark.django_db
HOUR = dt.timedelta(hours=1)


def verdict(code: str, decision: str, reason: str) -> dict[str, str]:
    return {"stage": "content_filter", "verdict": decision, "code": code, "reason": reason}


def gateway_call(fleet: Fleet, at: dt.datetime, *verdicts: dict[str, str], **fields: Any) -> bytes:
    blocked = any(v["verdict"] == "block" for v in verdicts)
    return span(
        fleet,
        trace_id=new_trace_id(),
        span_id="2000000000000001",
        start=at,
        name="chat gpt-4o-mini",
        kind="model",
        provider="openai",
        model="gpt-4o-mini",
        status="refused" if blocked else "ok",
        attributes={"acp.gateway.route": "default", "acp.gateway.verdicts": list(verdicts)},
        **fields,
    )


@pytest.fixture
def fleets(tenant_a: Tenant, tenant_b: Tenant) -> tuple[Fleet, Fleet]:
    return make_fleet(tenant_a), make_fleet(tenant_b)


def test_personal_data_counted_per_type_and_passing_unredacted_fails(
    fleets: tuple[Fleet, Fleet], tenant_a: Tenant, tenant_b: Tenant
) -> None:
    a, b = fleets
    now = timezone.now()
    gateway.policy_set(actor=SYSTEM, tenant=tenant_a, pii="redact")
    gateway.policy_set(actor=SYSTEM, tenant=tenant_b, pii="redact")
    ingest(
        [
            gateway_call(
                a, now - HOUR, verdict("filter.pii", "redact", "personal data: email x2, phone")
            ),
            gateway_call(
                a,
                now - 2 * HOUR,
                verdict("filter.pii", "redact", "personal data: national_id:us_ssn"),
            ),
            gateway_call(b, now - HOUR, verdict("filter.pii", "flag", "personal data: card")),
        ]
    )
    mine = collect("p.pii_detections", tenant_a)
    assert mine.result == "pass"
    assert mine.metrics["by_type"] == {"email": 2, "phone": 1, "national_id": 1}
    [row] = mine.population
    assert row["calls"] == 2 and row["unredacted"] == 0 and len(row["sample_traces"]) == 2
    assert "@" not in str(mine.population)  # counts and traces, never a value

    theirs = collect("p.pii_detections", tenant_b)
    assert theirs.result == "fail"
    assert entity_keys(theirs) == {f"agent:{b.agent.pk}"}
    assert theirs.metrics["by_type"] == {"card": 1}


def test_the_kinds_of_a_verdict_reason() -> None:
    assert pii_kinds("personal data: email x2, national_id:us_ssn") == {
        "email": 2,
        "national_id": 1,
    }
    assert pii_kinds("personal data: email (already streamed to the agent)") == {"email": 1}
    assert pii_kinds("nothing here") == {}


def test_an_injection_let_through_fails_and_blocked_ones_pass(
    fleets: tuple[Fleet, Fleet], tenant_a: Tenant, tenant_b: Tenant
) -> None:
    a, b = fleets
    now = timezone.now()
    gateway.policy_set(actor=SYSTEM, tenant=tenant_b, injection="flag")
    reason = "prompt injection suspected (score 0.91): instruction_override"
    ingest(
        [
            gateway_call(a, now - HOUR, verdict("filter.injection", "block", reason)),
            gateway_call(b, now - HOUR, verdict("filter.injection", "flag", reason)),
        ]
    )
    blocked = collect("cc7.injection_refusals", tenant_a)
    assert blocked.result == "pass" and blocked.metrics["injections_blocked"] == 1
    assert blocked.metrics["refused"] == 1
    flagged = collect("cc7.injection_refusals", tenant_b)
    assert entity_keys(flagged) == {f"policy:{tenant_b.pk}", f"agent:{b.agent.pk}"}


def test_data_classes_outside_an_agents_clearance_fail(
    fleets: tuple[Fleet, Fleet], tenant_a: Tenant
) -> None:
    a, b = fleets
    now = timezone.now()
    ingest(
        [
            span(a, trace_id=new_trace_id(), span_id="3000000000000001", start=now - HOUR,
                 kind="tool", tool="ledger.query", data_classes=["finance"]),
            span(b, trace_id=new_trace_id(), span_id="3000000000000001", start=now - HOUR,
                 kind="tool", tool="ledger.query", data_classes=["hr"]),
        ]
    )  # fmt: skip
    record = collect("c1.data_classes", tenant_a)
    assert entity_keys(record) == {f"agent:{a.agent.pk}"}
    assert "touched finance" in record.failing_entities[0]["reason"]
    assert "hr" not in str(record.population)


def test_a_span_whose_parent_never_arrived_makes_its_trace_incomplete(
    fleets: tuple[Fleet, Fleet], tenant_a: Tenant, tenant_b: Tenant
) -> None:
    a, b = fleets
    now = timezone.now()
    a_trace(a, new_trace_id(), now - 3 * HOUR)
    orphan = new_trace_id()
    ingest([span(a, trace_id=orphan, span_id="4000000000000002", parent_span_id="4000000000000001",
                 start=now - 2 * HOUR)])  # fmt: skip
    a_trace(b, new_trace_id(), now - 3 * HOUR)
    record = collect("pi1.trace_completeness", tenant_a)
    assert entity_keys(record) == {f"trace:{orphan}"}
    assert record.population_count == 2 and record.metrics["incomplete"] == 1
    assert collect("pi1.trace_completeness", tenant_b).result == "pass"


def test_hours_not_reconciled_fail_until_reconciled(
    fleets: tuple[Fleet, Fleet], tenant_a: Tenant
) -> None:
    a, _ = fleets
    hour = timezone.now().replace(minute=0, second=0, microsecond=0) - 3 * HOUR
    a_trace(a, new_trace_id(), hour + dt.timedelta(minutes=10))
    record = collect("pi1.store_reconciliation", tenant_a)
    assert entity_keys(record) == {f"hour:{hour:%Y-%m-%dT%H}"}
    assert record.failing_entities[0]["reason"] == "not reconciled"
    reconcile_tenant(tenant_a, since=hour, until=hour + HOUR)
    assert collect("pi1.store_reconciliation", tenant_a).result == "pass"


def test_a_provider_answering_too_few_calls_fails(
    fleets: tuple[Fleet, Fleet], tenant_a: Tenant
) -> None:
    a, _ = fleets
    now = timezone.now()
    calls = [
        span(a, trace_id=new_trace_id(), span_id="5000000000000001", start=now - HOUR,
             kind="model", provider=provider, model="m", status=status)
        for provider, status in [("good", "ok")] * 20 + [("bad", "ok")] * 3 + [("bad", "error")] * 2
    ]  # fmt: skip
    ingest(calls)
    record = collect("a1.provider_availability", tenant_a)
    assert entity_keys(record) == {"provider:bad"}
    assert "answered 60.0% of 5 calls" in record.failing_entities[0]["reason"]


def test_retention_holds_when_no_span_is_older_than_it(
    fleets: tuple[Fleet, Fleet], tenant_a: Tenant
) -> None:
    a, _ = fleets
    a_trace(a, new_trace_id(), timezone.now() - 5 * dt.timedelta(days=1))
    record = collect("p.retention_enforced", tenant_a)
    assert record.result == "pass" and record.metrics["oldest_age_days"] == 5


def resident_call(fleet: Fleet, at: dt.datetime) -> bytes:
    """A model call as a residency tenant's edge sends it: the bodies' SHA-256, no body."""
    return span(
        fleet,
        trace_id=new_trace_id(),
        span_id="3000000000000001",
        start=at,
        kind="model",
        name="chat gpt-4o-mini",
        attributes={
            residency.BODIES: residency.AT_EDGE,
            residency.REQUEST_SHA256: residency.sha256_text("What is my balance?"),
            residency.RESPONSE_SHA256: residency.sha256_text("Your balance is 42."),
        },
    )


def test_residency_passes_when_only_hashes_are_stored_centrally(
    fleets: tuple[Fleet, Fleet], tenant_a: Tenant, tenant_b: Tenant
) -> None:
    a, b = fleets
    tenant_update(actor=SYSTEM, tenant=tenant_a, body_residency=True)
    now = timezone.now()
    ingest([resident_call(a, now + dt.timedelta(seconds=i)) for i in range(3)])
    a_trace(b, new_trace_id(), now)  # tenant_b keeps its bodies centrally: not in residency
    record = collect("p.residency", tenant_a, now=now + HOUR)
    assert record.result == "pass", record.summary
    assert record.metrics["spans"] == 3 and record.failing_entities == []
    assert collect("p.residency", tenant_b, now=now + HOUR).result == "not_applicable"


def test_residency_fails_naming_the_traces_whose_bodies_are_stored_centrally(
    fleets: tuple[Fleet, Fleet], tenant_a: Tenant
) -> None:
    a, _ = fleets
    before = new_trace_id()
    a_trace(a, before, timezone.now() - HOUR)  # stored before residency was turned on
    tenant_update(actor=SYSTEM, tenant=tenant_a, body_residency=True)
    now = timezone.now()
    ingest([resident_call(a, now)])
    leaked = new_trace_id()
    a_trace(a, leaked, now + dt.timedelta(seconds=1))  # an edge that ignored the residency
    with tenant_context(tenant_a):
        DeadLetter.objects.create(
            tenant=tenant_a,
            edge_node_id=a.node.pk,
            raw=b'{"trace_id": "deadbeef", "request_body": "What is my balance?"}',
            raw_sha256="0" * 64,
            store="ledger",
            reason="test",
            batch_after=0,
            batch_upto=1,
            last_attempt_at=now,
        )
    record = collect("p.residency", tenant_a, now=now + HOUR)
    assert record.result == "fail"
    assert entity_keys(record) == {f"trace:{leaked}", "trace:deadbeef"}
    assert "2 traces with bodies stored centrally" in record.summary
    by_key = {e["key"]: e["reason"] for e in record.failing_entities}
    assert (
        by_key[f"trace:{leaked}"]
        == "request or response bodies stored centrally: 1 spans in ClickHouse"
    )
    assert (
        by_key["trace:deadbeef"]
        == "request or response bodies stored centrally: 1 dead letters in PostgreSQL"
    )

"""Shortening a tenant's evidence retention disposes of its oldest evidence records: the
run counts them, the chain's floor moves so ``verify_evidence`` still passes (and still
names a record altered afterwards), and nothing an open auditor's access, a package
still kept or a legal hold needs goes (docs/privacy.md, "Evidence")."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from compliance.evidence import evidence_verify
from compliance.models import EvidenceChainHead, EvidencePackage, EvidenceRecord
from compliance.packages.services import package_request
from compliance.periods import Period
from compliance.privacy.models import DataSubjectRequest, RetentionRun
from compliance.privacy.retention import continue_run, start_sweep
from compliance.privacy.services import (
    dsr_create,
    dsr_erase,
    dsr_verify,
    legal_hold_place,
    retention_policy_set,
)
from controlplane.accounts.auditors import auditor_create, auditor_revoke
from controlplane.agents.services import agent_create
from controlplane.audit.models import AuditEvent
from controlplane.audit.services import audit_verify
from controlplane.core.tenancy import all_tenants_context, tenant_context
from tenants.models import Tenant
from tests.compliance.controls import collect
from tests.conftest import SYSTEM
from tests.privacy.conftest import direct

pytestmark = pytest.mark.django_db

# Days ago each of the tenant's records was written; the policy keeps 150 days.
AGES = (400, 300, 200, 100, 10, 1)
KEEP_DAYS = 150


def _ago(days: int) -> dt.datetime:
    return timezone.now() - dt.timedelta(days=days)


def _day(days: int) -> dt.date:
    return _ago(days).date()


@pytest.fixture
def chain(tenant_a: Tenant, tenant_b: Tenant) -> list[EvidenceRecord]:
    """Six records of acme (oldest first), an old one of globex and of the MSP, and
    acme's evidence kept 150 days."""
    agent_create(actor=SYSTEM, tenant=tenant_a, name="support-bot")
    records = [collect("cc6.agent_keys", tenant_a, now=_ago(days)) for days in AGES]
    collect("cc6.agent_keys", tenant_b, now=_ago(400))
    collect("a1.backup_drill", now=_ago(400))
    retention_policy_set(
        actor=SYSTEM,
        tenant=tenant_a,
        kind="evidence",
        days=KEEP_DAYS,
        effective_from=timezone.now().date(),
    )
    return records


def _run(tenant: Tenant) -> RetentionRun:
    [started] = start_sweep(trigger="manual", requested_by="test", tenants=[tenant])
    return continue_run(started.pk)


def _removed(run: RetentionRun, target: str) -> int:
    return sum(i["rows"] for i in run.removed if i["store"] == "evidence" and i["target"] == target)


def _seqs(tenant: Tenant | None) -> list[int]:
    with all_tenants_context():
        rows = EvidenceRecord.unscoped.filter(tenant=tenant).order_by("seq")
        return list(rows.values_list("seq", flat=True))


def _head(tenant: Tenant) -> EvidenceChainHead:
    with all_tenants_context():
        return EvidenceChainHead.unscoped.get(tenant=tenant)


def _tamper(tenant: Tenant, sql: str) -> None:
    """What the table owner can do: switch the trigger off and change a row."""
    with tenant_context(tenant), connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(
            "ALTER TABLE compliance_evidencerecord DISABLE TRIGGER evidence_record_immutable"
        )
        cursor.execute(sql)
        cursor.execute(
            "ALTER TABLE compliance_evidencerecord ENABLE TRIGGER evidence_record_immutable"
        )


def test_evidence_older_than_the_policy_goes_and_the_chain_still_verifies(
    chain: list[EvidenceRecord], tenant_a: Tenant, tenant_b: Tenant
) -> None:
    run = _run(tenant_a)

    assert run.state == RetentionRun.State.COMPLETED, run.error
    assert _removed(run, "compliance_evidencerecord") == 3 and run.steps["evidence"] == "done"
    assert _seqs(tenant_a) == [4, 5, 6]
    head = _head(tenant_a)
    assert (head.floor_seq, head.floor_hash) == (3, chain[2].hash)
    assert _seqs(tenant_b) == [1] and _seqs(None) == [1]  # their own policies (7 years)
    result = evidence_verify()
    assert result.ok and result.checked == 5, result.problems
    with all_tenants_context():
        entry = AuditEvent.objects.get(action="compliance.evidence_disposed")
    assert entry.tenant_id == tenant_a.pk and entry.after["records"] == 3
    assert entry.after["floor_seq"] == 3 and entry.before["floor_seq"] == 0
    assert audit_verify().ok

    again = _run(tenant_a)  # nothing more is old enough
    assert _removed(again, "compliance_evidencerecord") == 0
    assert collect("cc6.agent_keys", tenant_a).seq == 7
    assert evidence_verify().ok


def test_a_record_altered_after_disposal_is_named_and_the_trigger_still_refuses(
    chain: list[EvidenceRecord], tenant_a: Tenant
) -> None:
    _run(tenant_a)
    with tenant_context(tenant_a), connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        # Disposal's setting does not let a record above the floor go, nor any update.
        for statement in (
            "DELETE FROM compliance_evidencerecord WHERE seq = 5",
            "UPDATE compliance_evidencerecord SET result = 'pass' WHERE seq = 5",
        ):
            with pytest.raises(DatabaseError, match="immutable"), transaction.atomic():
                cursor.execute("SELECT set_config('controlplane.evidence_disposal', 'on', true)")
                cursor.execute(statement)
    _tamper(tenant_a, "UPDATE compliance_evidencerecord SET summary = 'fine' WHERE seq = 4")
    [problem] = evidence_verify().problems
    assert str(problem).startswith(f"tenant acme: evidence #4 (id {chain[3].pk}) was altered")


def test_a_record_altered_before_disposal_stops_it(
    chain: list[EvidenceRecord], tenant_a: Tenant
) -> None:
    """Disposing of an altered record would hide the alteration: the run refuses."""
    _tamper(tenant_a, "UPDATE compliance_evidencerecord SET result = 'fail' WHERE seq = 2")
    run = _run(tenant_a)
    assert run.state == RetentionRun.State.PARTIAL
    assert "evidence #2 was altered" in run.steps["evidence"]
    assert _seqs(tenant_a) == [1, 2, 3, 4, 5, 6] and _head(tenant_a).floor_seq == 0


def test_a_legal_hold_keeps_all_evidence(chain: list[EvidenceRecord], tenant_a: Tenant) -> None:
    agent = agent_create(actor=SYSTEM, tenant=tenant_a, name="disputed")
    legal_hold_place(actor=SYSTEM, tenant=tenant_a, reason="dispute", agent=agent)
    run = _run(tenant_a)
    assert run.state == RetentionRun.State.COMPLETED
    assert "evidence: all kept while an agent is on legal hold" in run.kept
    legal_hold_place(actor=SYSTEM, tenant=tenant_a, reason="regulator", reference="R-7")
    held = _run(tenant_a)
    assert held.state == RetentionRun.State.HELD and held.removed == []
    assert _seqs(tenant_a) == [1, 2, 3, 4, 5, 6] and evidence_verify().ok


def test_an_open_auditors_period_keeps_its_evidence_until_the_access_ends(
    chain: list[EvidenceRecord],
    tenant_a: Tenant,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    with django_capture_on_commit_callbacks(execute=True):  # its package is built too
        account = auditor_create(
            actor=SYSTEM,
            email="auditor@cpa.example",
            tenants=[tenant_a],
            period=Period(_day(250), _day(230)),
            expires_at=_ago(-30),
        )
    run = _run(tenant_a)
    assert _removed(run, "compliance_evidencerecord") == 2  # 400 and 300 days old
    assert _seqs(tenant_a) == [3, 4, 5, 6]
    assert any("an auditor's access" in reason for reason in run.kept)
    assert _removed(run, "compliance_evidencepackage") == 0

    auditor_revoke(actor=SYSTEM, account=account)
    after = _run(tenant_a)  # its package is past retention too: it goes with the record
    assert _removed(after, "compliance_evidencerecord") == 1
    assert _removed(after, "compliance_evidencepackage") == 1
    with tenant_context(tenant_a):
        assert not EvidencePackage.objects.exists()
    assert _seqs(tenant_a) == [4, 5, 6] and evidence_verify().ok


def test_a_package_within_its_retention_keeps_its_period(
    chain: list[EvidenceRecord],
    tenant_a: Tenant,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        package = package_request(
            actor=SYSTEM, tenant=tenant_a, period=Period(_day(210), _day(140))
        )
    run = _run(tenant_a)
    assert _removed(run, "compliance_evidencerecord") == 2
    assert _seqs(tenant_a) == [3, 4, 5, 6]
    assert any("the package of" in reason for reason in run.kept)
    with tenant_context(tenant_a):
        assert EvidencePackage.objects.get().pk == package.pk


def test_a_data_subject_erasure_still_works_after_disposal(
    chain: list[EvidenceRecord],
    tenant_a: Tenant,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    _run(tenant_a)
    direct(tenant_a, [_ago(1)], request_body="for CUST-9")
    with django_capture_on_commit_callbacks(execute=True):
        dsr = dsr_create(
            actor=SYSTEM, tenant=tenant_a, identifiers=[{"kind": "customer_id", "value": "CUST-9"}]
        )
    with all_tenants_context():
        dsr = DataSubjectRequest.unscoped.get(pk=dsr.pk)
    assert dsr.found["clickhouse"]["spans"] == 1 and dsr.found["evidence"] == {
        "records": 0,
        "records_legacy": 0,
    }
    dsr_verify(actor=SYSTEM, dsr=dsr, note="checked")
    with django_capture_on_commit_callbacks(execute=True):
        dsr_erase(actor=SYSTEM, dsr=dsr, confirm="ERASE")
    with all_tenants_context():
        dsr.refresh_from_db()
    assert dsr.state == DataSubjectRequest.State.ERASED, dsr.error
    assert audit_verify().ok and evidence_verify().ok

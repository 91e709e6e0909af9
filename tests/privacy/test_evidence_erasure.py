"""A data-subject request finds a member's email in the tenant's compliance evidence
(the access review's and the second-factor test's populations and failing entities),
exports only the parts naming them, and erases it with tombstones: a later search finds
nothing, ``verify_evidence`` and ``verify_audit_log`` still pass, a package made
afterwards verifies, and an erased record altered afterwards is still named
(docs/privacy.md, "Evidence"; decision 0045)."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from typing import Any

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from compliance.evidence import evidence_verify
from compliance.models import EvidencePackage, EvidenceRecord
from compliance.packages.services import package_request
from compliance.packages.verify import verify_package
from compliance.privacy.export import export_bytes
from compliance.privacy.models import DataSubjectRequest
from compliance.privacy.services import dsr_create, dsr_erase, dsr_verify
from compliance.subjects import evidence_find
from controlplane.accounts.models import User
from controlplane.audit.models import AuditEvent
from controlplane.audit.services import audit_verify
from controlplane.core.tenancy import all_tenants_context, tenant_context
from edge.identifiers import TOMBSTONE, parse_identifiers
from tenants.models import Tenant
from tests.compliance.controls import collect
from tests.conftest import SYSTEM
from tests.packages.conftest import this_month

pytestmark = pytest.mark.django_db

JANE, BOB = "jane.doe@acme.example", "bob@acme.example"
IDENTIFIERS = [{"kind": "email", "value": "Jane.Doe@ACME.example"}]


@pytest.fixture
def evidence(
    tenant_a: Tenant, tenant_b: Tenant, make_customer: Callable[..., User]
) -> list[EvidenceRecord]:
    """Acme's access review and second-factor evidence naming Jane and Bob; Globex's
    naming someone else; the MSP's own."""
    make_customer(tenant_a, "admin", JANE)
    make_customer(tenant_a, "member", BOB)
    make_customer(tenant_b, "member", "carol@globex.example")
    collect("cc6.staff_access_review")
    collect("cc6.access_review", tenant_b)
    return [collect("cc6.access_review", tenant_a), collect("cc6.member_mfa", tenant_a)]


def _record(pk: Any) -> EvidenceRecord:
    with all_tenants_context():
        return EvidenceRecord.unscoped.get(pk=pk)


def _request(capture: Callable[..., Any], tenant: Tenant) -> DataSubjectRequest:
    with capture(execute=True):
        dsr = dsr_create(actor=SYSTEM, tenant=tenant, identifiers=IDENTIFIERS)
    with all_tenants_context():
        return DataSubjectRequest.unscoped.get(pk=dsr.pk)


def _erase(capture: Callable[..., Any], dsr: DataSubjectRequest) -> DataSubjectRequest:
    dsr_verify(actor=SYSTEM, dsr=dsr, note="checked her ID")
    with capture(execute=True):
        dsr_erase(actor=SYSTEM, dsr=dsr, confirm="ERASE")
    with all_tenants_context():
        dsr.refresh_from_db()
    assert dsr.state == DataSubjectRequest.State.ERASED, (dsr.error, dsr.remaining)
    return dsr


def test_a_request_finds_exports_and_erases_a_member_in_the_evidence(
    evidence: list[EvidenceRecord],
    tenant_a: Tenant,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    review, mfa = evidence
    dsr = _request(django_capture_on_commit_callbacks, tenant_a)
    assert dsr.found["evidence"] == {"records": 2, "records_legacy": 0}
    with zipfile.ZipFile(io.BytesIO(export_bytes(dsr))) as archive:
        exported = json.loads(archive.read("evidence.json"))
    assert {r["control_code"] for r in exported} == {review.control_code, mfa.control_code}
    text = json.dumps(exported)
    assert JANE in text and BOB not in text  # only the parts that name her

    dsr = _erase(django_capture_on_commit_callbacks, dsr)
    assert dsr.erased["evidence"] == {"compliance_evidencerecord": 2}
    for before in evidence:
        after = _record(before.pk)
        rows = {row["key"]: row for row in after.population}
        assert JANE not in json.dumps([after.population, after.failing_entities, after.summary])
        assert BOB in json.dumps(after.population)  # the rest of the evidence stays
        [hers] = [row for row in rows.values() if row["email"] == TOMBSTONE]
        assert hers["key"].startswith("user:")  # what is not her identifier stays too
        assert after.hash == before.hash and after.result == before.result
        assert after.erasure is not None and after.erasure["request"] == str(dsr.pk)
    ids = parse_identifiers(IDENTIFIERS)
    assert evidence_find(tenant_a.pk, ids) == {"count": 0, "legacy": 0, "records": []}
    assert evidence_verify().ok and audit_verify().ok
    call_command("verify_evidence")
    with all_tenants_context():
        entry = AuditEvent.unscoped.get(action="compliance.evidence_erased")
    assert set(entry.after["records"]) == {str(r.pk) for r in evidence}


def test_a_package_made_after_the_erasure_verifies_without_her(
    evidence: list[EvidenceRecord],
    tenant_a: Tenant,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    _erase(
        django_capture_on_commit_callbacks, _request(django_capture_on_commit_callbacks, tenant_a)
    )
    with django_capture_on_commit_callbacks(execute=True):
        package = package_request(actor=SYSTEM, tenant=tenant_a, period=this_month())
    with tenant_context(tenant_a):
        package = EvidencePackage.objects.get(pk=package.pk)
    assert package.status == EvidencePackage.Status.READY, package.error
    data = bytes(package.content)
    assert verify_package(data, public_keys=None).ok
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert not any(JANE in archive.read(name).decode("latin-1") for name in archive.namelist())
    assert package.evidence_count == 2


def _tamper(sql: str, params: list[Any]) -> None:
    """Switch the trigger off and change a row, as the table owner can."""
    with connection.cursor() as cursor, all_tenants_context():
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(
            "ALTER TABLE compliance_evidencerecord DISABLE TRIGGER evidence_record_immutable"
        )
        cursor.execute(sql, params)
        cursor.execute(
            "ALTER TABLE compliance_evidencerecord ENABLE TRIGGER evidence_record_immutable"
        )


def test_an_erased_record_altered_afterwards_is_still_named(
    evidence: list[EvidenceRecord],
    tenant_a: Tenant,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    _erase(
        django_capture_on_commit_callbacks, _request(django_capture_on_commit_callbacks, tenant_a)
    )
    review = _record(evidence[0].pk)
    population = [
        {**row, "reviewed": True} if row["email"] == TOMBSTONE else row for row in review.population
    ]
    _tamper(
        "UPDATE compliance_evidencerecord SET population = %s WHERE id = %s",
        [json.dumps(population), review.pk],
    )
    [problem] = evidence_verify().problems
    assert problem.seq == review.seq and "was altered after its erasure" in problem.problem


def test_an_erasure_without_its_audit_entry_is_named(
    evidence: list[EvidenceRecord], tenant_a: Tenant
) -> None:
    mfa = evidence[1]
    _tamper(
        "UPDATE compliance_evidencerecord SET erasure = %s WHERE id = %s",
        [json.dumps({"by": 1, "parts": {"summary": ["0" * 64, "1" * 64]}}), mfa.pk],
    )
    [problem] = evidence_verify().problems
    assert problem.seq == mfa.seq and "erased without a recorded erasure" in problem.problem


def test_ordinary_updates_are_still_refused(evidence: list[EvidenceRecord]) -> None:
    review = evidence[0]
    erasure = json.dumps({"by": 1, "parts": {}})
    attempts = [
        ("UPDATE compliance_evidencerecord SET summary = 'x' WHERE id = %s", []),
        # the erasure's shape, but outside its path
        (
            "UPDATE compliance_evidencerecord SET summary = 'x', erasure = %s WHERE id = %s",
            [erasure],
        ),
    ]
    for sql, params in attempts:
        with (
            pytest.raises(DatabaseError, match="immutable"),
            transaction.atomic(),
            connection.cursor() as cursor,
            all_tenants_context(),
        ):
            cursor.execute(sql, [*params, review.pk])
    # inside the path, anything but the personal parts and the erasure is refused
    with (
        pytest.raises(DatabaseError, match="immutable"),
        transaction.atomic(),
        connection.cursor() as cursor,
        all_tenants_context(),
    ):
        cursor.execute("SELECT set_config('controlplane.evidence_erasure', 'on', true)")
        cursor.execute(
            "UPDATE compliance_evidencerecord SET result = 'pass', erasure = %s WHERE id = %s",
            [erasure, review.pk],
        )

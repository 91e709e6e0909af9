"""Evidence is immutable in the database, chained per tenant, and a record altered or
removed behind the application's back is found and named by ``verify_evidence``."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from compliance.evidence import evidence_verify, personal_digest, record_hash, sha256_of
from compliance.models import EvidenceRecord
from controlplane.core.tenancy import all_tenants_context, tenant_context
from tenants.models import Tenant
from tests.compliance.controls import collect
from tests.web.conftest import make_fleet

pytestmark = pytest.mark.django_db


@pytest.fixture
def chain(tenant_a: Tenant, tenant_b: Tenant) -> list[EvidenceRecord]:
    make_fleet(tenant_a)
    make_fleet(tenant_b)
    return [
        collect("cc6.agent_keys", tenant_a),
        collect("cc6.device_bindings", tenant_a),
        collect("cc6.agent_keys", tenant_b),
        collect("a1.backup_drill"),
        collect("cc6.provider_credentials", tenant_a),
    ]


def _tamper(sql: str, params: list[Any]) -> None:
    """What someone with the table owner's (or a superuser's) rights can do: switch the
    trigger off and change a row with plain SQL."""
    with connection.cursor() as cursor, all_tenants_context():
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(
            "ALTER TABLE compliance_evidencerecord DISABLE TRIGGER evidence_record_immutable"
        )
        cursor.execute(sql, params)
        cursor.execute(
            "ALTER TABLE compliance_evidencerecord ENABLE TRIGGER evidence_record_immutable"
        )


def test_each_tenant_and_the_msp_have_their_own_chain(
    chain: list[EvidenceRecord], capsys: pytest.CaptureFixture[str]
) -> None:
    a1, a2, b1, msp, a3 = chain
    assert [a1.seq, a2.seq, a3.seq] == [1, 2, 3]
    assert a2.prev_hash == a1.hash and a3.prev_hash == a2.hash
    assert b1.seq == 1 and msp.seq == 1 and msp.tenant_id is None
    assert msp.data_sha256 == sha256_of(msp.population)
    result = evidence_verify()
    assert result.ok and result.chains == 3 and result.checked == 5
    call_command("verify_evidence")
    assert "5 records in 3 chains, intact" in capsys.readouterr().out


def test_the_database_refuses_updates_deletes_and_truncates(chain: list[EvidenceRecord]) -> None:
    with all_tenants_context():
        connection.cursor().execute("SET CONSTRAINTS ALL IMMEDIATE")
        connection.cursor().execute("DROP TABLE disposable_test_database")
        for statement in (
            "UPDATE compliance_evidencerecord SET result = 'pass'",
            "DELETE FROM compliance_evidencerecord",
            "TRUNCATE compliance_evidencerecord CASCADE",
        ):
            with pytest.raises(DatabaseError, match="immutable"), transaction.atomic():
                connection.cursor().execute(statement)
        assert EvidenceRecord.unscoped.count() == 5


def test_a_failure_turned_into_a_pass_is_found_and_named(chain: list[EvidenceRecord]) -> None:
    altered = chain[3]
    assert altered.result == "fail"  # no backup drill on record
    _tamper("UPDATE compliance_evidencerecord SET result = 'pass' WHERE id = %s", [altered.pk])
    with pytest.raises(CommandError) as failure:
        call_command("verify_evidence")
    message = str(failure.value)
    assert f"MSP chain: evidence #1 (id {altered.pk}) was altered" in message
    assert "A1.3-RECOVERY" in message
    assert "acme" not in message and "globex" not in message  # their chains verify


def test_an_edited_summary_of_a_tenant_is_found(chain: list[EvidenceRecord]) -> None:
    altered = chain[1]
    _tamper(
        "UPDATE compliance_evidencerecord SET summary = 'nothing to see' WHERE id = %s",
        [altered.pk],
    )
    with pytest.raises(CommandError, match=rf"tenant acme: evidence #2 \(id {altered.pk}\) was"):
        call_command("verify_evidence")


def test_an_altered_population_is_found_by_its_data_hash(chain: list[EvidenceRecord]) -> None:
    first = chain[0]
    rows = [{**row, "age_days": 1} for row in first.population]
    _tamper(
        "UPDATE compliance_evidencerecord SET population = %s WHERE id = %s",
        [json.dumps(rows), first.pk],
    )
    result = evidence_verify()
    [problem] = result.problems
    assert problem.seq == 1 and problem.record_id == first.pk
    assert "population no longer matches its data_sha256" in str(problem)


def test_a_removed_record_is_found(chain: list[EvidenceRecord]) -> None:
    _tamper("DELETE FROM compliance_evidencerecord WHERE id = %s", [chain[1].pk])
    with pytest.raises(CommandError, match=r"tenant acme: evidence #2 is missing"):
        call_command("verify_evidence")


def test_a_removed_last_record_is_found(chain: list[EvidenceRecord]) -> None:
    _tamper("DELETE FROM compliance_evidencerecord WHERE id = %s", [chain[-1].pk])
    with pytest.raises(CommandError, match=r"evidence #3 to #3 are missing from the end"):
        call_command("verify_evidence", "--tenant", "acme")


def test_a_rehashed_record_breaks_the_link_to_the_next(chain: list[EvidenceRecord]) -> None:
    """Recomputing the altered record's own hash does not help: the next one no longer
    links to it."""
    altered = chain[0]
    with all_tenants_context():
        record = EvidenceRecord.unscoped.get(pk=altered.pk)
    record.summary = "all good"
    record.personal_sha256 = personal_digest(record)
    _tamper(
        "UPDATE compliance_evidencerecord SET summary = %s, personal_sha256 = %s, hash = %s "
        "WHERE id = %s",
        [record.summary, record.personal_sha256, record_hash(record), altered.pk],
    )
    [problem] = evidence_verify().problems
    assert problem.seq == 2 and "does not link to evidence #1" in problem.problem


def test_a_tenant_sees_only_its_own_evidence(chain: list[EvidenceRecord], tenant_b: Tenant) -> None:
    with tenant_context(tenant_b):
        assert [r.pk for r in EvidenceRecord.objects.all()] == [chain[2].pk]
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM compliance_evidencerecord")
            assert cursor.fetchone() == (1,)


def test_an_unknown_tenant_is_named_in_the_command(chain: list[EvidenceRecord]) -> None:
    with pytest.raises(CommandError, match="--tenant: no tenant with the slug 'nope'"):
        call_command("verify_evidence", "--tenant", "nope")

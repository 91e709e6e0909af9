"""Erasing a person's data from audit entries keeps the chain verifying: the entries'
personal fields are hashed through a digest, so they can be blanked by a recorded
erasure (decision 0036); any other change, or a blanking no erasure recorded, is still
refused by the database or named by the verifier."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from compliance.privacy.models import DataSubjectRequest
from controlplane.audit.models import AuditEvent
from controlplane.audit.services import (
    ERASURE_ACTION,
    audit_erase,
    audit_record,
    audit_verify,
    entry_hash,
)
from controlplane.core.tenancy import all_tenants_context, tenant_context
from tenants.models import Tenant
from tests.conftest import SYSTEM

pytestmark = pytest.mark.django_db


def _entries(tenant: Tenant) -> tuple[AuditEvent, DataSubjectRequest]:
    with tenant_context(tenant):
        dsr = DataSubjectRequest.objects.create(
            tenant=tenant, requested_by_label="t", subject_masked="j***@example.com"
        )
    entry = audit_record(
        actor=SYSTEM,
        action="support.note",
        target=dsr,
        tenant_id=tenant.pk,
        after={"comment": "call jane@example.com"},
    )
    return entry, dsr


def _sql(statement: str, params: list[object]) -> None:
    with transaction.atomic(), all_tenants_context(), connection.cursor() as cursor:
        cursor.execute(statement, params)


def test_a_recorded_erasure_blanks_an_entry_and_the_chain_still_verifies(
    tenant_a: Tenant,
) -> None:
    entry, dsr = _entries(tenant_a)
    erasure = audit_record(
        actor=SYSTEM,
        action=ERASURE_ACTION,
        target=dsr,
        tenant_id=tenant_a.pk,
        after={"audit_seqs": [entry.seq]},
    )

    assert audit_erase(event_ids=[entry.pk], erasure=erasure, dsr_id=dsr.pk) == 1

    with all_tenants_context():
        entry.refresh_from_db()
    assert (entry.actor_label, entry.target_label, entry.ip, entry.after) == (
        "[erased]",
        "[erased]",
        None,
        None,
    )
    assert entry.hash == entry_hash(entry)  # the chain hashes the digest, which stayed
    assert audit_verify().ok


def test_an_entry_blanked_without_a_recorded_erasure_is_named(tenant_a: Tenant) -> None:
    entry, _ = _entries(tenant_a)
    _sql(
        "UPDATE audit_auditevent SET actor_label = '[erased]', target_label = '[erased]', "
        "ip = NULL, before = NULL, after = NULL, erasure = %s WHERE id = %s",
        ['{"seq": 1}', entry.pk],
    )

    result = audit_verify()
    assert not result.ok
    assert result.problem == f"entry #{entry.seq} was blanked without a recorded erasure"


@pytest.mark.parametrize(
    "change",
    [
        "action = 'x'",  # not a blanking at all
        "actor_label = '[erased]', erasure = '{}'",  # half blanked
        "actor_label = '[erased]', target_label = '[erased]', ip = NULL, before = NULL, "
        "after = NULL, erasure = '{}', hash = 'x'",  # the chain's own fields touched
    ],
)
def test_the_database_still_refuses_any_other_change(tenant_a: Tenant, change: str) -> None:
    entry, _ = _entries(tenant_a)
    with pytest.raises(DatabaseError, match="append-only"):
        _sql(f"UPDATE audit_auditevent SET {change} WHERE id = %s", [entry.pk])


def test_an_entry_written_before_digests_cannot_be_blanked(tenant_a: Tenant) -> None:
    entry, _ = _entries(tenant_a)
    _sql(
        "SET CONSTRAINTS ALL IMMEDIATE; "
        "ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_append_only; "
        "UPDATE audit_auditevent SET payload_sha256 = '' WHERE id = %s; "
        "ALTER TABLE audit_auditevent ENABLE TRIGGER audit_event_append_only",
        [entry.pk],
    )
    with pytest.raises(DatabaseError, match="append-only"):
        _sql(
            "UPDATE audit_auditevent SET actor_label = '[erased]', target_label = '[erased]', "
            "ip = NULL, before = NULL, after = NULL, erasure = '{}' WHERE id = %s",
            [entry.pk],
        )

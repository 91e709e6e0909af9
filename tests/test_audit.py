"""The audit trail is append-only and hash-chained; tampering is found."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from controlplane.audit.models import AuditEvent
from controlplane.audit.services import audit_verify
from controlplane.core.tenancy import all_tenants_context, tenant_context
from tenants.models import Tenant
from tenants.services import department_create, tenant_update
from tests.conftest import SYSTEM


@pytest.fixture
def trail(tenant_a: Tenant, tenant_b: Tenant) -> list[AuditEvent]:
    department_create(actor=SYSTEM, tenant=tenant_a, name="Sales")
    tenant_update(actor=SYSTEM, tenant=tenant_a, name="Acme Corporation", mfa_required=True)
    with all_tenants_context():
        return list(AuditEvent.unscoped.order_by("seq"))


def _tamper(sql: str, params: list[object]) -> None:
    """What an attacker with the table owner's rights could do: bypass the trigger."""
    with connection.cursor() as cursor, all_tenants_context():
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # flush Django's deferred FK checks
        cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_append_only")
        cursor.execute(sql, params)
        cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_event_append_only")


def test_changes_are_recorded_with_before_and_after(trail: list[AuditEvent]) -> None:
    assert [e.action for e in trail] == [
        "tenant.created",
        "tenant.created",
        "department.created",
        "tenant.updated",
    ]
    update = trail[-1]
    assert update.actor_label == "tests"
    assert update.before["name"] == "Acme Corp"
    assert update.after["name"] == "Acme Corporation"
    assert {f for f, _, _ in update.changed_fields} == {"name", "mfa_required"}


def test_an_intact_chain_verifies(
    trail: list[AuditEvent], capsys: pytest.CaptureFixture[str]
) -> None:
    assert audit_verify().ok
    call_command("verify_audit_log")
    assert "4 entries, chain intact" in capsys.readouterr().out


def test_the_database_refuses_updates_and_deletes(trail: list[AuditEvent]) -> None:
    with all_tenants_context():
        connection.cursor().execute("SET CONSTRAINTS ALL IMMEDIATE")
        # As in production: without the marker of a disposable test database.
        connection.cursor().execute("DROP TABLE disposable_test_database")
        for statement in (
            "UPDATE audit_auditevent SET action = 'x'",
            "DELETE FROM audit_auditevent",
            "TRUNCATE audit_auditevent",
        ):
            with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
                connection.cursor().execute(statement)


def test_an_edited_entry_is_reported(trail: list[AuditEvent]) -> None:
    edited = trail[2]
    _tamper("UPDATE audit_auditevent SET after = %s WHERE id = %s", ['{"name": "Ops"}', edited.pk])
    with pytest.raises(CommandError, match=rf"entry #{edited.seq} was altered"):
        call_command("verify_audit_log")


def test_a_deleted_entry_is_reported(trail: list[AuditEvent]) -> None:
    _tamper("DELETE FROM audit_auditevent WHERE id = %s", [trail[1].pk])
    with pytest.raises(CommandError, match=r"entry #2 is missing"):
        call_command("verify_audit_log")


def test_a_deleted_last_entry_is_reported(trail: list[AuditEvent]) -> None:
    _tamper("DELETE FROM audit_auditevent WHERE id = %s", [trail[-1].pk])
    with pytest.raises(CommandError, match=r"entries #4 to #4 are missing"):
        call_command("verify_audit_log")


def test_a_tenant_sees_only_its_own_entries(trail: list[AuditEvent], tenant_b: Tenant) -> None:
    with tenant_context(tenant_b):
        assert [e.action for e in AuditEvent.objects.all()] == ["tenant.created"]


def test_a_rolled_back_change_leaves_no_entry(tenant_a: Tenant) -> None:
    with all_tenants_context():
        before = AuditEvent.unscoped.count()
    with pytest.raises(RuntimeError), transaction.atomic():
        department_create(actor=SYSTEM, tenant=tenant_a, name="Ghost")
        raise RuntimeError("abort")
    with all_tenants_context():
        assert AuditEvent.unscoped.count() == before
    assert audit_verify().ok

"""Tenant isolation: the ORM fails closed, and PostgreSQL RLS is the second wall."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.apps import apps
from django.core.checks import run_checks
from django.db import DatabaseError, connection, transaction

from billing.pricing import PriceBook
from controlplane.audit.models import AuditEvent
from controlplane.core.tenancy import (
    NoTenantActive,
    TenantOwnedModel,
    TenantScopedManager,
    all_tenants_context,
    tenant_context,
    tenant_through_tables,
    unprotected_relations,
)
from controlplane.telemetry.ledger import ledger_insert
from controlplane.telemetry.models import UsageEvent
from controlplane.telemetry.partitions import ensure_partitions
from controlplane.telemetry.records import build_batch
from tenants.models import Department, Membership, Tenant
from tenants.services import department_create
from tests.conftest import SYSTEM
from tests.telemetry.records import spool_line


@pytest.fixture
def departments(tenant_a: Tenant, tenant_b: Tenant) -> tuple[Department, Department]:
    return (
        department_create(actor=SYSTEM, tenant=tenant_a, name="Marketing"),
        department_create(actor=SYSTEM, tenant=tenant_b, name="Finance"),
    )


def _raw_department_names(where: str = "", params: list[object] | None = None) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT name FROM tenants_department {where}", params or [])
        return sorted(row[0] for row in cursor.fetchall())


def test_scoped_manager_refuses_to_run_without_a_tenant(departments: object) -> None:
    with pytest.raises(NoTenantActive):
        list(Department.objects.all())


def test_scoped_manager_returns_only_the_active_tenants_rows(
    departments: tuple[Department, Department], tenant_a: Tenant
) -> None:
    with tenant_context(tenant_a):
        assert [d.name for d in Department.objects.all()] == ["Marketing"]
        assert not Department.objects.filter(pk=departments[1].pk).exists()


def test_raw_sql_as_tenant_a_cannot_read_tenant_b_rows(
    departments: tuple[Department, Department], tenant_a: Tenant, tenant_b: Tenant
) -> None:
    with tenant_context(tenant_a):
        assert _raw_department_names("WHERE tenant_id = %s", [tenant_b.pk]) == []
        assert _raw_department_names() == ["Marketing"]


def test_raw_sql_with_no_tenant_set_reads_nothing(departments: object) -> None:
    assert _raw_department_names() == []
    # Even the unscoped manager: the database itself hides the rows.
    assert Department.unscoped.count() == 0


def test_all_tenants_scope_is_explicit(departments: object) -> None:
    with all_tenants_context():
        assert _raw_department_names() == ["Finance", "Marketing"]
    assert _raw_department_names() == []


@pytest.mark.django_db(transaction=True)
def test_an_outermost_scope_ends_with_its_transaction(
    departments: object, tenant_a: Tenant
) -> None:
    assert not connection.in_atomic_block  # no test transaction around the scopes
    with all_tenants_context():
        assert _raw_department_names() == ["Finance", "Marketing"]
    with tenant_context(tenant_a):
        assert _raw_department_names() == ["Marketing"]
    # The commit ended the settings: the next statement, a transaction of its own,
    # reads as no tenant.
    assert _raw_department_names() == []
    assert Department.unscoped.count() == 0


def test_nested_scopes_restore_the_outer_tenant(
    departments: object, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    with tenant_context(tenant_a):
        with tenant_context(tenant_b):
            assert _raw_department_names() == ["Finance"]
        assert _raw_department_names() == ["Marketing"]


def test_writing_a_row_for_another_tenant_is_refused_by_the_database(
    tenant_a: Tenant, tenant_b: Tenant
) -> None:
    with (
        tenant_context(tenant_a),
        pytest.raises(DatabaseError, match="row-level security"),
        transaction.atomic(),
    ):
        Department.unscoped.create(tenant=tenant_b, name="Smuggled")


@pytest.mark.django_db
def test_every_relation_holding_a_tenants_rows_has_forced_row_level_security() -> None:
    ensure_partitions([dt.date(2026, 12, 1), dt.date(2027, 1, 1)])
    # Every model behind the scoped manager is among the tables the check enumerates.
    models = [m for m in apps.get_models() if isinstance(m.objects, TenantScopedManager)]
    assert {TenantOwnedModel, AuditEvent, UsageEvent} & set(models) == {AuditEvent, UsageEvent}
    enumerated = _relations_with_a_tenant_column()
    assert {m._meta.db_table for m in models} <= enumerated
    assert {"telemetry_usageevent_y2026m12", "telemetry_usageevent_y2027m01"} <= enumerated
    assert "tenants_membership_departments" in tenant_through_tables()

    assert unprotected_relations() == []


def _relations_with_a_tenant_column() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT attrelid::regclass::text FROM pg_attribute WHERE attname = 'tenant_id' "
            "AND attrelid IN (SELECT oid FROM pg_class WHERE relkind IN ('r', 'p') "
            "AND relnamespace = current_schema()::regnamespace)"
        )
        return {row[0] for row in cursor.fetchall()}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "breach",
    [
        'DROP POLICY tenant_isolation ON "{table}"',
        'ALTER TABLE "{table}" NO FORCE ROW LEVEL SECURITY',
        'ALTER TABLE "{table}" DISABLE ROW LEVEL SECURITY',
    ],
)
@pytest.mark.parametrize(
    "table", ["telemetry_usageevent_y2026m12", "tenants_membership_departments"]
)
def test_the_check_names_a_partition_or_link_table_that_lost_its_wall(
    table: str, breach: str
) -> None:
    ensure_partitions([dt.date(2026, 12, 1)])
    assert unprotected_relations() == []
    with connection.cursor() as cursor:  # undone with the test's transaction
        cursor.execute(breach.format(table=table))
    assert unprotected_relations() == [table]


def test_a_partition_read_by_its_own_name_shows_only_the_active_tenants_rows(
    tenant_a: Tenant, tenant_b: Tenant
) -> None:
    when = dt.datetime(2026, 12, 3, 9, tzinfo=dt.UTC)
    for tenant in (tenant_a, tenant_b):
        batch = build_batch(
            [spool_line(tenant, when=when, trace=1, span=1)],
            prices=PriceBook([]),
            retention_days={},
        )
        with tenant_context(tenant):
            ledger_insert(batch.ledger)

    def count() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM telemetry_usageevent_y2026m12")
            return int(cursor.fetchone()[0])

    assert count() == 0  # no tenant set: the database shows nothing
    with tenant_context(tenant_a):
        assert count() == 1
    with all_tenants_context():
        assert count() == 2


def test_membership_departments_are_visible_only_to_their_tenant(
    tenant_a: Tenant, tenant_b: Tenant, make_customer: Any, departments: Any
) -> None:
    user = make_customer(tenant_a)
    with tenant_context(tenant_a):
        membership = Membership.objects.get(user=user)
        membership.departments.add(departments[0])

    def links() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM tenants_membership_departments")
            return int(cursor.fetchone()[0])

    assert links() == 0
    with tenant_context(tenant_b):
        assert links() == 0
    with tenant_context(tenant_a):
        assert links() == 1
    # Linking tenant A's membership to tenant B's department is refused by the database.
    with (
        all_tenants_context(),
        pytest.raises(DatabaseError, match="row-level security"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("SET LOCAL controlplane.all_tenants = 'off'")
        cursor.execute(f"SET LOCAL controlplane.tenant_id = '{tenant_a.pk}'")
        cursor.execute(
            "INSERT INTO tenants_membership_departments (membership_id, department_id) "
            "VALUES (%s, %s)",
            [membership.pk, departments[1].pk],
        )


@pytest.mark.django_db
def test_the_app_role_is_subject_to_row_level_security() -> None:
    errors = run_checks(databases=["default"])
    assert [e.id for e in errors if e.id == "controlplane.E001"] == []
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
        assert cursor.fetchone() == (False, False)

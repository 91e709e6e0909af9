"""Tenant isolation: the ORM fails closed, and PostgreSQL RLS is the second wall."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.core.checks import run_checks
from django.db import DatabaseError, connection, transaction

from controlplane.audit.models import AuditEvent
from controlplane.core.tenancy import (
    NoTenantActive,
    TenantOwnedModel,
    TenantScopedManager,
    all_tenants_context,
    tenant_context,
)
from controlplane.telemetry.models import UsageEvent
from tenants.models import Department, Tenant
from tenants.services import department_create
from tests.conftest import SYSTEM


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
def test_every_tenant_owned_table_has_forced_row_level_security() -> None:
    models = [m for m in apps.get_models() if isinstance(m.objects, TenantScopedManager)]
    assert {TenantOwnedModel, AuditEvent, UsageEvent} & set(models) == {AuditEvent, UsageEvent}
    assert len(models) >= 10
    tables = [m._meta.db_table for m in models]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class "
            "WHERE relname = ANY(%s)",
            [tables],
        )
        flags = {name: (enabled, forced) for name, enabled, forced in cursor.fetchall()}
    assert flags == {table: (True, True) for table in tables}


@pytest.mark.django_db
def test_the_app_role_is_subject_to_row_level_security() -> None:
    errors = run_checks(databases=["default"])
    assert [e.id for e in errors if e.id == "controlplane.E001"] == []
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
        assert cursor.fetchone() == (False, False)

"""Tenant isolation, twice: in the ORM and in PostgreSQL.

1. ``TenantOwnedModel.objects`` filters every query by the tenant activated with
   ``tenant_context``. With no tenant active it raises ``NoTenantActive``: it fails
   closed. The only way around it is ``Model.unscoped`` (grep for ``.unscoped``),
   used by staff-wide views under ``all_tenants_context``.
2. Every tenant-owned table has FORCEd row-level security. The policy reads two
   transaction-local settings, written by the same context managers:
   ``controlplane.tenant_id`` and ``controlplane.all_tenants``. The app role is not a
   superuser and has no BYPASSRLS, so a forgotten filter, a raw query or a bug in (1)
   still returns no row of another tenant.

The database settings are set with ``set_config(..., is_local => true)``: they last
until the end of the current transaction, so the context managers open one.
"""

from __future__ import annotations

import contextvars
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from django.db import connection, models, transaction
from django.db.migrations.operations.base import Operation

if TYPE_CHECKING:
    from tenants.models import Tenant


class NoTenantActive(RuntimeError):
    """A tenant-scoped query ran with no tenant active."""


@dataclass(frozen=True)
class _Scope:
    tenant_id: uuid.UUID | None
    all_tenants: bool


_scope: contextvars.ContextVar[_Scope | None] = contextvars.ContextVar("tenant_scope", default=None)

GUC_TENANT = "controlplane.tenant_id"
GUC_ALL = "controlplane.all_tenants"


def current_tenant_id() -> uuid.UUID | None:
    scope = _scope.get()
    return scope.tenant_id if scope else None


def all_tenants_active() -> bool:
    scope = _scope.get()
    return bool(scope and scope.all_tenants)


def _apply_to_database(scope: _Scope | None) -> None:
    tenant = str(scope.tenant_id) if scope and scope.tenant_id else ""
    all_flag = "on" if scope and scope.all_tenants else "off"
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config(%s, %s, true), set_config(%s, %s, true)",
            [GUC_TENANT, tenant, GUC_ALL, all_flag],
        )


@contextmanager
def _activate(scope: _Scope) -> Iterator[None]:
    previous = _scope.get()
    token = _scope.set(scope)
    try:
        with transaction.atomic():
            _apply_to_database(scope)
            yield
            # A released savepoint keeps SET LOCAL values until the outer commit, so
            # hand the outer block its own scope back. On an exception the savepoint
            # rollback undoes the settings by itself.
            _apply_to_database(previous)
    finally:
        _scope.reset(token)


def tenant_context(tenant: Tenant | uuid.UUID) -> AbstractContextManager[None]:
    """Run the block as ``tenant``: ORM filters and RLS both see only its rows."""
    tenant_id = tenant if isinstance(tenant, uuid.UUID) else tenant.pk
    return _activate(_Scope(tenant_id=tenant_id, all_tenants=False))


def all_tenants_context() -> AbstractContextManager[None]:
    """Run the block across every tenant. For MSP staff views and system jobs only."""
    return _activate(_Scope(tenant_id=None, all_tenants=True))


_M = TypeVar("_M", bound=models.Model)


class TenantScopedManager(models.Manager[_M]):
    """Default manager of tenant-owned models: filters by the active tenant."""

    def get_queryset(self) -> models.QuerySet[_M]:
        scope = _scope.get()
        queryset = super().get_queryset()
        if scope is None:
            raise NoTenantActive(
                f"{self.model.__name__}.objects used with no tenant active; wrap the code in "
                "tenant_context(...) or, for staff-wide reads, use .unscoped under "
                "all_tenants_context()"
            )
        if scope.all_tenants:
            return queryset
        return queryset.filter(tenant_id=scope.tenant_id)


class TenantOwnedModel(models.Model):
    """Base of every row that belongs to one tenant."""

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")

    objects: TenantScopedManager[Any] = TenantScopedManager()
    unscoped: models.Manager[Any] = models.Manager()

    class Meta:
        abstract = True
        base_manager_name = "unscoped"


def rls_policy_sql(table: str, column: str = "tenant_id") -> str:
    """The SQL that turns on forced RLS for a table keyed by ``column``."""
    condition = (
        f"current_setting('{GUC_ALL}', true) = 'on' OR "
        f"{column} = NULLIF(current_setting('{GUC_TENANT}', true), '')::uuid"
    )
    return _forced_policy_sql(table, condition)


def _forced_policy_sql(table: str, condition: str) -> str:
    return (
        f'ALTER TABLE "{table}" ENABLE ROW LEVEL SECURITY;'
        f'ALTER TABLE "{table}" FORCE ROW LEVEL SECURITY;'
        f'DROP POLICY IF EXISTS tenant_isolation ON "{table}";'
        f'CREATE POLICY tenant_isolation ON "{table}" USING ({condition}) WITH CHECK ({condition});'
    )


def rls_through_policy_sql(table: str, owners: dict[str, str]) -> str:
    """Forced RLS for a many-to-many table, which has no tenant column: a row is visible
    (and may be written) only when the rows it links are, in ``owners`` (column →
    tenant-owned table, itself under RLS)."""
    condition = " AND ".join(
        f'EXISTS (SELECT 1 FROM "{owner}" WHERE "{owner}".id = "{table}"."{column}")'  # noqa: S608 (table names from the models)
        for column, owner in owners.items()
    )
    return _forced_policy_sql(table, condition)


class EnableRowLevelSecurity(Operation):
    """Migration operation: forced RLS with the tenant policy on one model's table."""

    reversible = True
    reduces_to_sql = True

    def __init__(self, model_name: str, column: str = "tenant_id") -> None:
        self.model_name = model_name
        self.column = column

    def state_forwards(self, app_label: str, state: Any) -> None:
        pass

    def _table(self, app_label: str, state: Any) -> str:
        model = state.apps.get_model(app_label, self.model_name)
        return str(model._meta.db_table)

    def database_forwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        schema_editor.execute(rls_policy_sql(self._table(app_label, to_state), self.column))

    def database_backwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        table = self._table(app_label, from_state)
        schema_editor.execute(
            f'DROP POLICY IF EXISTS tenant_isolation ON "{table}";'
            f'ALTER TABLE "{table}" NO FORCE ROW LEVEL SECURITY;'
            f'ALTER TABLE "{table}" DISABLE ROW LEVEL SECURITY;'
        )

    def describe(self) -> str:
        return f"Enable forced row-level security on {self.model_name}"

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        return (self.__class__.__qualname__, [self.model_name], {"column": self.column})


def tenant_through_tables() -> dict[str, dict[str, str]]:
    """The many-to-many tables Django made for tenant-owned models: table → (column →
    linked table). Their rows belong to the tenant of the rows they link."""
    from django.apps import apps

    tables: dict[str, dict[str, str]] = {}
    for model in apps.get_models():
        for field in model._meta.local_many_to_many:
            through: Any = field.remote_field.through
            if not through._meta.auto_created:
                continue
            links = {
                link.column: link.related_model._meta.db_table
                for link in through._meta.fields
                if link.is_relation
            }
            ends: list[Any] = [model, field.related_model]
            if any(isinstance(end, type) and issubclass(end, TenantOwnedModel) for end in ends):
                tables[through._meta.db_table] = links
    return tables


# Tables with a ``tenant_id`` column whose rows are not a tenant's, each with the reason.
NOT_TENANT_OWNED = {
    # A person's credential: found by its prefix before any tenant is known, and its
    # ``tenant`` narrows what it may reach rather than owning it.
    "api_apitoken",
}


def unprotected_relations() -> list[str]:
    """Tables (partitions included) holding a tenant's rows — those with a ``tenant_id``
    column and the many-to-many tables of tenant-owned models — that lack forced
    row-level security or a policy. Empty when the second wall has no hole."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.relname FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')
              AND NOT c.relname = ANY(%s)
              AND (c.relname = ANY(%s) OR EXISTS (
                  SELECT 1 FROM pg_attribute a
                  WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped))
              AND NOT (c.relrowsecurity AND c.relforcerowsecurity
                       AND EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid))
            ORDER BY c.relname
            """,
            [sorted(NOT_TENANT_OWNED), list(tenant_through_tables())],
        )
        return [row[0] for row in cursor.fetchall()]

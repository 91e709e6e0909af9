"""Rows shared by the whole MSP *or* owned by one tenant (tenant NULL = MSP-wide).

Providers and routes can be the MSP's defaults, offered to every tenant, or a tenant's
own (its own Azure OpenAI resource, its own routing). Row-level security therefore has
one policy per command instead of core.tenancy's single one:

- SELECT: the active tenant's rows *and* the MSP-wide rows (or everything under
  ``all_tenants_context``); with no scope at all, nothing (fails closed);
- INSERT, UPDATE, DELETE: the active tenant's rows only; MSP-wide rows are written only
  under ``all_tenants_context``. UPDATE checks both the old and the new row, so a tenant
  cannot take over an MSP row by setting its ``tenant_id``.

The ORM side mirrors it: ``SharedOrTenantManager`` filters by ``tenant IS NULL OR
tenant = active`` and, like ``TenantScopedManager``, fails closed with no scope.
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.db import models
from django.db.migrations.operations.base import Operation

from controlplane.core.tenancy import (
    GUC_ALL,
    GUC_TENANT,
    NoTenantActive,
    all_tenants_active,
    current_tenant_id,
)

_M = TypeVar("_M", bound=models.Model)

_ALL = f"current_setting('{GUC_ALL}', true) = 'on'"
_ACTIVE = f"NULLIF(current_setting('{GUC_TENANT}', true), '')::uuid"
_OWN = f"tenant_id = {_ACTIVE}"
_POLICIES = ("shared_read", "tenant_insert", "tenant_update", "tenant_delete")


class SharedOrTenantManager(models.Manager[_M]):
    def get_queryset(self) -> models.QuerySet[_M]:
        queryset = super().get_queryset()
        if all_tenants_active():
            return queryset
        tenant_id = current_tenant_id()
        if tenant_id is None:
            raise NoTenantActive(
                f"{self.model.__name__}.objects used with no tenant active; wrap the code in "
                "tenant_context(...) or all_tenants_context()"
            )
        return queryset.filter(models.Q(tenant_id=tenant_id) | models.Q(tenant__isnull=True))


class SharedOrTenantModel(models.Model):
    """Base of rows that are MSP-wide (``tenant`` NULL) or one tenant's."""

    tenant = models.ForeignKey(
        "tenants.Tenant",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty: an MSP-wide row, offered to every tenant.",
    )

    objects: SharedOrTenantManager[Any] = SharedOrTenantManager()
    unscoped: models.Manager[Any] = models.Manager()

    class Meta:
        abstract = True
        base_manager_name = "unscoped"


def shared_rls_sql(table: str) -> str:
    read = f"{_ALL} OR ({_ACTIVE} IS NOT NULL AND (tenant_id IS NULL OR {_OWN}))"
    write = f"{_ALL} OR {_OWN}"
    drops = "".join(f'DROP POLICY IF EXISTS {name} ON "{table}";' for name in _POLICIES)
    return (
        f'ALTER TABLE "{table}" ENABLE ROW LEVEL SECURITY;'
        f'ALTER TABLE "{table}" FORCE ROW LEVEL SECURITY;'
        f"{drops}"
        f'CREATE POLICY shared_read ON "{table}" FOR SELECT USING ({read});'
        f'CREATE POLICY tenant_insert ON "{table}" FOR INSERT WITH CHECK ({write});'
        f'CREATE POLICY tenant_update ON "{table}" FOR UPDATE USING ({write}) '
        f"WITH CHECK ({write});"
        f'CREATE POLICY tenant_delete ON "{table}" FOR DELETE USING ({write});'
    )


class EnableSharedRowLevelSecurity(Operation):
    """Migration operation: forced RLS with the shared-or-tenant policies."""

    reversible = True
    reduces_to_sql = True

    def __init__(self, model_name: str) -> None:
        self.model_name = model_name

    def state_forwards(self, app_label: str, state: Any) -> None:
        pass

    def _table(self, app_label: str, state: Any) -> str:
        return str(state.apps.get_model(app_label, self.model_name)._meta.db_table)

    def database_forwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        schema_editor.execute(shared_rls_sql(self._table(app_label, to_state)))

    def database_backwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        table = self._table(app_label, from_state)
        drops = "".join(f'DROP POLICY IF EXISTS {name} ON "{table}";' for name in _POLICIES)
        schema_editor.execute(
            f'{drops}ALTER TABLE "{table}" NO FORCE ROW LEVEL SECURITY;'
            f'ALTER TABLE "{table}" DISABLE ROW LEVEL SECURITY;'
        )

    def describe(self) -> str:
        return f"Enable forced shared-or-tenant row-level security on {self.model_name}"

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        return (self.__class__.__qualname__, [self.model_name], {})

"""Shared-or-tenant rows: MSP-wide providers and routes are readable by every tenant,
writable only across tenants; MSP credentials are invisible to tenant scopes."""

from __future__ import annotations

import uuid

import pytest
from django.db import DatabaseError, connection, transaction

from controlplane.core.tenancy import NoTenantActive, all_tenants_context, tenant_context
from controlplane.gateway.models import Provider, ProviderCredential, Route
from controlplane.gateway.services import provider_create
from tests.conftest import SYSTEM
from tests.gateway.conftest import World

pytestmark = pytest.mark.django_db


def _raw(sql: str, params: list[object] | None = None) -> list[tuple[object, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return list(cursor.fetchall()) if cursor.description else [(cursor.rowcount,)]


@pytest.fixture
def theirs(world: World) -> Provider:
    return provider_create(
        actor=SYSTEM,
        tenant=world.other,
        name="globex-own",
        kind="openai",
        base_url="https://globex.example/v1",
    )


def test_a_tenant_sees_the_msp_providers_and_its_own_only(world: World, theirs: Provider) -> None:
    with tenant_context(world.tenant):
        assert {p.name for p in Provider.objects.all()} == {"msp-openai", "acme-azure"}
        names = {row[0] for row in _raw("SELECT name FROM gateway_provider")}
        assert names == {"msp-openai", "acme-azure"}
        assert Route.objects.count() == 1
    with tenant_context(world.other):
        assert {p.name for p in Provider.objects.all()} == {"msp-openai", "globex-own"}
    with all_tenants_context():
        assert Provider.objects.count() == 3
    with pytest.raises(NoTenantActive):
        list(Provider.objects.all())
    assert _raw("SELECT count(*) FROM gateway_provider") == [(0,)]


def test_a_tenant_cannot_write_msp_rows_even_with_raw_sql(world: World) -> None:
    msp = str(world.msp_provider.pk)
    with tenant_context(world.tenant):
        assert _raw(
            "UPDATE gateway_provider SET base_url = 'http://evil' WHERE id = %s", [msp]
        ) == [(0,)]
        # Taking the row over by giving it our tenant id is not possible either.
        assert _raw(
            "UPDATE gateway_provider SET tenant_id = %s WHERE id = %s", [world.tenant.pk, msp]
        ) == [(0,)]
        assert _raw("DELETE FROM gateway_provider WHERE id = %s", [msp]) == [(0,)]
        with pytest.raises(DatabaseError, match="row-level security"), transaction.atomic():
            _raw(
                "INSERT INTO gateway_provider (id, tenant_id, name, kind, base_url, model_names, "
                "enabled, health, created_at, updated_at) VALUES (%s, NULL, 'msp-fake', 'openai', "
                "'http://evil', '{}', true, 'unknown', now(), now())",
                [uuid.uuid4()],
            )
    with all_tenants_context():
        assert Provider.objects.get(pk=msp).base_url == "https://api.openai.example/v1"


def test_msp_credentials_are_read_only_across_tenants(world: World) -> None:
    with tenant_context(world.tenant):
        visible = {c.provider_id for c in ProviderCredential.objects.all()}
        assert visible == {world.own_provider.pk}
        assert _raw("SELECT count(*) FROM gateway_providercredential") == [(1,)]
    with tenant_context(world.other):
        assert _raw("SELECT count(*) FROM gateway_providercredential") == [(0,)]
    with all_tenants_context():
        assert ProviderCredential.objects.count() == 2

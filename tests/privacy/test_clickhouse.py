"""ClickHouse's wall holds for removals too: every mutation names its tenant, leaves
every other tenant's rows as they were, and every table with a tenant's telemetry is
one that retention and erasure know."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from compliance.privacy import clickhouse
from controlplane.analytics import get_store
from controlplane.analytics.scoped import UnscopedQuery, tenant_mutation
from edge.identifiers import parse_identifier
from tenants.models import Tenant
from tests.privacy.conftest import clickhouse_rows, day, direct, settle

pytestmark = pytest.mark.django_db

JANE = parse_identifier("email", "jane@example.com")


def test_every_table_with_a_tenants_rows_is_known_to_retention() -> None:
    rows = get_store().query(
        "SELECT table FROM system.columns WHERE database = currentDatabase() "
        "AND name = 'tenant_id' AND table NOT IN (SELECT name FROM system.tables "
        "WHERE database = currentDatabase() AND engine = 'MaterializedView')"
    )
    assert {row["table"] for row in rows} == {table.name for table in clickhouse.TABLES}


@pytest.mark.parametrize(
    "sql",
    [
        "ALTER TABLE spans DELETE WHERE 1",
        "ALTER TABLE spans DELETE WHERE start_time < now() AND tenant_id = {tenant_id:UUID}",
        "ALTER TABLE spans DELETE WHERE tenant_id = {tenant_id:UUID} OR 1",
        "ALTER TABLE spans DELETE WHERE tenant_id = {tenant_id:UUID} AND (1) OR (1)",
        "ALTER TABLE spans UPDATE name = 'x' WHERE tenant_id = {other:UUID}",
        "ALTER TABLE spans DELETE WHERE tenant_id = {tenant_id:UUID} "
        "AND (trace_id IN (SELECT trace_id FROM spans))",
        "DROP TABLE spans",
    ],
)
def test_a_mutation_that_could_reach_another_tenant_is_refused(sql: str) -> None:
    with pytest.raises(UnscopedQuery):
        tenant_mutation(sql, tenant_id=uuid.uuid4())


def test_a_mutation_may_not_bind_another_tenant() -> None:
    with pytest.raises(UnscopedQuery, match="another tenant"):
        tenant_mutation(
            "ALTER TABLE spans DELETE WHERE tenant_id = {tenant_id:UUID}",
            tenant_id=uuid.uuid4(),
            params={"tenant_id": uuid.uuid4()},
        )


def test_each_removal_touches_only_its_own_tenant(tenant_a: Tenant, tenant_b: Tenant) -> None:
    when = day("2004-05-06")
    for tenant in (tenant_a, tenant_b):
        direct(
            tenant,
            [when, when + dt.timedelta(minutes=1)],
            request_body="order for jane@example.com",
            tool="mail jane@example.com",
        )
    settle()
    b_before = clickhouse_rows(tenant_b)
    assert b_before["spans"] == 2 and b_before["spans_minute"] >= 1
    a, after = tenant_a.pk, when + dt.timedelta(days=1)

    traces = clickhouse.matching_traces(a, [JANE], [])
    clickhouse.erase_traces(a, traces, [JANE])
    clickhouse.delete_matching("spans_minute", a, [JANE], [])
    clickhouse.clear_bodies_before(a, after, [])
    for table in clickhouse.TABLES:
        clickhouse.delete_before(table.name, a, after, [])

    assert clickhouse_rows(tenant_a) == dict.fromkeys(b_before, 0)
    assert clickhouse_rows(tenant_b) == b_before
    assert clickhouse.matching_rows("spans", tenant_b.pk, [JANE]) == 2

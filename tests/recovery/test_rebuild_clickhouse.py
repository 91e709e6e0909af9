"""``manage.py rebuild_clickhouse``: ClickHouse put back from the ledger for a period,
for one tenant or all, idempotently."""

from __future__ import annotations

import datetime as dt
import uuid
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from billing.pricing import PriceBook
from controlplane.analytics import get_store
from controlplane.core.tenancy import tenant_context
from controlplane.telemetry.ledger import ledger_insert
from controlplane.telemetry.models import ReconciliationRun
from controlplane.telemetry.records import build_batch
from controlplane.telemetry.spans import hourly_totals, spans_insert
from tenants.models import Tenant
from tests.telemetry.records import spool_line

pytestmark = pytest.mark.django_db

HOUR = dt.datetime(2026, 11, 2, 10, tzinfo=dt.UTC)
PERIOD = ("--from", "2026-11-02", "--to", "2026-11-03")


def store(tenant: Tenant, count: int, *, first: int, clickhouse: bool) -> None:
    lines = [
        spool_line(tenant, when=HOUR + dt.timedelta(minutes=i % 60), trace=first + i, span=1)
        for i in range(count)
    ]
    batch = build_batch(lines, prices=PriceBook.load(), retention_days={})
    with tenant_context(tenant):
        ledger_insert(batch.ledger)
    if clickhouse:
        spans_insert(batch.spans, dedup_token=f"test:{uuid.uuid4()}")


def events(tenant: Tenant) -> int:
    return hourly_totals(tenant.pk, HOUR, HOUR + dt.timedelta(hours=1)).get(HOUR, (0, 0, 0))[0]


def rollup(tenant: Tenant) -> int:
    [row] = get_store().query(
        "SELECT sum(requests) AS n FROM spans_minute WHERE tenant_id = {t:UUID}", {"t": tenant.pk}
    )
    return int(row["n"] or 0)


def rebuild(*args: str) -> str:
    out = StringIO()
    call_command("rebuild_clickhouse", *PERIOD, *args, stdout=out)
    return out.getvalue()


def test_one_tenant_is_rebuilt_and_a_second_run_adds_nothing(
    tenant_a: Tenant, tenant_b: Tenant
) -> None:
    store(tenant_a, 10, first=0, clickhouse=True)
    store(tenant_a, 6, first=100, clickhouse=False)  # inserts ClickHouse lost
    store(tenant_b, 4, first=0, clickhouse=False)

    assert "6 events re-inserted" in rebuild("--tenant", "acme")
    assert (events(tenant_a), rollup(tenant_a)) == (16, 16)
    assert events(tenant_b) == 0  # not asked for
    with tenant_context(tenant_a):
        [run] = ReconciliationRun.objects.all()
    assert (run.outcome, run.repaired_events) == ("repaired", 6)

    assert "0 events re-inserted" in rebuild("--tenant", "acme")
    assert (events(tenant_a), rollup(tenant_a)) == (16, 16)

    assert "4 events re-inserted" in rebuild()  # every tenant
    assert (events(tenant_b), rollup(tenant_b)) == (4, 4)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--from", "yesterday"), "--from: 'yesterday' is not an ISO date"),
        (("--from", "2026-11-03", "--to", "2026-11-02"), "--from .* must be before --to"),
        (("--from", "2026-11-02", "--to", "11/03"), "--to: '11/03' is not an ISO date"),
        (("--from", "2026-11-02", "--tenant", "nobody"), "--tenant: no tenant with slug"),
    ],
)
def test_bad_options_name_the_option(args: tuple[str, ...], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        call_command("rebuild_clickhouse", *args, stdout=StringIO())

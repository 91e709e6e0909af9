"""Rating prices each event at the list price in force when it happened, even when the
price changes in the middle of a day."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from billing.models import ModelPrice
from billing.rating import ledger_totals
from tenants.models import Tenant
from tests.billing.conftest import record_usage

NOV_10 = dt.datetime(2026, 11, 10, tzinfo=dt.UTC)


@pytest.mark.django_db
def test_a_price_change_mid_day_prices_each_event_at_its_own_price(
    tenant_a: Tenant, prices: None
) -> None:
    ModelPrice.objects.create(
        provider="openai",
        model="gpt-4o-mini",
        input_per_million=Decimal("0.30"),
        output_per_million=Decimal("1.20"),
        effective_from=NOV_10.replace(hour=12),
    )
    record_usage(tenant_a, NOV_10.replace(hour=6), input_tokens=1_000_000, output_tokens=0)
    record_usage(tenant_a, NOV_10.replace(hour=18), input_tokens=1_000_000, output_tokens=0)
    record_usage(tenant_a, NOV_10.replace(hour=9), model="unlisted-model", input_tokens=1_000_000)

    totals = ledger_totals(tenant_id=tenant_a.pk, since=NOV_10, until=NOV_10 + dt.timedelta(days=1))

    by_model = {}
    for (_day, _dept, _agent, _provider, model, token_class), (tokens, cost) in totals.items():
        if token_class == "input":
            by_model[model] = (tokens, cost)
    # 1M at the old 0.15 and 1M at the new 0.30; an unlisted model costs nothing (and
    # the reconciliation against the provider's bill flags it).
    assert by_model["gpt-4o-mini"] == (2_000_000, Decimal("0.45"))
    assert by_model["unlisted-model"] == (1_000_000, Decimal(0))

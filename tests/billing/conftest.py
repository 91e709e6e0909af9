"""Billing fixtures: an issuer, billed tenants, prices, and usage written to the ledger
the way the pull worker writes it (spool records → build_batch → ledger_insert)."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.test import override_settings

from billing.models import Issuer, ModelPrice, Plan
from billing.pricing import PriceBook
from billing.services import billing_account_set, issuer_create, plan_create
from controlplane.core.tenancy import tenant_context
from controlplane.telemetry.ledger import ledger_insert
from controlplane.telemetry.records import build_batch
from tenants.models import Tenant
from tests.billing.fake_stripe import FakeStripe, running_fake_stripe
from tests.conftest import SYSTEM
from tests.telemetry.records import spool_line

OCTOBER = dt.date(2026, 10, 1)
NOVEMBER = dt.date(2026, 11, 1)
AGENT = uuid.UUID(int=7)
_traces = itertools.count(1)


@pytest.fixture
def issuer(db: None) -> Issuer:
    return issuer_create(
        actor=SYSTEM,
        name="Northwind MSP Ltd",
        address="1 Harbour Street\nBristol BS1 4RN\nUnited Kingdom",
        tax_id="GB123456789",
        invoice_prefix="NW-",
        credit_note_prefix="NW-CN-",
        review_threshold=Decimal("5000"),
    )


@pytest.fixture
def prices(db: None) -> None:
    ModelPrice.objects.create(
        provider="openai",
        model="gpt-4o-mini",
        input_per_million=Decimal("0.15"),
        output_per_million=Decimal("0.60"),
        cached_input_per_million=Decimal("0.075"),
        effective_from=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    )
    ModelPrice.objects.create(
        provider="anthropic",
        model="claude-sonnet",
        input_per_million=Decimal("3"),
        output_per_million=Decimal("15"),
        cached_input_per_million=Decimal("0.30"),
        cache_write_per_million=Decimal("3.75"),
        effective_from=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    )


def bill(tenant: Tenant, issuer: Issuer, *, tax_rate: str = "20", **plan: Any) -> Plan:
    billing_account_set(
        actor=SYSTEM,
        tenant_id=tenant.pk,
        issuer=issuer,
        legal_name=f"{tenant.name} Ltd",
        address="9 Market Square\nLeeds",
        tax_id="GB987654321",
        currency="USD",
        tax_rate=Decimal(tax_rate),
        email="ap@example.com",
    )
    fields: dict[str, Any] = {
        "name": "Managed",
        "effective_from": OCTOBER,
        "platform_fee": Decimal("500"),
        "markup_percent": Decimal("20"),
    }
    fields.update(plan)
    return plan_create(actor=SYSTEM, tenant_id=tenant.pk, **fields)


@pytest.fixture
def billed(tenant_a: Tenant, issuer: Issuer, prices: None) -> Tenant:
    bill(tenant_a, issuer)
    return tenant_a


def record_usage(
    tenant: Tenant,
    when: dt.datetime,
    *,
    model: str = "gpt-4o-mini",
    provider: str = "openai",
    input_tokens: int = 1_000_000,
    output_tokens: int = 100_000,
    department: uuid.UUID | None = None,
    **classes: int,
) -> None:
    line = spool_line(
        tenant,
        when=when,
        trace=next(_traces),
        span=1,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        provider=provider,
        model=model,
        department_id=str(department) if department else None,
        **classes,
    )
    batch = build_batch([line], prices=PriceBook.load(), retention_days={})
    with tenant_context(tenant):
        ledger_insert(batch.ledger)


@pytest.fixture
def usage() -> Callable[..., None]:
    return record_usage


@pytest.fixture
def fake_stripe() -> Iterator[FakeStripe]:
    with (
        running_fake_stripe() as fake,
        override_settings(
            STRIPE_API_KEY="sk_test_fake",
            STRIPE_API_BASE=fake.url,
            STRIPE_WEBHOOK_SECRET="whsec_test",
        ),
    ):
        yield fake

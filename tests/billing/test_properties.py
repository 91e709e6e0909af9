"""Properties of invoices over random usage, plans, proration and token classes."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing.closing import credit_tax
from billing.drafts import draft_refresh
from billing.models import Issuer
from billing.rating import usage_rate
from billing.services import plan_create
from controlplane.core.tenancy import tenant_context
from tenants.models import Tenant
from tests.billing.conftest import NOVEMBER, bill, record_usage
from tests.conftest import SYSTEM

CENT = Decimal("0.01")
# The prices of tests/billing/conftest.py, per million tokens of each class.
RATES = {
    ("openai", "gpt-4o-mini"): {
        "input": Decimal("0.15"),
        "cached_input": Decimal("0.075"),
        "cache_write": Decimal("0.15"),
        "output": Decimal("0.60"),
        "reasoning": Decimal("0.60"),
    },
    ("anthropic", "claude-sonnet"): {
        "input": Decimal("3"),
        "cached_input": Decimal("0.30"),
        "cache_write": Decimal("3.75"),
        "output": Decimal("15"),
        "reasoning": Decimal("15"),
    },
}


def cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


money = st.decimals(min_value=0, max_value=2000, places=2)
events = st.lists(
    st.tuples(
        st.integers(1, 30),  # day of November
        st.sampled_from(sorted(RATES)),
        st.integers(0, 50_000_000),  # prompt tokens
        st.integers(0, 5_000_000),  # completion tokens
        st.floats(0, 1),  # share read from cache
        st.floats(0, 1),  # share written to cache (of the rest)
        st.floats(0, 1),  # share of reasoning
    ),
    min_size=0,
    max_size=8,
)
plans = st.fixed_dictionaries(
    {
        "platform_fee": money,
        "markup_percent": st.decimals(min_value=0, max_value=100, places=3),
        "token_rates": st.one_of(
            st.just({}), st.builds(lambda r: {"claude-sonnet": str(r)}, money)
        ),
    }
)


def _expected(
    usage: list[tuple[int, tuple[str, str], dict[str, int]]],
    segments: list[tuple[dict[str, object], int, int]],
    tax_rate: Decimal,
) -> Decimal:
    """The total from the events themselves: fees prorated by days, usage per class at
    the provider's price plus markup, or at the plan's price per million tokens."""
    subtotal = Decimal(0)
    for plan, first, last in segments:
        share = Decimal(last - first + 1) / 30
        subtotal += cents(plan["platform_fee"] * share)  # type: ignore[operator]
        tokens: dict[tuple[str, str, str], int] = defaultdict(int)
        for day, key, classes in usage:
            if first <= day <= last:
                for name, count in classes.items():
                    tokens[(*key, name)] += count
        marked_up = Decimal(0)
        for (provider, model, name), count in tokens.items():
            if not count:
                continue
            rate = plan["token_rates"].get(model)  # type: ignore[attr-defined]
            if rate is not None:
                subtotal += cents(Decimal(rate) * count / 1_000_000)
            else:
                cost = RATES[(provider, model)][name] * count / 1_000_000
                subtotal += cents(cost)
                marked_up += cost
        if plan["markup_percent"] and marked_up:
            subtotal += cents(marked_up * plan["markup_percent"] / 100)  # type: ignore[operator]
    return subtotal + cents(subtotal * tax_rate / 100)


@pytest.mark.django_db
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    raw_events=events,
    first=plans,
    second=st.one_of(st.none(), st.tuples(st.integers(2, 30), plans)),
    tax_rate=st.decimals(min_value=0, max_value=27, places=3),
)
def test_the_total_is_the_rated_usage_at_the_plan_prices_to_the_cent(
    tenant_a: Tenant,
    issuer: Issuer,
    prices: None,
    raw_events: list[tuple[int, tuple[str, str], int, int, float, float, float]],
    first: dict[str, object],
    second: tuple[int, dict[str, object]] | None,
    tax_rate: Decimal,
) -> None:
    with transaction.atomic():
        bill(tenant_a, issuer, tax_rate=str(tax_rate), name="A", **first)
        segments = [(first, 1, 30)]
        if second is not None:
            change, plan = second
            plan_create(
                actor=SYSTEM,
                tenant_id=tenant_a.pk,
                name="B",
                effective_from=dt.date(2026, 11, change),
                **plan,
            )
            segments = [(first, 1, change - 1), (plan, change, 30)]
        usage = []
        for day, (provider, model), prompt, completion, cached, written, reasoning in raw_events:
            read = int(prompt * cached)
            write = int((prompt - read) * written) if provider == "anthropic" else 0
            think = int(completion * reasoning)
            classes = {
                "input": prompt - read - write,
                "cached_input": read,
                "cache_write": write,
                "output": completion - think,
                "reasoning": think,
            }
            usage.append((day, (provider, model), classes))
            record_usage(
                tenant_a,
                dt.datetime(2026, 11, day, 12, tzinfo=dt.UTC),
                provider=provider,
                model=model,
                input_tokens=prompt,
                output_tokens=completion,
                cached_input_tokens=read,
                cache_write_tokens=write,
                reasoning_tokens=think,
            )
        usage_rate(tenant_id=tenant_a.pk, since=NOVEMBER, until=dt.date(2026, 12, 1))
        invoice = draft_refresh(tenant_id=tenant_a.pk, month=NOVEMBER)
        assert invoice is not None
        with tenant_context(tenant_a):
            lines = sum(line.amount for line in invoice.lines.all())
        assert invoice.subtotal == lines
        assert invoice.total == _expected(usage, segments, tax_rate)
        transaction.set_rollback(True)


@given(
    subtotal=st.decimals(min_value=Decimal("0.01"), max_value=100_000, places=2),
    rate=st.decimals(min_value=0, max_value=30, places=3),
    shares=st.lists(st.integers(1, 1000), min_size=1, max_size=12),
)
def test_credit_notes_never_exceed_the_invoice(
    subtotal: Decimal, rate: Decimal, shares: list[int]
) -> None:
    """Credits of any sizes, the last for whatever is left: their net, tax and total
    add up to the invoice's, never more."""
    tax = cents(subtotal * rate / 100)
    net_left, tax_left = subtotal, tax
    credited_net = credited_tax = Decimal(0)
    for index, share in enumerate(shares):
        last = index == len(shares) - 1
        net = net_left if last else min(net_left, max(CENT, cents(subtotal * share / 3000)))
        if net <= 0:
            continue
        credit = credit_tax(net=net, net_left=net_left, tax_left=tax_left, rate=rate)
        assert 0 <= credit <= tax_left
        net_left, tax_left = net_left - net, tax_left - credit
        credited_net, credited_tax = credited_net + net, credited_tax + credit
        assert credited_net + credited_tax <= subtotal + tax
    assert (credited_net, credited_tax) == (subtotal, tax)

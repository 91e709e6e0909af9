"""Budget reservations: a hard allowance is never overspent, whatever runs at once."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from edge.auth import Principal
from edge.gateway.budget import BudgetLedger, applicable, cost, most_cost
from edge.gateway.catalog import Budget, Price
from edge.gateway.verdicts import Refusal
from edge.tokens import TokenCounts
from tests.edge.conftest import AGENT, DEPARTMENT, DEVICE, NODE, OTHER_AGENT, SITE, TENANT

NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)
PRINCIPAL = Principal(TENANT, AGENT, DEPARTMENT, DEVICE, SITE, NODE)


def budget(
    allowance: str = "1.00",
    *,
    kind: str = "hard",
    scope: str = "agent",
    scope_id: str = AGENT,
    budget_id: str = "b1",
    start: datetime = datetime(2026, 11, 26, tzinfo=UTC),
    period: str = "day",
) -> Budget:
    return Budget(
        budget_id, TENANT, scope, scope_id, period, start, Decimal(10), kind, Decimal(allowance)
    )


def test_cost_is_exact_decimal() -> None:
    price = Price("openai", "m", Decimal("0.15"), Decimal("0.60"), NOW)
    assert cost(price, TokenCounts(812, 120)) == Decimal("0.0001938")
    assert cost(None, TokenCounts(812, 120)) == Decimal(0)


def test_cost_prices_each_token_class_and_falls_back_to_plain_prices() -> None:
    # 1,000 prompt tokens of which 600 read from cache and 100 written to it; 500
    # completion tokens of which 200 reasoning.
    tokens = TokenCounts.of(1000, 500, 600, 100, reasoning_tokens=200)
    priced = Price(
        "anthropic",
        "m",
        Decimal("3"),
        Decimal("15"),
        NOW,
        cached_input_per_million=Decimal("0.30"),
        cache_write_per_million=Decimal("3.75"),
        reasoning_per_million=Decimal("20"),
    )
    # 300 x 3 + 600 x 0.30 + 100 x 3.75 + 300 x 15 + 200 x 20, per million
    assert cost(priced, tokens) == Decimal("0.009955")
    plain = Price("openai", "m", Decimal("3"), Decimal("15"), NOW)
    assert cost(plain, tokens) == cost(plain, TokenCounts(1000, 500))


def test_a_part_never_exceeds_its_whole() -> None:
    tokens = TokenCounts.of(
        100, 10, cached_input_tokens=80, cache_write_tokens=50, reasoning_tokens=99
    )
    assert tokens.by_class() == {
        "input": 0,
        "cached_input": 80,
        "cache_write": 20,
        "output": 0,
        "reasoning": 10,
    }
    assert TokenCounts.of(-5, True, "7").by_class()["input"] == 0


def test_the_reservation_covers_the_dearest_class() -> None:
    price = Price(
        "openai",
        "m",
        Decimal("1"),
        Decimal("2"),
        NOW,
        cache_write_per_million=Decimal("1.25"),
        reasoning_per_million=Decimal("8"),
    )
    assert most_cost(price, 1_000_000, 1_000_000) == Decimal("9.25")


def test_the_budgets_over_an_agent_in_their_period() -> None:
    mine = budget()
    department = budget(scope="department", scope_id=DEPARTMENT, budget_id="b2")
    tenant = budget(scope="tenant", scope_id=TENANT, budget_id="b3", period="month")
    someone_else = budget(scope_id=OTHER_AGENT, budget_id="b4")
    yesterday = budget(budget_id="b5", start=NOW - timedelta(days=2))
    tomorrow = budget(budget_id="b6", start=NOW + timedelta(hours=13))
    found = applicable(
        [mine, department, tenant, someone_else, yesterday, tomorrow], PRINCIPAL, NOW
    )
    assert [(b.budget_id, b.allowance) for b in found] == [
        ("b1", 1),
        ("b2", 1),
        ("b3", 1),
        ("b5", 0),
        ("b6", 0),
    ], "a hard budget without an entry for today allows nothing today"


def test_reservations_hold_room_and_settle_to_the_actual_cost() -> None:
    ledger = BudgetLedger()
    hard = budget("1.00")
    first = ledger.reserve([hard], Decimal("0.60"), NOW)
    with pytest.raises(Refusal) as raised:
        ledger.reserve([hard], Decimal("0.50"), NOW)
    assert (raised.value.status, raised.value.code) == (429, "budget.exhausted")
    assert raised.value.retry_after == 12 * 3600, "until the next period"
    assert ledger.settle(first, Decimal("0.10")) == [(hard.key, Decimal("0.10"))]
    assert ledger.settle(first, Decimal("0.10")) == [], "settling twice changes nothing"
    assert (ledger.spent(hard), ledger.reserved(hard)) == (Decimal("0.10"), Decimal(0))
    second = ledger.reserve([hard], Decimal("0.90"), NOW)
    assert ledger.settle(second, Decimal(0)) == [], "a failed attempt costs nothing"


def test_a_used_up_allowance_refuses_even_a_free_request() -> None:
    ledger = BudgetLedger({budget().key: Decimal("1.00")})
    with pytest.raises(Refusal):
        ledger.reserve([budget()], Decimal(0), NOW)


def test_a_refused_reservation_holds_nothing_anywhere() -> None:
    ledger = BudgetLedger()
    roomy, tight = budget("5", budget_id="roomy"), budget("0.1", budget_id="tight")
    with pytest.raises(Refusal):
        ledger.reserve([roomy, tight], Decimal("0.2"), NOW)
    assert ledger.reserved(roomy) == 0


def test_soft_budgets_never_refuse_but_flag_once_passed() -> None:
    ledger = BudgetLedger()
    soft = budget("0.10", kind="soft")
    reservation = ledger.reserve([soft], Decimal("5"), NOW)
    assert ledger.soft_flags([soft]) == []
    ledger.settle(reservation, Decimal("0.10"))
    (flag,) = ledger.soft_flags([soft])
    assert (flag.stage, flag.verdict, flag.code) == ("budget", "flag", "budget.soft_limit")


def test_many_reservations_never_exceed_the_allowance() -> None:
    ledger = BudgetLedger()
    hard = budget("1.00")
    held = []
    for _ in range(100):
        with contextlib.suppress(Refusal):
            held.append(ledger.reserve([hard], Decimal("0.03"), NOW))
    assert len(held) == 33
    for reservation in held:
        ledger.settle(reservation, Decimal("0.03"))
    assert ledger.spent(hard) == Decimal("0.99") <= hard.allowance


def test_the_entry_of_the_current_period_applies_and_a_missing_one_allows_nothing() -> None:
    today = budget("3", start=datetime(2026, 11, 26, tzinfo=UTC))
    yesterday = budget("9", start=datetime(2026, 11, 25, tzinfo=UTC))
    assert applicable([yesterday, today], PRINCIPAL, NOW) == [today]

    (missing,) = applicable([yesterday], PRINCIPAL, NOW)
    assert (missing.period_start, missing.allowance) == (datetime(2026, 11, 26, tzinfo=UTC), 0)
    with pytest.raises(Refusal) as raised:
        BudgetLedger().reserve([missing], Decimal(0), NOW)
    assert raised.value.retry_after == 12 * 3600, "until the next period's bundle"

    monthly = budget("9", period="month", start=datetime(2026, 10, 1, tzinfo=UTC))
    (current,) = applicable([monthly], PRINCIPAL, NOW)
    assert current.period_start == datetime(2026, 11, 1, tzinfo=UTC)
    assert (
        applicable(
            [budget("9", kind="soft", start=datetime(2026, 11, 25, tzinfo=UTC))], PRINCIPAL, NOW
        )
        == []
    )

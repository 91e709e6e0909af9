"""Hard budgets across edges: allowances grow only out of the unallocated part of the
limit, under a lock, so their sum never exceeds the limit — also under concurrency."""

from __future__ import annotations

import datetime as dt
import random
import threading
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Sum

from billing.pricing import PriceBook
from controlplane.core.tenancy import tenant_context
from controlplane.gateway.models import Budget, BudgetAllowance
from controlplane.gateway.selectors import ledger_spend, period_start
from controlplane.gateway.services import (
    allowance_top_up,
    allowances_refresh,
    budget_create,
    top_up_step,
)
from controlplane.telemetry.ledger import ledger_insert
from controlplane.telemetry.records import build_batch
from tests.conftest import SYSTEM
from tests.gateway.conftest import World, make_world
from tests.telemetry.records import spool_line

NOW = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)


def _budget(world: World, limit: str = "30", kind: str = "hard", **fields: object) -> Budget:
    values: dict[str, object] = {"scope": "tenant", "period": "day", **fields}
    return budget_create(
        actor=SYSTEM, tenant=world.tenant, limit=Decimal(limit), kind=kind, **values
    )


def _allowances(budget: Budget, start: dt.datetime) -> dict[str, Decimal]:
    with tenant_context(budget.tenant_id):
        rows = BudgetAllowance.objects.filter(budget=budget, period_start=start)
        return {str(r.edge_node_id): r.allowance for r in rows}


def test_the_step_is_a_share_of_the_rest_never_below_five_percent_never_above_the_rest() -> None:
    limit = Decimal("100")
    assert top_up_step(limit=limit, unallocated=limit, edges=3) == Decimal("33.333333")
    assert top_up_step(limit=limit, unallocated=Decimal("30"), edges=10) == Decimal("5")
    assert top_up_step(limit=limit, unallocated=Decimal("2"), edges=3) == Decimal("2")
    assert top_up_step(limit=limit, unallocated=Decimal("0"), edges=3) == 0


@pytest.mark.django_db
def test_allowances_grow_when_spend_comes_close_and_never_past_the_limit(world: World) -> None:
    budget = _budget(world, "30")
    start = period_start("day", NOW)
    nodes = [world.node(i) for i in range(3)]

    first = allowance_top_up(
        budget=budget, edge_node=nodes[0], ledger_spend=Decimal(0), period_start=start
    )
    assert first.created and first.granted == Decimal(10) and first.allowance == Decimal(10)
    # Plenty left on this node: nothing more.
    idle = allowance_top_up(
        budget=budget, edge_node=nodes[0], ledger_spend=Decimal(1), period_start=start
    )
    assert not idle.changed and idle.allowance == Decimal(10)
    # Spend close to the allowance: a share of what is left.
    busy = allowance_top_up(
        budget=budget, edge_node=nodes[0], ledger_spend=Decimal(9), period_start=start
    )
    assert busy.granted == Decimal("6.666666")
    for _ in range(50):
        for node in nodes:
            allowance_top_up(
                budget=budget, edge_node=node, ledger_spend=Decimal(10**6), period_start=start
            )
    allowances = _allowances(budget, start)
    assert sum(allowances.values()) == Decimal(30)
    assert len(allowances) == 3


@pytest.mark.django_db
def test_soft_and_out_of_scope_budgets_get_a_row_and_no_allowance(world: World) -> None:
    soft = _budget(world, "20", kind="soft")
    elsewhere = _budget(world, "9", scope="agent", scope_id=_other_site_agent(world).pk)
    node = world.node(0)
    with tenant_context(world.tenant):
        version = world.refresh_site().config_version
    assert allowances_refresh(node, now=NOW)
    start = period_start("day", NOW)
    assert _allowances(soft, start) == {str(node.pk): Decimal(0)}
    assert _allowances(elsewhere, start) == {str(node.pk): Decimal(0)}
    assert world.refresh_site().config_version > version
    assert not allowances_refresh(node, now=NOW)  # nothing new: no version bump


def _other_site_agent(world: World) -> object:
    from controlplane.agents.services import agent_create, device_register, site_create

    branch = site_create(actor=SYSTEM, tenant=world.tenant, name="Branch")
    device, _ = device_register(actor=SYSTEM, site=branch, name="branch-host")
    return agent_create(actor=SYSTEM, tenant=world.tenant, name="branch-bot", device=device)


@pytest.mark.django_db
def test_refresh_tops_up_from_the_nodes_ledger_spend(world: World) -> None:
    budget = _budget(world, "0.003")
    node = world.node(0)
    allowances_refresh(node, now=NOW)
    start = period_start("day", NOW)
    assert _allowances(budget, start)[str(node.pk)] == Decimal("0.001")
    # 1000 + 1000 input tokens at 0.15 and 2 x 500 output at 0.60 per million = 0.0009
    lines = [
        spool_line(
            world.tenant,
            when=NOW - dt.timedelta(minutes=5),
            trace=1,
            span=span,
            agent_id=str(world.marketing.pk),
            edge_node_id=str(node.pk),
            provider="msp-openai",
            model="gpt-4o-mini",
            input_tokens=1000,
            output_tokens=500,
        )
        for span in (1, 2)
    ]
    with tenant_context(world.tenant):
        batch = build_batch(lines, prices=PriceBook.load(), retention_days={})
        ledger_insert(batch.ledger)
        assert ledger_spend(budget=budget, start=start, edge_node_id=node.pk) == Decimal("0.0009")
        assert ledger_spend(budget=budget, start=start, edge_node_id=world.nodes[1].pk) == 0
    assert allowances_refresh(node, now=NOW)
    assert _allowances(budget, start)[str(node.pk)] > Decimal("0.001")


@pytest.mark.django_db
def test_the_next_period_is_granted_shortly_before_it_starts(world: World) -> None:
    budget = _budget(world, "30")
    node = world.node(0)
    late = dt.datetime(2026, 11, 26, 23, 30, tzinfo=dt.UTC)
    allowances_refresh(node, now=late)
    today, tomorrow = period_start("day", late), period_start("day", late + dt.timedelta(hours=1))
    assert _allowances(budget, today)[str(node.pk)] == Decimal(10)
    assert _allowances(budget, tomorrow)[str(node.pk)] == Decimal(10)


def test_concurrent_top_ups_across_edges_never_exceed_the_limit(
    committed_db: None, tenant_a: object, tenant_b: object
) -> None:
    world = make_world(tenant_a, tenant_b, nodes=3)  # type: ignore[arg-type]
    limit = Decimal("100")
    budget = _budget(world, str(limit))
    start = period_start("day", NOW)
    nodes = [world.node(i) for i in range(3)]
    barrier = threading.Barrier(12)
    errors: list[BaseException] = []

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        try:
            barrier.wait()
            for _ in range(15):
                node = rng.choice(nodes)
                spend = Decimal(rng.randint(0, 10**6)) / 100
                allowance_top_up(
                    budget=budget, edge_node=node, ledger_spend=spend, period_start=start
                )
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    with tenant_context(world.tenant):
        total = BudgetAllowance.objects.filter(budget=budget, period_start=start).aggregate(
            total=Sum("allowance")
        )["total"]
        grants = BudgetAllowance.objects.filter(budget=budget).count()
    assert grants == 3
    assert total <= limit
    assert total >= limit - Decimal("0.00001")  # heavy spend drains it (rounding aside)

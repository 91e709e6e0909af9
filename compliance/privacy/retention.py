"""Applying retention in every store, and recording what went (docs/privacy.md,
docs/decisions/0035-retention-everywhere.md).

A sweep starts one ``RetentionRun`` per tenant with the policy in force and its cutoffs
(midnight UTC, ``days`` before the run), then drops whole monthly partitions (ledger
and every ClickHouse table) in which every tenant is past its cutoff and holds nothing.
Each run then goes through its steps, one store (or table, or edge node) at a time:
what a step removed is counted by the store as it removes it and saved with the step
as done, so a run that stopped half-way continues where it was (``continue_run``) and
counts nothing twice. A failed step (an edge node down) leaves the run ``partial``;
the next run removes what this one could not.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from django.db import transaction
from django.utils import timezone

from compliance.privacy import clickhouse, edge, hooks, locks, postgres
from compliance.privacy.models import DataKind, RetentionRun
from compliance.privacy.selectors import active_holds, effective_policy
from controlplane.core.ids import new_id
from controlplane.core.tenancy import all_tenants_context, tenant_context
from controlplane.telemetry.isolation import reason
from tenants.models import Tenant

logger = logging.getLogger(__name__)

DONE = "done"
Items = list[dict[str, Any]]
Step = Callable[[], tuple[Items, list[str]]]


def cutoff(now: dt.datetime, days: int) -> dt.datetime:
    """Data from before this goes: midnight UTC ``days`` days before ``now``."""
    day = now.astimezone(dt.UTC).date() - dt.timedelta(days=days)
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


def run_cutoff(run: RetentionRun, kind: str) -> dt.datetime:
    return dt.datetime.fromisoformat(run.cutoffs[kind])


def held_agents(run: RetentionRun) -> list[uuid.UUID]:
    return sorted({uuid.UUID(h["agent_id"]) for h in run.holds if h["agent_id"]})


def item(store: str, target: str, kind: str, how: str, rows: int, **more: Any) -> dict[str, Any]:
    return {"store": store, "target": target, "kind": kind, "how": how, "rows": rows, **more}


# --- the sweep ----------------------------------------------------------------------------


def start_sweep(
    *,
    trigger: str,
    requested_by: str,
    tenants: Iterable[Tenant] | None = None,
    now: dt.datetime | None = None,
) -> list[RetentionRun]:
    """Start a run for each tenant (every tenant unless given) and drop the partitions
    they all agree on; the runs' own steps are ``continue_run``'s."""
    now = now or timezone.now()
    sweep_id = new_id()
    chosen = list(Tenant.objects.all() if tenants is None else tenants)
    runs = [_start_run(tenant, sweep_id, trigger, requested_by, now) for tenant in chosen]
    open_runs = {run.tenant_id: run for run in runs if run.state == RetentionRun.State.RUNNING}
    unheld = {tenant: run for tenant, run in open_runs.items() if not held_agents(run)}
    if unheld:
        _drop_ledger_partitions(unheld)
        _drop_clickhouse_partitions(unheld)
    return runs


def _start_run(
    tenant: Tenant, sweep_id: uuid.UUID, trigger: str, requested_by: str, now: dt.datetime
) -> RetentionRun:
    policy = effective_policy(tenant, now.date())
    holds = active_holds(tenant)
    run = RetentionRun(
        tenant=tenant,
        sweep_id=sweep_id,
        trigger=trigger,
        requested_by_label=requested_by[:254],
        started_at=now,
        policy={kind: effective.as_dict() for kind, effective in policy.items()},
        cutoffs={
            kind: cutoff(now, effective.days).isoformat() for kind, effective in policy.items()
        },
        holds=[hold.as_dict() for hold in holds],
    )
    whole = [hold for hold in holds if hold.agent_id is None]
    if whole:
        run.state = RetentionRun.State.HELD
        run.finished_at = now
        run.kept = [
            f"everything: legal hold {h.reference or h.pk} on the whole tenant" for h in whole
        ]
    with tenant_context(tenant):
        run.save(force_insert=True)
    return run


def _save(run: RetentionRun) -> None:
    with tenant_context(run.tenant_id):
        run.save(update_fields=["removed", "kept", "steps", "state", "finished_at", "error"])


def _droppable(
    counts: dict[uuid.UUID, int], runs: dict[uuid.UUID, RetentionRun], kind: str, end: dt.datetime
) -> bool:
    """Every tenant with rows in the month is in this sweep, holds nothing, and is past
    its cutoff for the whole month (an empty month goes too)."""
    return all(t in runs and run_cutoff(runs[t], kind) >= end for t in counts)


def _drop_ledger_partitions(runs: dict[uuid.UUID, RetentionRun]) -> None:
    latest = max(run_cutoff(run, DataKind.LEDGER) for run in runs.values())
    for month in postgres.ledger_partitions_before(latest):
        # Counted, dropped and recorded in one transaction: exact, or not at all.
        with transaction.atomic():
            counts = postgres.ledger_partition_counts(month)
            if not _droppable(counts, runs, DataKind.LEDGER, postgres.month_end(month)):
                continue
            postgres.ledger_drop_partition(month)
            for tenant_id, rows in counts.items():
                run = runs[tenant_id]
                run.removed.append(
                    item("postgres", "telemetry_usageevent", DataKind.LEDGER, "partition", rows,
                         partition=f"{month:%Y-%m}")
                )  # fmt: skip
                _save(run)


def _drop_clickhouse_partitions(runs: dict[uuid.UUID, RetentionRun]) -> None:
    latest = max(run_cutoff(run, DataKind.SPANS) for run in runs.values())
    for table in clickhouse.TABLES:
        months: dict[int, dict[uuid.UUID, int]] = {}
        for row in clickhouse.partition_counts(table.name, latest):
            months.setdefault(int(row["partition"]), {})[row["tenant_id"]] = int(row["n"])
        for partition, counts in sorted(months.items()):
            month = dt.date(partition // 100, partition % 100, 1)
            end = postgres.month_end(month)
            if end > latest or not _droppable(counts, runs, DataKind.SPANS, end):
                continue
            clickhouse.drop_partition(table.name, partition)
            for tenant_id, rows in counts.items():
                run = runs[tenant_id]
                run.removed.append(
                    item("clickhouse", table.name, DataKind.SPANS, "partition", rows,
                         partition=f"{month:%Y-%m}")
                )  # fmt: skip
                _save(run)


# --- one tenant's run -------------------------------------------------------------------


def continue_run(run_id: uuid.UUID) -> RetentionRun:
    """Do the steps of the run not done yet and finish it; nothing if another worker is
    at it (it returns the run as it stands). Idempotent."""
    with locks.held("retention-run", run_id) as mine:
        with all_tenants_context():
            run = RetentionRun.unscoped.get(pk=run_id)
        if mine and run.state == RetentionRun.State.RUNNING:
            _continue(run)
    return run


def _continue(run: RetentionRun) -> None:
    for name, step in _steps(run):
        if run.steps.get(name) == DONE:
            continue
        try:
            removed, kept = step()
        except Exception as error:  # every failure is recorded in the run, whatever its kind
            logger.exception("retention step %s of run %s failed", name, run.pk)
            run.steps[name] = f"failed: {reason(error)}"
        else:
            run.removed.extend(removed)
            run.kept.extend(kept)
            run.steps[name] = DONE
        _save(run)
    failed = [name for name, outcome in run.steps.items() if outcome != DONE]
    run.state = RetentionRun.State.PARTIAL if failed else RetentionRun.State.COMPLETED
    run.error = "; ".join(f"{name}: {run.steps[name]}" for name in failed)
    run.finished_at = timezone.now()
    _save(run)


def _steps(run: RetentionRun) -> list[tuple[str, Step]]:
    tenant_id, held = run.tenant_id, held_agents(run)
    ledger, spans = run_cutoff(run, DataKind.LEDGER), run_cutoff(run, DataKind.SPANS)
    bodies, alerts = run_cutoff(run, DataKind.BODIES), run_cutoff(run, DataKind.ALERTS)
    evidence = run_cutoff(run, DataKind.EVIDENCE)

    def ledger_rows() -> tuple[Items, list[str]]:
        rows = postgres.ledger_delete_before(tenant_id, ledger, held)
        return [item("postgres", "telemetry_usageevent", DataKind.LEDGER, "rows", rows)], []

    def dead_letters() -> tuple[Items, list[str]]:
        if held:  # a dead letter names its agent only inside its raw record
            return [], ["dead letters: all kept while an agent is on legal hold"]
        rows = postgres.dead_letters_delete_before(tenant_id, bodies)
        return [item("postgres", "telemetry_deadletter", DataKind.BODIES, "rows", rows)], []

    def alert_rows() -> tuple[Items, list[str]]:
        removed = postgres.alerts_delete_before(tenant_id, alerts, held)
        tables = ("alert", "note", "incident", "notification")
        return [
            item("postgres", f"security_{table}", DataKind.ALERTS, "rows", removed.get(table, 0))
            for table in tables
        ], []

    def table_rows(table: clickhouse.Table) -> Step:
        def step() -> tuple[Items, list[str]]:
            if held and not table.per_agent:
                return [], [f"{table.name}: kept, its rows do not tell agents apart"]
            rows = clickhouse.rows_before(table.name, tenant_id, spans, held)
            if rows:
                clickhouse.delete_before(table.name, tenant_id, spans, held)
            return [item("clickhouse", table.name, DataKind.SPANS, "rows", rows)], []

        return step

    def span_bodies() -> tuple[Items, list[str]]:
        rows = clickhouse.bodies_before(tenant_id, bodies, held)
        if rows:
            clickhouse.clear_bodies_before(tenant_id, bodies, held)
        return [item("clickhouse", "spans", DataKind.BODIES, "bodies", rows)], []

    def edge_node(node: Any) -> Step:
        def step() -> tuple[Items, list[str]]:
            done = edge.purge(
                node, delete_before=min(spans, ledger), bodies_before=bodies, held_agents=held
            )
            spool, cache = done["spool"], done["cache"]
            name, where = node.name, {"node_id": str(node.pk)}
            kept = spool.get("kept_under_hold", 0)
            removed = [
                item("edge", name, DataKind.SPANS, "records", spool["records_deleted"], **where),
                item("edge", name, DataKind.BODIES, "bodies", spool["bodies_removed"], **where),
                item("edge", f"{name} cache", DataKind.BODIES, "entries", cache["entries_dropped"],
                     **where),
            ]  # fmt: skip
            return removed, ([f"{name}: {kept} spool records of held agents kept"] if kept else [])

        return step

    def evidence_rows() -> tuple[Items, list[str]]:
        if not hooks.registered():
            return [], ["evidence: no evidence store is connected to retention yet"]
        removed, kept = hooks.evidence_retention(tenant_id, evidence, held)
        return [
            item("evidence", table, DataKind.EVIDENCE, "rows", rows)
            for table, rows in sorted(removed.items())
        ], kept

    steps: list[tuple[str, Step]] = [
        ("postgres:ledger", ledger_rows),
        ("postgres:dead_letters", dead_letters),
        ("postgres:alerts", alert_rows),
        *((f"clickhouse:{table.name}", table_rows(table)) for table in clickhouse.TABLES),
        ("clickhouse:bodies", span_bodies),
        *((f"edge:{node.pk}", edge_node(node)) for node in edge.nodes(tenant_id)),
        ("evidence", evidence_rows),
    ]
    return steps

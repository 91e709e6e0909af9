"""C1, confidentiality: secrets encrypted at rest with a key of the ring, data
classifications each agent touched within what it is cleared for, retention and
disposal runs."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.conf import settings

from compliance import evidence_queries as q
from compliance.checks import Context, Failing, Outcome, check
from compliance.privacy import selectors as privacy_selectors
from compliance.privacy.models import RetentionRun
from controlplane.agents.models import Agent
from controlplane.core.crypto import encrypted_columns, key_ring
from controlplane.gateway.models import RoleDefault


@check("c1.encryption_at_rest", version=1, scope="msp")
def encryption_at_rest(ctx: Context) -> Outcome:
    """Every stored secret (provider keys, edge node tokens, authenticator seeds, webhook
    secrets) is encrypted with a key of ``FIELD_ENCRYPTION_KEYS``, the newest one."""
    ring = key_ring()
    known = {entry.partition(":")[0] for entry in settings.FIELD_ENCRYPTION_KEYS}
    ctx.note(
        "FIELD_ENCRYPTION_KEYS key ids", {"keys": sorted(known), "newest": ring.current_key_id}
    )
    failing: list[Failing] = []
    population: list[dict[str, Any]] = []
    for model, column, _ in encrypted_columns():
        label = f"{model._meta.db_table}.{column}"
        rows = ctx.values(
            model._base_manager.exclude(**{column: ""}).values_list("pk", column).order_by("pk")
        )
        counts: dict[str, int] = defaultdict(int)
        for pk, stored in rows:
            key_id, sep, _ = str(stored).partition("$")
            if not sep or key_id not in known:
                counts["unreadable"] += 1
                failing.append(
                    Failing(f"secret:{label}:{pk}", label, "not encrypted with a key of the ring")
                )
            elif key_id != ring.current_key_id:
                counts["older_key"] += 1
                failing.append(
                    Failing(
                        f"secret:{label}:{pk}",
                        label,
                        f"still on key {key_id} (run manage.py rotate_field_keys)",
                    )
                )
            else:
                counts["newest_key"] += 1
        population.append({"key": f"column:{label}", "values": len(rows), **counts})
    total = sum(int(p["values"]) for p in population)
    return Outcome(
        summary=f"{total} stored secrets in {len(population)} columns, "
        f"{total - len(failing)} on the newest key ({ring.current_key_id})",
        population=population,
        failing=failing,
        metrics={"newest_key": ring.current_key_id, "keys_in_ring": len(known)},
    )


def _cleared(agents: list[Agent], defaults: dict[str, list[str]]) -> dict[str, set[str]]:
    """What each agent may touch: its own list, else its role's default."""
    return {str(a.pk): set(a.data_classes or defaults.get(a.role, [])) for a in agents}


@check("c1.data_classes", version=1)
def data_classes(ctx: Context) -> Outcome:
    """Each agent touched only the data classifications it is cleared for (its own list,
    else its role's default), per the spans of the period."""
    assert ctx.tenant_id is not None
    agents = ctx.rows(Agent.objects.order_by("name"))
    defaults = dict(ctx.values(RoleDefault.objects.values_list("role", "data_classes")))
    cleared = _cleared(agents, defaults)
    names = {str(a.pk): a.name for a in agents}
    seen: dict[str, dict[str, int]] = defaultdict(dict)
    for row in ctx.clickhouse(
        q.data_classes_accessed(ctx.tenant_id, ctx.period_start, ctx.period_end)
    ):
        seen[str(row["agent_id"])][row["data_class"]] = int(row["uses"])
    failing, population = [], []
    for agent, classes in sorted(seen.items()):
        allowed = cleared.get(agent, set())
        outside = sorted(set(classes) - allowed)
        if outside:
            failing.append(
                Failing(
                    f"agent:{agent}",
                    names.get(agent, agent),
                    f"touched {', '.join(outside)}; cleared for "
                    f"{', '.join(sorted(allowed)) or 'nothing'}",
                )
            )
        population.append(
            {
                "key": f"agent:{agent}",
                "agent": names.get(agent, agent),
                "classes": classes,
                "cleared": sorted(allowed),
            }
        )
    return Outcome(
        summary=f"{len(seen)} agents touched classified data, {len(failing)} outside their "
        "clearance",
        population=population,
        failing=failing,
    )


def _runs_outcome(runs: list[RetentionRun]) -> Outcome:
    population = [
        {
            "key": f"retention_run:{run.pk}",
            "started_at": run.started_at,
            "state": run.state,
            "removed": run.removed,
        }
        for run in runs
    ]
    failing = [
        Failing(f"retention_run:{run.pk}", "retention run", f"{run.state}: {run.error}".strip())
        for run in runs
        if run.state in (RetentionRun.State.PARTIAL, RetentionRun.State.RUNNING)
    ]
    if not runs:
        failing.append(Failing("retention_run:none", "retention", "no retention run in the period"))
    return Outcome(
        summary=f"{len(runs)} retention runs in the period, {len(failing)} problems",
        population=population,
        failing=failing,
    )


@check("c1.retention_runs", version=1)
def retention_runs(ctx: Context) -> Outcome:
    """Retention and disposal ran in the period for the tenant and succeeded
    (``compliance.privacy.selectors.retention_runs``)."""
    assert ctx.tenant_id is not None
    ctx.note(
        "compliance.privacy.selectors.retention_runs",
        {"tenant": ctx.tenant_id, "since": ctx.period_start, "until": ctx.period_end},
    )
    return _runs_outcome(
        privacy_selectors.retention_runs(ctx.tenant_id, ctx.period_start, ctx.period_end)
    )

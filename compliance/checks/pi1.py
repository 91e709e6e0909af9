"""PI1, processing integrity: the ledger and ClickHouse agree hour by hour, the ledger is
rated in full and invoices add up, the providers' bills match the ledger, and every
captured trace is whole."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from typing import Any

from django.db.models import F, Sum
from django.db.models.functions import TruncDate, TruncHour

from billing.models import BillingAccount, Invoice, ProviderCostLine, RatedUsage
from billing.provider_bills import flagged, provider_reconcile
from compliance import evidence_queries as q
from compliance.checks import Context, Failing, Outcome, check
from controlplane.telemetry.models import ReconciliationRun, UsageEvent
from controlplane.telemetry.reconcile import SETTLE_TIME


@check("pi1.store_reconciliation", version=1)
def store_reconciliation(ctx: Context) -> Outcome:
    """Every settled hour of the period with ledger events was reconciled against
    ClickHouse, and its latest reconciliation matched (or was repaired)."""
    settled = (ctx.now - SETTLE_TIME).replace(minute=0, second=0, microsecond=0) - dt.timedelta(
        hours=1
    )
    first = ctx.period_start.replace(minute=0, second=0, microsecond=0)
    runs = ctx.rows(
        ReconciliationRun.objects.filter(hour__gte=first, hour__lt=settled).order_by(
            "hour", "ran_at"
        )
    )
    latest = {run.hour: run for run in runs}
    hours = ctx.values(
        UsageEvent.objects.filter(occurred_at__gte=first, occurred_at__lt=settled)
        .annotate(hour=TruncHour("occurred_at", tzinfo=dt.UTC))
        .values_list("hour", flat=True)
        .distinct()
        .order_by("hour")
    )
    failing = []
    for hour in hours:
        if hour not in latest:
            failing.append(
                Failing(f"hour:{hour:%Y-%m-%dT%H}", f"{hour:%Y-%m-%d %H}:00 UTC", "not reconciled")
            )
    for hour, run in sorted(latest.items()):
        if run.outcome == ReconciliationRun.Outcome.MISMATCH:
            failing.append(
                Failing(
                    f"hour:{hour:%Y-%m-%dT%H}",
                    f"{hour:%Y-%m-%d %H}:00 UTC",
                    f"ledger {run.ledger_events} events, ClickHouse {run.analytics_events}",
                )
            )
    population = [
        {
            "key": f"hour:{hour:%Y-%m-%dT%H}",
            "ledger_events": run.ledger_events,
            "analytics_events": run.analytics_events,
            "repaired_events": run.repaired_events,
            "outcome": run.outcome,
        }
        for hour, run in sorted(latest.items())
    ]
    repaired = sum(run.repaired_events for run in latest.values())
    return Outcome(
        summary=f"{len(latest)} hours reconciled, {len(failing)} unreconciled or mismatched; "
        f"{repaired} events repaired",
        population=population,
        failing=sorted(failing, key=lambda f: f.key),
        metrics={"hours_with_events": len(hours), "repaired_events": repaired},
    )


@check("pi1.billing_integrity", version=1)
def billing_integrity(ctx: Context) -> Outcome:
    """Every day of the period before today has as many tokens rated as the ledger holds,
    and every invoice finalised in the period adds up (lines to subtotal, subtotal and
    tax to total)."""
    accounts = ctx.values(BillingAccount.objects.values_list("pk", flat=True)[:1])
    if not accounts:
        return Outcome(summary="the tenant is not billed (no billing account)", not_applicable=True)
    today = ctx.now.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    ledger = dict(
        ctx.values(
            UsageEvent.objects.filter(occurred_at__gte=ctx.period_start, occurred_at__lt=today)
            .annotate(day=TruncDate("occurred_at", tzinfo=dt.UTC))
            .values("day")
            .annotate(tokens=Sum(F("input_tokens") + F("output_tokens")))
            .values_list("day", "tokens")
            .order_by("day")
        )
    )
    rated = dict(
        ctx.values(
            RatedUsage.objects.filter(day__gte=ctx.period_start.date(), day__lt=today.date())
            .values("day")
            .annotate(tokens=Sum("tokens"))
            .values_list("day", "tokens")
            .order_by("day")
        )
    )
    invoices = ctx.rows(
        Invoice.objects.filter(
            status=Invoice.Status.FINAL,
            finalised_at__gte=ctx.period_start,
            finalised_at__lt=ctx.period_end,
        ).prefetch_related("lines")
    )
    failing: list[Failing] = []
    population: list[dict[str, Any]] = []
    for day in sorted(set(ledger) | set(rated)):
        ours, billed = int(ledger.get(day) or 0), int(rated.get(day) or 0)
        if ours != billed:
            failing.append(
                Failing(f"day:{day}", f"usage of {day}", f"ledger {ours} tokens, rated {billed}")
            )
        population.append({"key": f"day:{day}", "ledger_tokens": ours, "rated_tokens": billed})
    for invoice in invoices:
        lines = sum((line.amount for line in invoice.lines.all()), Decimal(0))
        problems = []
        if lines != invoice.subtotal:
            problems.append(f"lines add up to {lines}, subtotal says {invoice.subtotal}")
        if invoice.subtotal + invoice.tax != invoice.total:
            problems.append(
                f"subtotal and tax make {invoice.subtotal + invoice.tax}, not {invoice.total}"
            )
        if problems:
            failing.append(Failing(f"invoice:{invoice.pk}", invoice.number, "; ".join(problems)))
        population.append(
            {"key": f"invoice:{invoice.pk}", "number": invoice.number, "total": invoice.total}
        )
    return Outcome(
        summary=f"{len(ledger)} days of usage and {len(invoices)} final invoices checked; "
        f"{len(failing)} differences",
        population=population,
        failing=failing,
    )


@check("pi1.provider_bills", version=1, scope="msp")
def provider_bills(ctx: Context) -> Outcome:
    """The providers' own bills imported for the period match the ledger per day, model
    and token class (``billing.provider_bills``); not applicable without an import."""
    since, until = ctx.period_start.date(), ctx.period_end.date()
    providers = ctx.values(
        ProviderCostLine.objects.filter(day__gte=since, day__lt=until)
        .values_list("provider", flat=True)
        .distinct()
        .order_by("provider")
    )
    if not providers:
        return Outcome(summary="no provider bill imported for the period", not_applicable=True)
    failing, population = [], []
    counts: dict[str, int] = defaultdict(int)
    for provider in providers:
        ctx.note(
            "billing.provider_bills.provider_reconcile",
            {"provider": provider, "since": since, "until": until},
        )
        findings = provider_reconcile(provider=provider, since=since, until=until)
        for finding in flagged(findings):
            key = f"bill:{provider}:{finding.day}:{finding.model}:{finding.token_class}"
            failing.append(
                Failing(
                    key,
                    f"{provider} {finding.model} {finding.day}",
                    f"{finding.cause}: billed {finding.provider_tokens} tokens, "
                    f"ledger {finding.ledger_tokens}",
                )
            )
            counts[finding.cause] += 1
        population += [
            {
                "key": f"bill:{provider}:{f.day}:{f.model}:{f.token_class}",
                "provider_tokens": f.provider_tokens,
                "ledger_tokens": f.ledger_tokens,
                "cause": f.cause,
            }
            for f in findings
        ]
    return Outcome(
        summary=f"{len(population)} provider bill lines compared, {len(failing)} differ",
        population=population,
        failing=failing,
        metrics={"causes": dict(counts)},
    )


@check("pi1.trace_completeness", version=1)
def trace_completeness(ctx: Context) -> Outcome:
    """Every span captured in the period has its parent captured too: no trace lost a
    part between the agent and the stores."""
    assert ctx.tenant_id is not None
    totals = ctx.clickhouse(q.trace_count(ctx.tenant_id, ctx.period_start, ctx.period_end))
    broken = ctx.clickhouse(q.incomplete_traces(ctx.tenant_id, ctx.period_start, ctx.period_end))
    traces = int(totals[0]["traces"]) if totals else 0
    failing = [
        Failing(
            f"trace:{row['trace_id']}",
            f"trace {row['trace_id']}",
            f"{row['orphans']} of {row['judged']} spans name a parent that never arrived",
        )
        for row in broken
    ]
    population = [
        {"key": f"trace:{row['trace_id']}", "agent_id": row["agent_id"], "orphans": row["orphans"]}
        for row in broken
    ]
    complete = traces - len(broken)
    return Outcome(
        summary=f"{complete} of {traces} traces complete",
        population=population,
        population_count=traces,
        failing=failing,
        metrics={
            "traces": traces,
            "spans": int(totals[0]["spans"]) if totals else 0,
            "incomplete": len(broken),
            "listed_at_most": q.INCOMPLETE_LIMIT,
        },
    )

"""Running the catalog's tests: a ``TestRun`` requested (schedule, console, API, demo),
then executed by a worker, writing one evidence record per test and tenant.

Execution is idempotent per run: a test that already has evidence in the run is not
run again, so a retried task finishes the run without duplicating anything.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from functools import partial

from django.db import transaction
from django.utils import timezone

from compliance.checks import Context, Failing, Outcome, registry
from compliance.evidence import evidence_append
from compliance.models import Control, ControlException, ControlTest, EvidenceRecord, Scope, TestRun
from controlplane.accounts.models import User
from controlplane.audit.services import Actor, audit_record
from controlplane.core.tenancy import all_tenants_context, tenant_context
from tenants.models import Tenant

logger = logging.getLogger(__name__)
Result = EvidenceRecord.Result
# A run still "running" this long after it started lost its worker; another may finish it.
TAKE_OVER_AFTER = dt.timedelta(minutes=30)


def test_run_request(
    *,
    actor: Actor,
    trigger: str,
    tenant: Tenant | None = None,
    control: Control | None = None,
    requested_by: User | None = None,
    enqueue: bool = True,
) -> TestRun:
    """Queue a run of every active test of ``tenant`` (None: every tenant's and the
    MSP's own), or of ``control``'s only; a worker executes it after the commit (unless
    ``enqueue`` is false: the caller runs ``test_run_execute`` itself)."""
    from compliance import tasks

    with transaction.atomic(), all_tenants_context():
        run = TestRun.unscoped.create(
            tenant=tenant,
            control=control,
            trigger=trigger,
            requested_by=requested_by,
            requested_by_label=actor.label[:254],
            requested_at=timezone.now(),
        )
        audit_record(
            actor=actor,
            action="compliance.test_run_requested",
            target=run,
            tenant_id=tenant.pk if tenant else None,
            after={"trigger": trigger, "control": control.code if control else None},
        )
        if enqueue:
            transaction.on_commit(partial(tasks.execute_test_run.delay, str(run.pk)))
    return run


def _tests_of(run: TestRun) -> list[tuple[Tenant | None, ControlTest]]:
    """(tenant or None for the MSP, test) pairs the run covers, in catalog order."""
    tests = ControlTest.objects.filter(active=True, control__active=True).select_related("control")
    if run.control_id:
        tests = tests.filter(control_id=run.control_id)
    tests = tests.order_by("control__code", "key")
    tenant_tests = [t for t in tests if t.scope == Scope.TENANT]
    pairs: list[tuple[Tenant | None, ControlTest]] = []
    if run.tenant is None:
        pairs += [(None, t) for t in tests if t.scope == Scope.MSP]
        tenants = list(Tenant.objects.filter(status=Tenant.Status.ACTIVE).order_by("slug"))
    else:
        tenants = [run.tenant]
    pairs += [(tenant, t) for tenant in tenants for t in tenant_tests]
    return pairs


def _outcome(test: ControlTest, ctx: Context) -> Outcome:
    check = registry()[test.key]
    try:
        with transaction.atomic():  # a failed query rolls back to here, not the run
            return check.function(ctx)
    except Exception as error:  # a broken test is evidence of failure, not a crash
        logger.exception("compliance test %s failed to run", test.key)
        reason = f"the test could not run: {type(error).__name__}: {error}"[:500]
        return Outcome(summary=reason, failing=[Failing(f"test:{test.key}", test.title, reason)])


def _covering_exception(
    tenant: Tenant | None, control: Control, failing: list[Failing], now: dt.datetime
) -> ControlException | None:
    """An approved, unexpired exception covering every failing entity, if there is one."""
    active = ControlException.unscoped.filter(
        tenant=tenant,
        control=control,
        status=ControlException.Status.APPROVED,
        expires_at__gt=now,
    ).order_by("expires_at")
    whole = active.filter(entity="").first()
    if whole is not None:
        return whole
    keys = {f.key for f in failing}
    covering = list(active.filter(entity__in=keys))
    if {e.entity for e in covering} == keys:
        return covering[0]
    return None


def evidence_collect(
    *, test: ControlTest, tenant: Tenant | None, run: TestRun | None, now: dt.datetime
) -> EvidenceRecord:
    """Run one test for one tenant (or the MSP) and append its evidence. The caller
    holds the tenant's context (or all tenants' for the MSP)."""
    control = test.control
    ctx = Context(
        tenant=tenant,
        period_start=now - dt.timedelta(days=test.period_days),
        period_end=now,
        now=now,
    )
    outcome = _outcome(test, ctx)
    failing = sorted(outcome.failing, key=lambda f: f.key)
    exception = None
    if outcome.not_applicable:
        result = Result.NOT_APPLICABLE
    elif not failing:
        result = Result.PASS
    else:
        exception = _covering_exception(tenant, control, failing, now)
        result = Result.EXCEPTION if exception else Result.FAIL
    record = EvidenceRecord(
        tenant=tenant,
        control=control,
        control_test=test,
        test_run=run,
        control_code=control.code,
        test_key=test.key,
        test_version=test.version,
        catalog_version=control.catalog_version,
        recorded_at=now,
        period_start=ctx.period_start,
        period_end=ctx.period_end,
        valid_until=now + dt.timedelta(days=control.validity_days),
        result=result,
        summary=outcome.summary,
        query_text="\n;\n".join(q["sql"] for q in ctx.queries),
        query_params={
            str(i + 1): {"store": q["store"], "params": q["params"]}
            for i, q in enumerate(ctx.queries)
        },
        population=sorted(outcome.population, key=lambda row: str(row.get("key", ""))),
        population_count=(
            outcome.population_count
            if outcome.population_count is not None
            else len(outcome.population)
        ),
        failing_entities=[f.as_dict() for f in failing],
        metrics=outcome.metrics,
        exception=exception,
    )
    return evidence_append(record)


def _claim(run_id: uuid.UUID) -> TestRun | None:
    """The run, marked running by this worker; None when it is finished or another
    worker runs it (one that started less than ``TAKE_OVER_AFTER`` ago)."""
    now = timezone.now()
    runs = TestRun.unscoped.filter(pk=run_id)
    claimed = runs.filter(status=TestRun.Status.QUEUED).update(
        status=TestRun.Status.RUNNING, started_at=now
    ) or runs.filter(status=TestRun.Status.RUNNING, started_at__lt=now - TAKE_OVER_AFTER).update(
        started_at=now
    )
    return runs.select_related("tenant").get() if claimed else None


def test_run_execute(*, run_id: uuid.UUID) -> TestRun:
    """Execute a queued run, or finish one whose worker died; leave any other alone."""
    with all_tenants_context():
        claimed = _claim(run_id)
        if claimed is None:
            return TestRun.unscoped.get(pk=run_id)
        run = claimed
        pairs = _tests_of(run)
        done = set(
            EvidenceRecord.unscoped.filter(test_run=run).values_list("tenant_id", "control_test_id")
        )
    now = timezone.now()
    for tenant, test in pairs:
        if (tenant.pk if tenant else None, test.pk) in done:
            continue
        scope = tenant_context(tenant) if tenant else all_tenants_context()
        with scope:
            evidence_collect(test=test, tenant=tenant, run=run, now=now)
    with all_tenants_context():
        written = EvidenceRecord.unscoped.filter(test_run=run)
        run.evidence_count = written.count()
        run.failed_count = written.filter(result=Result.FAIL).count()
        run.status = TestRun.Status.DONE
        run.finished_at = timezone.now()
        run.save(update_fields=["evidence_count", "failed_count", "status", "finished_at"])
    return run

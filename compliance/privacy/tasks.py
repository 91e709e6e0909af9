"""Celery tasks of retention and data-subject requests: thin, by id, idempotent, on the
maintenance queue."""

from __future__ import annotations

import datetime as dt
import uuid
from functools import partial

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from compliance.privacy import dsr, retention
from compliance.privacy.models import DataSubjectRequest, RetentionRun
from controlplane.core.tenancy import all_tenants_context

STALLED_RUN = dt.timedelta(hours=1)
STALLED_REQUEST = dt.timedelta(minutes=10)


@shared_task(name="privacy.retention_sweep", ignore_result=True)
def retention_sweep() -> int:
    """Every tenant's retention, once a day (beat)."""
    runs = retention.start_sweep(trigger=RetentionRun.Trigger.SCHEDULE, requested_by="schedule")
    for run in runs:
        if run.state == RetentionRun.State.RUNNING:
            transaction.on_commit(partial(retention_run.delay, str(run.pk)))
    return len(runs)


@shared_task(name="privacy.retention_run", acks_late=True, ignore_result=True)
def retention_run(run_id: str) -> None:
    retention.continue_run(uuid.UUID(run_id))


@shared_task(name="privacy.dsr_step", acks_late=True, ignore_result=True)
def dsr_step(request_id: str) -> None:
    """One step of a data-subject request; queues the next while there is one."""
    if dsr.advance(uuid.UUID(request_id)):
        transaction.on_commit(partial(dsr_step.delay, request_id))


@shared_task(name="privacy.resume", ignore_result=True)
def resume() -> int:
    """Queue again the runs and requests whose worker stopped (beat, every few minutes)."""
    now = timezone.now()
    with all_tenants_context():
        runs = list(
            RetentionRun.unscoped.filter(
                state=RetentionRun.State.RUNNING, started_at__lt=now - STALLED_RUN
            ).values_list("pk", flat=True)
        )
        requests = list(
            DataSubjectRequest.unscoped.filter(
                state__in=[DataSubjectRequest.State.SEARCHING, DataSubjectRequest.State.ERASING],
                updated_at__lt=now - STALLED_REQUEST,
            ).values_list("pk", flat=True)
        )
    for run_id in runs:
        transaction.on_commit(partial(retention_run.delay, str(run_id)))
    for request_id in requests:
        transaction.on_commit(partial(dsr_step.delay, str(request_id)))
    return len(runs) + len(requests)

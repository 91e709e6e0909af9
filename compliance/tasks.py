"""Celery tasks of the compliance evidence, on the ``maintenance`` queue: thin, by id,
idempotent."""

from __future__ import annotations

import uuid

from celery import shared_task
from django.utils import timezone

from compliance import runs, staleness
from compliance.models import TestRun
from controlplane.audit.services import Actor

SCHEDULE = Actor.system("compliance.schedule")


@shared_task(name="compliance.run_scheduled", ignore_result=True)
def run_scheduled() -> str:
    """Every hour: one MSP-wide run of every test."""
    run = runs.test_run_request(actor=SCHEDULE, trigger=TestRun.Trigger.SCHEDULE)
    return str(run.pk)


@shared_task(name="compliance.execute_test_run", ignore_result=True)
def execute_test_run(run_id: str) -> None:
    runs.test_run_execute(run_id=uuid.UUID(run_id))


@shared_task(name="compliance.notify_stale", ignore_result=True)
def notify_stale() -> int:
    return staleness.stale_evidence_notify(now=timezone.now())

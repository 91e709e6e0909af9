"""Celery tasks of the telemetry pipeline: thin, idempotent, by id, on the telemetry queue."""

from __future__ import annotations

import socket
import uuid
from functools import partial

from celery import shared_task
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from controlplane.agents.models import EdgeNode
from controlplane.core.tenancy import all_tenants_context
from controlplane.telemetry import maintenance, pull, reconcile


def _worker_id(request: object) -> str:
    """The lease owner: the Celery worker's node name (``name@host``), so an operator sees
    which worker holds a node, and the task id, so each run's lease is its own."""
    hostname = getattr(request, "hostname", None) or socket.gethostname()
    return f"{hostname}:{getattr(request, 'id', None) or uuid.uuid4()}"


@shared_task(name="telemetry.schedule_pulls", ignore_result=True)
def schedule_pulls() -> int:
    """Enqueue a pull for every node that is due and not being pulled."""
    now = timezone.now()
    with all_tenants_context():
        due = list(
            EdgeNode.unscoped.filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
            .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now))
            .values_list("pk", flat=True)
        )
    for node_id in due:
        transaction.on_commit(partial(pull_edge_node.delay, str(node_id)))
    return len(due)


@shared_task(
    name="telemetry.pull_edge_node",
    bind=True,
    acks_late=True,
    ignore_result=True,
)
def pull_edge_node(self: object, node_id: str) -> None:
    pull.pull_edge_node(uuid.UUID(node_id), worker=_worker_id(getattr(self, "request", None)))


@shared_task(name="telemetry.reconcile_recent", ignore_result=True)
def reconcile_recent() -> None:
    reconcile.reconcile_recent_hours()


@shared_task(name="telemetry.maintain_partitions", ignore_result=True)
def maintain_partitions() -> None:
    maintenance.maintain_ledger_partitions()

from celery import shared_task

from controlplane.tasks_runtime import record_heartbeat


@shared_task(name="core.heartbeat", ignore_result=True)
def heartbeat() -> None:
    """Proves beat schedules and a worker runs tasks; read by /healthz."""
    record_heartbeat()

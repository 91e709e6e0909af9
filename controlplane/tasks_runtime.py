"""Running Celery tasks: a real worker and beat, in-process in the embedded mode.

With no ``REDIS_URL`` the broker is Celery's in-memory transport, and ``start_in_process``
starts a Celery worker (thread pool) and beat as threads of the web process: the same
task code and schedule as the server stack, without a second process (chDB allows only
one process to own its data directory). ``task_runner_status`` reads the heartbeat that
beat schedules and a worker writes, so it proves the whole loop works.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from typing import Any

from celery import Celery, beat
from celery.worker import WorkController
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone
from kombu.exceptions import ChannelError, OperationalError

from controlplane.celery import app

logger = logging.getLogger(__name__)

HEARTBEAT_KEY = "tasks:heartbeat"
HEARTBEAT_EVERY = dt.timedelta(seconds=15)
HEARTBEAT_STALE_AFTER = dt.timedelta(seconds=60)
QUEUES = ("default", "telemetry", "maintenance", "billing", "security")

_started = threading.Event()
_threads: list[threading.Thread] = []
_worker: WorkController | None = None
_beat: beat.Service | None = None


def record_heartbeat() -> None:
    cache.set(HEARTBEAT_KEY, timezone.now().isoformat(), timeout=None)


def task_runner_status() -> dict[str, Any]:
    raw = cache.get(HEARTBEAT_KEY)
    mode = settings.TASK_RUNNER
    if raw is None:
        return {"ok": False, "mode": mode, "error": "no heartbeat from a worker yet"}
    age = timezone.now() - dt.datetime.fromisoformat(raw)
    return {
        "ok": age <= HEARTBEAT_STALE_AFTER,
        "mode": mode,
        "last_heartbeat": raw,
        "heartbeat_age_seconds": round(age.total_seconds(), 1),
    }


def queue_depths(
    queues: tuple[str, ...] = QUEUES, *, broker: Celery = app
) -> dict[str, int] | None:
    """Messages waiting in each queue of the broker (taken by no worker yet); None when
    the broker does not answer. Tasks a worker holds (acks_late) are not counted."""
    depths = {}
    try:
        with broker.connection_for_read() as connection:
            connection.ensure_connection(max_retries=1, interval_start=0, timeout=2)
            channel: Any = connection.default_channel  # kombu's virtual Channel
            for name in queues:
                try:
                    depths[name] = channel.queue_declare(queue=name, passive=True).message_count
                except ChannelError:  # never declared or, on Redis, empty: nothing waits
                    depths[name] = 0
    except (OperationalError, OSError):
        logger.warning("the Celery broker does not answer", exc_info=True)
        return None
    return depths


def start_in_process(*, concurrency: int = 4) -> None:
    """Start a worker and beat as daemon threads of this process (embedded mode only)."""
    global _worker, _beat
    if settings.TASK_RUNNER != "in-process":
        raise RuntimeError("start_in_process is for the embedded mode (no REDIS_URL)")
    if _started.is_set():
        return
    _started.set()
    _worker = WorkController(
        app=app,
        pool_cls="threads",
        concurrency=concurrency,
        queues=list(QUEUES),
        hostname="in-process@localhost",
        without_heartbeat=True,
        without_mingle=True,
        without_gossip=True,
    )
    _beat = beat.Service(
        app, max_interval=1, schedule_filename=str(settings.VAR_DIR / "celerybeat-schedule")
    )
    for name, target in (("celery-worker", _worker.start), ("celery-beat", _beat.start)):
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        _threads.append(thread)
    logger.info("in-process Celery worker and beat started")


def stop_in_process() -> None:
    if _beat is not None:
        _beat.stop()
    if _worker is not None:
        _worker.stop(in_sighandler=False)

"""A real Celery worker runs tasks, and /healthz reports it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from celery import Celery
from django.conf import settings
from django.core.cache import cache
from django.test import Client

from controlplane.celery import app
from controlplane.core.tasks import heartbeat
from controlplane.tasks_runtime import HEARTBEAT_KEY, queue_depths, task_runner_status

ROOT = Path(__file__).resolve().parent.parent

IN_PROCESS_SCRIPT = """
import time, django
django.setup()
from controlplane.tasks_runtime import start_in_process, stop_in_process, task_runner_status
from controlplane.core.tasks import heartbeat
start_in_process()
heartbeat.apply_async()
deadline = time.monotonic() + 20
while not task_runner_status()["ok"] and time.monotonic() < deadline:
    time.sleep(0.05)
print(task_runner_status())
stop_in_process()
"""


def test_in_process_worker_runs_a_task_sent_to_the_broker() -> None:
    """The embedded mode's worker: a real Celery worker thread on the in-memory broker."""
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env.update(
        CELERY_TASK_ALWAYS_EAGER="false", DJANGO_SETTINGS_MODULE="controlplane.settings_test"
    )
    result = subprocess.run(
        [sys.executable, "-c", IN_PROCESS_SCRIPT],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "'ok': True" in result.stdout
    assert "'mode': 'in-process'" in result.stdout


@pytest.mark.skipif(not settings.REDIS_URL, reason="needs REDIS_URL (the server stack)")
def test_celery_worker_process_runs_a_task_from_redis() -> None:
    cache.delete(HEARTBEAT_KEY)
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "controlplane.settings_test"}
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "controlplane",
            "worker",
            "-Q",
            "maintenance",
            "--pool",
            "solo",
            "--without-mingle",
            "--without-gossip",
            "-n",
            f"test-{os.getpid()}@%h",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        heartbeat.apply_async()
        deadline = time.monotonic() + 30
        while not task_runner_status()["ok"] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert task_runner_status()["ok"]
    finally:
        worker.terminate()
        worker.wait(timeout=20)


@pytest.mark.django_db
def test_healthz_reports_each_part(client: Client) -> None:
    heartbeat.apply()  # as a worker would
    response = client.get("/healthz")
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ok"
    assert body["postgres"]["ok"] and body["clickhouse"]["ok"] and body["tasks"]["ok"]


@pytest.mark.django_db
def test_healthz_says_degraded_without_a_worker(client: Client) -> None:
    cache.delete(HEARTBEAT_KEY)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["tasks"] == {
        "ok": False,
        "mode": settings.TASK_RUNNER,
        "error": "no heartbeat from a worker yet",
    }


def test_every_task_names_its_queue() -> None:
    from controlplane.celery import app
    from controlplane.tasks_runtime import QUEUES

    app.loader.import_default_modules()
    ours = sorted(name for name in app.tasks if not name.startswith("celery."))
    assert "telemetry.pull_edge_node" in ours
    for name in ours:
        assert settings.CELERY_TASK_ROUTES[name]["queue"] in QUEUES, name


# send_task goes to the broker even when tests run tasks eagerly: that is the point here.
@pytest.mark.filterwarnings("ignore:task_always_eager has no effect")
def test_queue_depths_count_the_messages_waiting_in_the_broker() -> None:
    """Against the configured broker (memory, or Redis when REDIS_URL is set); a queue
    of this test's own so parallel tests and workers cannot change the count."""
    queue = f"test-depth-{uuid.uuid4().hex}"
    assert queue_depths((queue,)) == {queue: 0}
    for _ in range(3):
        app.send_task("controlplane.core.tasks.heartbeat", queue=queue)
    try:
        assert queue_depths((queue,)) == {queue: 3}
    finally:
        with app.connection_for_write() as connection:
            connection.default_channel.queue_purge(queue)


def test_queue_depths_say_when_the_broker_is_unreachable() -> None:
    # not the current app: shared tasks of later tests in this process must not use it
    unreachable = Celery(broker="redis://127.0.0.1:1/0", set_as_current=False)
    assert queue_depths(("default",), broker=unreachable) is None

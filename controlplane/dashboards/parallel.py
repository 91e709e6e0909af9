"""A panel's ClickHouse queries side by side: each on a thread of a small pool, while
the request's thread reads PostgreSQL and renders. chDB runs queries of one process in
parallel (a session each, ``ChdbStore``) and clickhouse-connect's client serves every
thread; both wait outside the GIL. ``DASHBOARD_QUERY_THREADS = 1`` runs them one after
another in the caller's thread, as they ran before.
"""

from __future__ import annotations

import contextvars
import os
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from django.conf import settings

_pool: ThreadPoolExecutor | None = None
_pool_pid: int | None = None
_lock = threading.Lock()


def _executor(threads: int) -> ThreadPoolExecutor:
    global _pool, _pool_pid
    with _lock:
        if _pool is None or _pool_pid != os.getpid():  # a forked child makes its own
            _pool = ThreadPoolExecutor(threads, thread_name_prefix="dashboard-query")
            _pool_pid = os.getpid()
        return _pool


class Pending:
    """Calls started by ``start``; ``results()`` waits for all of them."""

    def __init__(self, futures: dict[str, Future[Any]]) -> None:
        self._futures = futures

    def results(self) -> dict[str, Any]:
        """Each call's result by name; the first failure is raised."""
        return {name: future.result() for name, future in self._futures.items()}


def start(calls: Mapping[str, Callable[[], Any]]) -> Pending:
    """Start every call (in the caller's context variables) on the pool, or run them
    here one after another when ``DASHBOARD_QUERY_THREADS`` is 1."""
    threads = settings.DASHBOARD_QUERY_THREADS
    futures: dict[str, Future[Any]] = {}
    if threads <= 1:
        for name, call in calls.items():
            future: Future[Any] = Future()
            try:
                future.set_result(call())
            except Exception as exc:
                future.set_exception(exc)
            futures[name] = future
        return Pending(futures)
    executor = _executor(threads)
    for name, call in calls.items():
        futures[name] = executor.submit(contextvars.copy_context().run, call)
    return Pending(futures)

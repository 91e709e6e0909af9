"""GET /healthz: the state of Postgres, ClickHouse and the task runner, as JSON."""

from __future__ import annotations

from typing import Any

from django.db import connection, transaction
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from controlplane.tasks_runtime import task_runner_status


def _postgres() -> dict[str, Any]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('server_version')")
            row = cursor.fetchone()
        return {"ok": True, "version": row[0] if row else None}
    except Exception as exc:  # health reports failures, it never raises them
        return {"ok": False, "error": str(exc)[:200]}


def _clickhouse() -> dict[str, Any]:
    try:
        from controlplane.analytics import get_store

        return {"ok": True, **get_store().ping()}
    except Exception as exc:  # health reports failures, it never raises them
        return {"ok": False, "error": str(exc)[:200]}


@require_GET
@never_cache
def livez(request: HttpRequest) -> JsonResponse:
    """The web process answers. For load balancers: it does not depend on other parts."""
    return JsonResponse({"status": "ok"})


@transaction.non_atomic_requests
@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    checks = {
        "postgres": _postgres(),
        "clickhouse": _clickhouse(),
        "tasks": task_runner_status(),
    }
    healthy = all(check.get("ok") for check in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "degraded", **checks}, status=200 if healthy else 503
    )

"""Quarantine from a critical alert to refusals at both edges of the tenant, through the
real processes: the detectors run in a Celery worker, raise a critical alert, the
tenant's automatic quarantine starts there, and the worker pushes the new bundle to both
``python -m edge`` nodes at once (docs/decisions/0027-quarantine-fast-path.md).

The pull interval is ten minutes and no beat runs, so no pull happens while the test
waits: only the fast path can bring the quarantine to the edges. How long it takes is
measured by bench/quarantine_latency.py, not asserted here.

Skipped without REDIS_URL and DATABASE_URL (CI sets both).
"""

from __future__ import annotations

import httpx
import pytest
from celery import Celery
from django.utils import timezone

from controlplane.agents.models import EdgeNode
from controlplane.audit.models import AuditEvent
from controlplane.core.tenancy import tenant_context
from controlplane.security.models import Alert, Quarantine
from controlplane.security.services import security_settings_update
from tests.conftest import SYSTEM
from tests.security import spans
from tests.stack.conftest import Stack, agent_headers, stack_skip_reason
from tests.stack.test_stack import wait_until

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(stack_skip_reason() is not None, reason=stack_skip_reason() or ""),
]

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}


def chat(url: str, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(f"{url}/v1/chat/completions", json=CHAT, headers=headers, timeout=30)


def quarantined(response: httpx.Response) -> bool:
    return response.status_code == 403 and response.json()["error"]["code"] == (
        "security.quarantined"
    )


def test_a_critical_alert_quarantines_the_agent_at_both_edges_without_a_pull(
    stack_base: Stack,
) -> None:
    stack = stack_base
    world = stack.world
    stack.app_env["EDGE_PULL_INTERVAL_SECONDS"] = "600"
    stack.start(stack.worker("w1", queues="default,telemetry,maintenance,security"))
    for node in world.nodes:
        stack.send_pull(node.pk)
    stack.wait_for_config()
    headers = agent_headers(world)
    urls = [stack.edge_url(0), stack.edge_url(1)]
    assert [chat(url, headers).status_code for url in urls] == [200, 200]

    security_settings_update(actor=SYSTEM, tenant=world.tenant, auto_quarantine=True)

    def pulls() -> dict[object, object]:
        with tenant_context(world.tenant):
            return dict(EdgeNode.objects.values_list("pk", "last_pull_at"))

    wait_until(lambda: None not in pulls().values(), 60, stack.diagnostics)
    pulled = pulls()
    now = timezone.now()
    agent = world.marketing
    where = {"tenant_id": world.tenant.pk, "site_id": world.site.pk, "node_id": world.nodes[0].pk}
    spans.insert(**where, agent_id=agent.pk, rows=spans.history(now))
    spans.insert(**where, agent_id=agent.pk, rows=spans.health_export(now))

    broker = Celery(broker=stack.app_env["REDIS_URL"], set_as_current=False)
    try:
        broker.send_task(
            "security.run_detection",
            args=[str(world.tenant.pk)],
            kwargs={"fresh": True},
            queue="security",
        )
    finally:
        broker.close()

    refused: dict[str, httpx.Response] = {}

    def both_refuse() -> bool:
        for url in urls:
            if url not in refused:
                answer = chat(url, headers)
                if quarantined(answer):
                    refused[url] = answer
        return len(refused) == 2

    wait_until(both_refuse, 120, stack.diagnostics, poll=0.05)
    assert "quarantine" in refused[urls[0]].json()["error"]["message"]

    with tenant_context(world.tenant):
        # The scope detector's critical alert (the rows also raise a volume alert).
        alert = Alert.objects.get(agent_ids__contains=[agent.pk], severity="critical")
        quarantine = Quarantine.objects.get(target_id=agent.pk, released_at__isnull=True)
        audited = AuditEvent.objects.filter(
            tenant=world.tenant, action="security.quarantine_started"
        ).count()
    assert pulls() == pulled, "no pull ran: the bundle came by the fast path"
    assert (alert.kind, alert.severity) == ("scope", "critical")
    assert quarantine.alert_id == alert.pk and quarantine.started_by == "security.auto_quarantine"
    assert audited == 1
    # Another agent of the tenant is still served at both edges.
    other = {
        "Authorization": f"Bearer {world.agent_keys[1]}",
        "x-acp-device-id": str(world.finance.device_id),
        "x-acp-device-key": world.device_keys[1],
    }
    assert not any(quarantined(chat(url, other)) for url in urls)

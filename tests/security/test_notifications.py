"""Notifications: signed webhooks a receiver can verify, deduplicated per incident and
severity, and bounded in an alert storm."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.core import mail

from controlplane.core.tenancy import tenant_context
from controlplane.security import notify
from controlplane.security.alerts import alerts_record
from controlplane.security.detectors import Finding
from controlplane.security.models import Incident, Notification
from controlplane.security.services import security_settings_update
from tenants.models import Tenant
from tests.conftest import SYSTEM

SECRET = "whsec-test-0123456789"
NOW = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)


class Receiver:
    """A local webhook endpoint that keeps what it was sent."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers), body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/hook"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.server.shutdown()


def finding(agent_id: uuid.UUID, severity: str = "high", minute: int = 0) -> Finding:
    start = NOW + dt.timedelta(minutes=minute)
    return Finding(
        kind="volume",
        subject=f"volume:{agent_id}",
        agent_ids=[agent_id],
        site_id=None,
        started_at=start,
        detected_at=start + dt.timedelta(minutes=1),
        ended_at=start + dt.timedelta(minutes=1),
        severity=severity,
        title="tasks 12x normal",
        evidence={"metric": "tasks", "ratio": 12.0, "observed": 120, "baseline_median": 10},
    )


def configure(tenant: Tenant, url: str) -> None:
    security_settings_update(
        actor=SYSTEM,
        tenant=tenant,
        webhook_url=url,
        webhook_secret=SECRET,
        notify_emails=["soc@customer.example"],
        min_notify_severity="low",
    )


def test_a_webhook_is_signed_fresh_and_cannot_be_replayed(
    tenant_a: Tenant, receiver: Receiver
) -> None:
    configure(tenant_a, receiver.url)
    with tenant_context(tenant_a):
        [alert] = alerts_record(tenant_id=tenant_a.pk, findings=[finding(uuid.uuid4())], now=NOW)
        incident = Incident.objects.get(pk=alert.incident_id)
        notify.notify_incident(incident, incident.severity)
        notify.notify_incident(incident, incident.severity)  # the same again: deduplicated
    assert len(receiver.received) == 1
    headers, body = receiver.received[0]
    payload = json.loads(body)
    assert payload["text"].startswith("[HIGH] tasks 12x normal")
    assert payload["blocks"][0]["type"] == "section", "Slack incoming-webhook blocks"
    assert payload["incident"]["id"] == str(incident.pk)
    seen: set[str] = set()
    notify.verify_signature(secret=SECRET, body=body, headers=headers, seen=seen)
    with pytest.raises(notify.SignatureError, match="replay"):
        notify.verify_signature(secret=SECRET, body=body, headers=headers, seen=seen)
    with pytest.raises(notify.SignatureError, match="does not match"):
        notify.verify_signature(
            secret=SECRET, body=body.replace(b"HIGH", b"LOW"), headers=headers, seen=set()
        )
    with pytest.raises(notify.SignatureError, match="too old"):
        notify.verify_signature(
            secret=SECRET, body=body, headers=headers, seen=set(), now=time.time() + 3600
        )
    with pytest.raises(notify.SignatureError, match="does not match"):
        notify.verify_signature(secret="another secret", body=body, headers=headers, seen=set())
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["soc@customer.example"]


@pytest.mark.slow
def test_an_alert_storm_sends_a_bounded_number_of_notifications(
    tenant_a: Tenant, receiver: Receiver, django_capture_on_commit_callbacks: Any
) -> None:
    configure(tenant_a, receiver.url)
    findings = [finding(uuid.uuid4(), minute=index % 60) for index in range(1000)]
    with django_capture_on_commit_callbacks(execute=True), tenant_context(tenant_a):
        created = alerts_record(tenant_id=tenant_a.pk, findings=findings, now=NOW)
    assert len(created) == 1000
    assert len(receiver.received) == notify.PER_HOUR
    assert len(mail.outbox) == notify.PER_HOUR
    with tenant_context(tenant_a):
        held = Notification.objects.filter(status="rate_limited").count()
    assert held == 2 * (1000 - notify.PER_HOUR), "every one held back is on record"

"""Notifications of incidents: email and signed webhooks, deduplicated and rate-limited.

A webhook body is JSON that Slack's incoming webhooks accept as it is (``text`` and
``blocks``) with the incident beside them. It is signed like Stripe's: header
``X-ACP-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``, with
``X-ACP-Delivery`` a unique id. A receiver checks the signature, refuses a timestamp
older than TOLERANCE and a delivery id it has seen (``verify_signature``): a captured
request cannot be replayed.

One notification per incident and severity and channel (the ``Notification`` row is the
deduplication key), and at most ``PER_HOUR`` per tenant and channel: an alert storm is
grouped into incidents first, and what is left over the limit is recorded as
``rate_limited``, not sent.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Mapping, MutableSet
from typing import Any

import httpx
from django.conf import settings as django_settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone

from controlplane.core.ids import new_id
from controlplane.security.models import SEVERITY_RANK, Incident, Notification
from controlplane.security.services import settings_for, webhook_secret

logger = logging.getLogger(__name__)

PER_HOUR = 10
TOLERANCE = dt.timedelta(minutes=5)
SIGNATURE_HEADER = "X-ACP-Signature"
DELIVERY_HEADER = "X-ACP-Delivery"
TIMEOUT = httpx.Timeout(5.0)


class SignatureError(ValueError):
    """A webhook request whose signature, age or delivery id is not acceptable."""


def sign(secret: str, body: bytes, timestamp: int) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def verify_signature(
    *,
    secret: str,
    body: bytes,
    headers: Mapping[str, str],
    seen: MutableSet[str],
    now: float | None = None,
) -> None:
    """What a receiver does with a delivery: raises SignatureError unless it is ours,
    fresh and new. ``seen`` holds the delivery ids accepted within TOLERANCE."""
    lowered = {k.lower(): v for k, v in headers.items()}
    fields = dict(
        part.split("=", 1)
        for part in lowered.get(SIGNATURE_HEADER.lower(), "").split(",")
        if "=" in part
    )
    try:
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        raise SignatureError("no timestamp in the signature header") from None
    if abs((now or time.time()) - timestamp) > TOLERANCE.total_seconds():
        raise SignatureError("the timestamp is too old or in the future")
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    if not hmac.compare_digest(expected, fields.get("v1", "")):
        raise SignatureError("the signature does not match")
    delivery = lowered.get(DELIVERY_HEADER.lower(), "")
    if not delivery or delivery in seen:
        raise SignatureError("a delivery id seen before (a replay) or none")
    seen.add(delivery)


def payload(incident: Incident) -> dict[str, Any]:
    base = getattr(django_settings, "PUBLIC_BASE_URL", "").rstrip("/")
    link = f"{base}/portal/security/incidents/{incident.pk}" if base else ""
    alerts = list(incident.alerts.order_by("started_at"))
    kinds = sorted({a.kind for a in alerts})
    text = (
        f"[{incident.severity.upper()}] {incident.title} "
        f"({len(alerts)} alert{'s' if len(alerts) != 1 else ''}: {', '.join(kinds)})"
    )
    return {
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{text}*"}},
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": f"started {incident.started_at.isoformat()} · "
                        f"state {incident.state}" + (f" · <{link}|open>" if link else ""),
                    }
                ],
            },
        ],
        "incident": {
            "id": str(incident.pk),
            "tenant_id": str(incident.tenant_id),
            "severity": incident.severity,
            "state": incident.state,
            "title": incident.title,
            "started_at": incident.started_at.isoformat(),
            "ended_at": incident.ended_at.isoformat(),
            "kinds": kinds,
            "agent_ids": sorted({str(a) for alert in alerts for a in alert.agent_ids}),
            "url": link,
        },
    }


def _claim(incident: Incident, channel: str, severity: str) -> Notification | None:
    """The notification row for this incident, severity and channel, or None when one
    exists (sent before). Over the hourly limit the row is recorded as rate_limited."""
    since = timezone.now() - dt.timedelta(hours=1)
    sent = (
        Notification.objects.filter(
            tenant_id=incident.tenant_id, channel=channel, created_at__gte=since
        )
        .exclude(status="rate_limited")
        .count()
    )
    try:
        with transaction.atomic():
            return Notification.objects.create(
                tenant_id=incident.tenant_id,
                dedup_key=f"incident:{incident.pk}:{severity}",
                channel=channel,
                incident=incident,
                created_at=timezone.now(),
                status="pending" if sent < PER_HOUR else "rate_limited",
            )
    except IntegrityError:
        return None


def notify_incident(incident: Incident, severity: str) -> list[Notification]:
    """Send what the tenant's settings ask for (caller holds the tenant's context)."""
    config = settings_for(incident.tenant_id)
    if SEVERITY_RANK[severity] < SEVERITY_RANK[config.min_notify_severity]:
        return []
    body = payload(incident)
    done = []
    if config.notify_emails:
        row = _claim(incident, "email", severity)
        if row is not None and row.status == "pending":
            try:
                send_mail(
                    subject=body["text"][:200],
                    message=json.dumps(body["incident"], indent=2),
                    from_email=None,
                    recipient_list=list(config.notify_emails),
                )
                row.status = "sent"
            except Exception as exc:  # recorded; a higher severity tries again
                row.status, row.detail = "failed", str(exc)[:500]
            row.save(update_fields=["status", "detail"])
        if row is not None:
            done.append(row)
    if config.webhook_url:
        row = _claim(incident, "webhook", severity)
        if row is not None and row.status == "pending":
            raw = json.dumps(body, separators=(",", ":")).encode()
            headers = {
                "Content-Type": "application/json",
                SIGNATURE_HEADER: sign(webhook_secret(config), raw, int(time.time())),
                DELIVERY_HEADER: str(new_id()),
            }
            try:
                response = httpx.post(
                    config.webhook_url, content=raw, headers=headers, timeout=TIMEOUT
                )
                row.status = "sent" if response.is_success else "failed"
                row.detail = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                row.status, row.detail = "failed", str(exc)[:500]
            row.save(update_fields=["status", "detail"])
        if row is not None:
            done.append(row)
    return done

"""Evidence past its validity: the control shows as stale, and its owner is emailed once
per lapsed record (``EvidenceStaleNotice`` is the deduplication key)."""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction

from compliance.models import EvidenceRecord, EvidenceStaleNotice
from compliance.status import LIGHT
from controlplane.core.tenancy import all_tenants_context
from tenants.models import Tenant

logger = logging.getLogger(__name__)


def _message(record: EvidenceRecord, slug: str | None) -> tuple[str, str]:
    whose = f"tenant {slug}" if slug else "the MSP"
    subject = f"Compliance evidence is stale: {record.control_code} for {whose}"
    body = (
        f"The evidence of control {record.control_code} ({record.control.title}) for {whose} "
        f"was valid until {record.valid_until.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC and no "
        f"newer evidence has been collected since.\n\n"
        f"Last result: {record.result} ({record.summary})\n"
        f"Test: {record.test_key} v{record.test_version}\n\n"
        f"Run the control's tests again from the compliance pages: "
        f"{settings.PUBLIC_URL}/console/compliance/{record.control.category}/\n"
    )
    return subject, body


def stale_evidence_notify(*, now: dt.datetime) -> int:
    """Email the owner of every control whose newest evidence (per tenant and test) has
    lapsed, once per lapsed record. Returns how many emails were sent."""
    sent = 0
    with all_tenants_context():
        slugs = dict(Tenant.objects.values_list("pk", "slug"))
        newest = (
            EvidenceRecord.unscoped.defer(*LIGHT)
            .select_related("control", "control_test")
            .order_by("tenant_id", "control_test_id", "-seq")
            .distinct("tenant_id", "control_test_id")
        )
        lapsed = [r for r in newest if r.valid_until < now and r.control_test.active]
        for record in lapsed:
            try:
                with transaction.atomic():
                    EvidenceStaleNotice.unscoped.create(
                        tenant_id=record.tenant_id,
                        evidence=record,
                        control=record.control,
                        recipient=record.control.owner_email,
                        notified_at=now,
                    )
                    subject, body = _message(record, slugs.get(record.tenant_id))
                    send_mail(subject, body, None, [record.control.owner_email])
            except IntegrityError:
                continue  # notified before
            sent += 1
    return sent

"""The automated control tests, each over real rows: what passes, what fails, and which
entity the evidence names."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.core import mail
from django.db import connection
from django.utils import timezone

from compliance.models import Control, EvidenceRecord
from compliance.privacy.models import RetentionRun
from compliance.reviews import access_review_record, exception_decide, exception_request
from compliance.staleness import stale_evidence_notify
from controlplane.accounts.models import User
from controlplane.agents.models import AgentKey
from controlplane.core.crypto import key_ring
from controlplane.core.tenancy import all_tenants_context, tenant_context
from controlplane.gateway import services as gateway
from controlplane.gateway.bundle import publish
from controlplane.gateway.models import ConfigChange, ProviderCredential
from controlplane.recovery.models import DrillRun
from controlplane.security.alerts import alerts_record
from controlplane.security.detectors import Finding
from controlplane.security.models import Alert
from tenants.models import Tenant
from tenants.services import tenant_update
from tests.compliance.controls import collect, entity_keys
from tests.conftest import SYSTEM
from tests.web.conftest import make_fleet

pytestmark = pytest.mark.django_db
DAY = dt.timedelta(days=1)


def test_staff_without_a_second_factor_fail_by_name(make_staff: Callable[..., User]) -> None:
    enrolled = make_staff("admin")
    missing = make_staff("operator", with_mfa=False)
    record = collect("cc6.staff_mfa")
    assert record.result == "fail" and record.tenant_id is None
    assert entity_keys(record) == {f"user:{missing.pk}"}
    assert record.population_count == 2
    assert {row["email"] for row in record.population} == {enrolled.email, missing.email}


def test_a_tenant_not_requiring_two_factor_fails_until_an_exception_is_approved(
    tenant_a: Tenant, make_customer: Callable[..., User], make_staff: Callable[..., User]
) -> None:
    owner = make_customer(tenant_a, "owner")
    first = collect("cc6.member_mfa", tenant_a)
    assert first.result == "fail"
    assert f"tenant:{tenant_a.pk}" in entity_keys(first)

    with tenant_context(tenant_a):
        exception = exception_request(
            actor=SYSTEM,
            requested_by=owner,
            tenant=tenant_a,
            control=Control.objects.get(code="CC6.1-MFA"),
            justification="Our people sign in through our own SSO with hardware keys.",
            expires_at=timezone.now() + 30 * DAY,
        )
        assert collect("cc6.member_mfa", tenant_a).result == "fail"  # pending counts for nothing
        exception_decide(
            actor=SYSTEM, decided_by=make_staff("admin"), exception=exception, approve=True
        )
    second = collect("cc6.member_mfa", tenant_a)
    assert second.result == "exception" and second.exception_id == exception.pk
    assert second.failing_entities == first.failing_entities


def test_access_reviews_cover_everyone_with_access(
    tenant_a: Tenant, make_customer: Callable[..., User]
) -> None:
    owner = make_customer(tenant_a, "owner")
    assert entity_keys(collect("cc6.access_review", tenant_a)) == {"review:none"}
    with tenant_context(tenant_a):
        access_review_record(actor=SYSTEM, reviewer=owner, tenant=tenant_a)
    assert collect("cc6.access_review", tenant_a).result == "pass"
    newcomer = make_customer(tenant_a, "member")
    assert entity_keys(collect("cc6.access_review", tenant_a)) == {f"user:{newcomer.pk}"}


def test_old_agent_keys_and_provider_keys_fail(tenant_a: Tenant) -> None:
    fleet = make_fleet(tenant_a)
    provider = gateway.provider_create(
        actor=SYSTEM, tenant=tenant_a, name="own", kind="openai", base_url="https://own.example/v1"
    )
    gateway.credential_set(actor=SYSTEM, provider=provider, secret="sk-own-0123456789abcd")
    assert collect("cc6.agent_keys", tenant_a).result == "pass"
    assert collect("cc6.provider_credentials", tenant_a).result == "pass"
    with tenant_context(tenant_a):
        AgentKey.objects.filter(pk=fleet.key.pk).update(created_at=timezone.now() - 200 * DAY)
        ProviderCredential.objects.update(created_at=timezone.now() - 120 * DAY)
    keys = collect("cc6.agent_keys", tenant_a)
    assert entity_keys(keys) == {f"agent_key:{fleet.key.pk}"}
    assert "issued 200 days ago" in keys.failing_entities[0]["reason"]
    credentials = collect("cc6.provider_credentials", tenant_a)
    assert credentials.result == "fail" and "…abcd" in credentials.failing_entities[0]["label"]


def test_the_recorded_query_reproduces_the_population(tenant_a: Tenant) -> None:
    make_fleet(tenant_a)
    make_fleet(tenant_a, "second")
    record = collect("cc6.agent_keys", tenant_a)
    sql = record.query_text.split("\n;\n")[0]
    params = record.query_params["1"]["params"]
    with tenant_context(tenant_a), connection.cursor() as cursor:
        cursor.execute(sql, params)
        assert len(cursor.fetchall()) == record.population_count == 2


def _alert(tenant: Tenant, agent_id: Any, severity: str, minutes_ago: int) -> Alert:
    now = timezone.now().replace(second=0, microsecond=0) - dt.timedelta(minutes=minutes_ago)
    finding = Finding(
        kind="volume",
        subject=f"volume:{agent_id}:{minutes_ago}",
        agent_ids=[agent_id],
        site_id=None,
        started_at=now - dt.timedelta(minutes=10),
        detected_at=now,
        ended_at=now,
        severity=severity,
        title=f"{severity} volume",
        evidence={},
    )
    with tenant_context(tenant):
        [alert] = alerts_record(tenant_id=tenant.pk, findings=[finding], now=now)
    return alert


def test_alerts_past_their_sla_and_uncontained_critical_alerts_fail(tenant_a: Tenant) -> None:
    agent = make_fleet(tenant_a).agent
    fresh = _alert(tenant_a, agent.pk, "low", minutes_ago=5)
    late = _alert(tenant_a, agent.pk, "critical", minutes_ago=90)
    triage = collect("cc7.alert_triage", tenant_a)
    assert entity_keys(triage) == {f"alert:{late.pk}"}
    assert "SLA ran out" in triage.failing_entities[0]["reason"]
    assert f"alert:{fresh.pk}" in {row["key"] for row in triage.population}
    assert entity_keys(collect("cc7.quarantines", tenant_a)) == {f"alert:{late.pk}"}


def test_a_bundle_changed_after_publishing_fails(tenant_a: Tenant) -> None:
    fleet = make_fleet(tenant_a)
    change = publish(site_id=fleet.site.pk, tenant_id=tenant_a.pk, actor=SYSTEM)
    assert collect("cc8.config_changes", tenant_a).result == "pass"
    with tenant_context(tenant_a):
        ConfigChange.objects.filter(pk=change.change_id).update(content={"agents": []})
    record = collect("cc8.config_changes", tenant_a)
    assert entity_keys(record) == {f"config_change:{change.change_id}"}
    assert "no longer matches its SHA-256" in record.failing_entities[0]["reason"]


def test_the_audit_trail_verifies(tenant_a: Tenant) -> None:
    record = collect("cc8.audit_trail")
    assert record.result == "pass" and record.metrics["entries"] >= 1


def test_a_backup_drill_must_have_passed_in_90_days() -> None:
    assert collect("a1.backup_drill").result == "fail"
    now = timezone.now()
    DrillRun.objects.create(
        started_at=now - DAY,
        finished_at=now - DAY,
        outcome="passed",
        period_from=now - 2 * DAY,
        period_to=now - DAY,
    )
    assert collect("a1.backup_drill").result == "pass"


def test_secrets_left_on_an_older_key_fail(tenant_a: Tenant, settings: Any) -> None:
    make_fleet(tenant_a)
    assert collect("c1.encryption_at_rest").result == "pass"
    settings.FIELD_ENCRYPTION_KEYS = [
        f"new:{Fernet.generate_key().decode()}",
        *settings.FIELD_ENCRYPTION_KEYS,
    ]
    key_ring.cache_clear()
    try:
        record = collect("c1.encryption_at_rest")
    finally:
        settings.FIELD_ENCRYPTION_KEYS = settings.FIELD_ENCRYPTION_KEYS[1:]
        key_ring.cache_clear()
    assert record.result == "fail"
    assert {e["label"] for e in record.failing_entities} == {"agents_edgenode.encrypted_token"}
    assert "rotate_field_keys" in record.failing_entities[0]["reason"]


def test_stale_evidence_emails_its_owner_once(tenant_a: Tenant) -> None:
    make_fleet(tenant_a)
    record = collect("cc6.agent_keys", tenant_a, now=timezone.now() - 10 * DAY)
    assert stale_evidence_notify(now=timezone.now()) == 1
    [message] = mail.outbox
    assert message.to == [record.control.owner_email]
    assert "CC6.1-AGENT-KEYS" in message.subject and "acme" in message.subject
    assert stale_evidence_notify(now=timezone.now()) == 0
    collect("cc6.agent_keys", tenant_a)  # renewed: nothing stale any more
    assert stale_evidence_notify(now=timezone.now() + DAY) == 0


def test_retention_must_have_run_and_no_request_is_left_unserved(tenant_a: Tenant) -> None:
    missing = collect("c1.retention_runs", tenant_a)
    assert missing.result == "fail"
    assert [e["reason"] for e in missing.failing_entities] == ["no retention run in the period"]
    with tenant_context(tenant_a):
        RetentionRun.objects.create(
            tenant=tenant_a,
            sweep_id=uuid.uuid4(),
            trigger="schedule",
            requested_by_label="tests",
            started_at=timezone.now() - DAY,
            finished_at=timezone.now() - DAY,
            state=RetentionRun.State.COMPLETED,
            policy={},
            cutoffs={},
        )
    assert collect("c1.retention_runs", tenant_a).result == "pass"
    assert collect("p.data_subject_requests", tenant_a).result == "pass"  # none received


def test_a_tenant_requiring_two_factor_names_members_without_it(
    tenant_a: Tenant, make_customer: Callable[..., User]
) -> None:
    member = make_customer(tenant_a, "member")
    tenant_update(actor=SYSTEM, tenant=tenant_a, mfa_required=True)
    record = collect("cc6.member_mfa", tenant_a)
    assert entity_keys(record) == {f"user:{member.pk}"}
    with all_tenants_context():
        assert EvidenceRecord.unscoped.filter(tenant=tenant_a).count() == 1

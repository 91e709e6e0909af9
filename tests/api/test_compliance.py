"""Compliance over the API: controls with their state, test runs, evidence (its download
verifies on its own), exceptions that only someone else at the MSP may approve, and the
MSP's own evidence for MSP staff."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.utils import timezone

from compliance.models import EvidenceRecord, TestRun
from controlplane.core.tenancy import all_tenants_context
from tests.api.conftest import World
from tests.compliance.controls import collect
from tests.compliance.documents import document_hash, sha256_of

pytestmark = pytest.mark.django_db


def base(world: World) -> str:
    return f"tenants/{world.a.slug}/compliance"


def test_members_read_controls_failing_first(world: World) -> None:
    member = world.api("a:member")
    answer = member.get(f"{base(world)}/controls")
    assert answer.status_code == 200
    controls = answer.json()
    states = [c["state"] for c in controls]
    order = ["fail", "stale", "missing", "exception", "pass", "not_applicable"]
    assert states == sorted(states, key=order.index)
    keys = next(c for c in controls if c["code"] == "CC6.1-AGENT-KEYS")
    assert keys["state"] == "pass"
    assert {t["key"] for t in keys["tests"]} == {"cc6.agent_keys", "cc6.device_bindings"}
    assert all(t["latest"]["evidence_id"] for t in keys["tests"])
    one = member.get(f"{base(world)}/controls/CC6.1-AGENT-KEYS")
    assert one.status_code == 200 and one.json() == keys
    assert member.get(f"{base(world)}/controls/NO-SUCH").status_code == 404
    assert world.api("b:owner").get(f"{base(world)}/controls").status_code == 404


def test_owners_trigger_runs_members_cannot(
    world: World, django_capture_on_commit_callbacks: Any
) -> None:
    assert world.api("a:member").post(f"{base(world)}/test-runs", {}).status_code == 403
    bad = world.api("a:owner").post(f"{base(world)}/test-runs", {"control": "NOPE"})
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "control"
    with django_capture_on_commit_callbacks(execute=True):
        queued = world.api("a:owner").post(
            f"{base(world)}/test-runs", {"control": "CC6.1-CREDENTIALS"}
        )
    assert queued.status_code == 202, queued.content
    run = world.api("a:viewer").get(f"{base(world)}/test-runs/{queued.json()['id']}").json()
    assert run["status"] == "done" and run["control"] == "CC6.1-CREDENTIALS"
    assert run["evidence_count"] == 1  # the tenant's test; the MSP-wide one is not its to run
    listed = world.api("a:member").get(f"{base(world)}/evidence", test_run=run["id"]).json()
    assert [e["test_key"] for e in listed["results"]] == ["cc6.provider_credentials"]


def test_evidence_downloads_as_a_document_that_verifies_on_its_own(world: World) -> None:
    api = world.api("a:viewer")
    evidence_id = world.a_objects["evidence"]
    detail = api.get(f"{base(world)}/evidence/{evidence_id}").json()
    assert detail["query_text"].startswith("SELECT") and detail["query_params"]["1"]["params"]
    download = api.get(f"{base(world)}/evidence/{evidence_id}/download")
    assert download.status_code == 200
    assert download["Content-Disposition"].startswith('attachment; filename="evidence-')
    document = json.loads(download.content)
    assert sha256_of(document["population"]) == document["data_sha256"]
    assert document_hash(document) == document["hash"] == detail["hash"]
    assert api.get(f"{base(world)}/evidence", result="nope").status_code == 400
    b_evidence = world.b_objects["evidence"]
    assert api.get(f"{base(world)}/evidence/{b_evidence}").status_code == 404


def test_exceptions_are_approved_by_msp_staff_other_than_the_requester(world: World) -> None:
    owner, staff = world.api("a:owner"), world.api("staff:admin")
    body = {
        "control": "CC6.1-MFA",
        "justification": "Our people sign in through our own SSO with hardware keys.",
        "expires_at": "2099-01-01T00:00:00Z",
    }
    too_far = owner.post(f"{base(world)}/exceptions", body)
    assert too_far.status_code == 400 and too_far.json()["errors"][0]["field"] == "expires_at"
    short = owner.post(f"{base(world)}/exceptions", {**body, "justification": "because"})
    assert short.status_code == 400 and short.json()["errors"][0]["field"] == "justification"

    soon = (timezone.now() + dt.timedelta(days=30)).isoformat()
    own = staff.post(f"{base(world)}/exceptions", {**body, "expires_at": soon})
    assert own.status_code == 201, own.content
    mine = own.json()["id"]
    refused = staff.post(f"{base(world)}/exceptions/{mine}/approve", {})
    assert refused.status_code == 409 and "other than the requester" in refused.json()["detail"]

    pending = world.a_objects["exception"]
    assert owner.post(f"{base(world)}/exceptions/{pending}/approve", {}).status_code == 403
    approved = staff.post(f"{base(world)}/exceptions/{pending}/approve", {"note": "ok"})
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    assert approved.json()["decided_by_label"] == world.users["staff:admin"].email
    again = world.api("staff:operator").post(f"{base(world)}/exceptions/{pending}/reject", {})
    assert again.status_code == 409
    listed = world.api("a:member").get(f"{base(world)}/exceptions", status="approved").json()
    assert [e["id"] for e in listed["results"]] == [str(pending)]


def test_a_member_limited_to_departments_sees_no_evidence(world: World) -> None:
    from tenants.models import Department, Membership
    from tenants.services import membership_set_departments
    from tests.conftest import SYSTEM

    with all_tenants_context():
        membership = Membership.unscoped.get(user=world.users["a:member"])
        department = Department.unscoped.get(pk=world.a_objects["department"])
    membership_set_departments(actor=SYSTEM, membership=membership, departments=[department])
    assert world.api("a:member").get(f"{base(world)}/evidence").status_code == 404
    assert world.api("a:owner").get(f"{base(world)}/evidence").status_code == 200
    with all_tenants_context():
        assert EvidenceRecord.unscoped.filter(tenant=world.a).exists()
        assert TestRun.unscoped.filter(tenant=world.a).exists()


def test_msp_staff_read_the_msps_own_evidence_customers_do_not(world: World) -> None:
    msp = collect("a1.backup_drill")
    auditor = world.api("staff:auditor")
    listed = auditor.get("compliance/evidence")
    assert listed.status_code == 200
    assert [e["id"] for e in listed.json()["results"]] == [str(msp.pk)]
    detail = auditor.get(f"compliance/evidence/{msp.pk}").json()
    assert detail["control_code"] == "A1.3-RECOVERY" and detail["hash"] == msp.hash
    download = auditor.get(f"compliance/evidence/{msp.pk}/download")
    document = json.loads(download.content)
    assert document_hash(document) == msp.hash
    assert auditor.get("compliance/evidence", result="fail").json()["results"][0]["seq"] == 1
    # A tenant's record is not the MSP's, nor the MSP's a tenant's.
    assert auditor.get(f"compliance/evidence/{world.a_objects['evidence']}").status_code == 404
    assert world.api("a:owner").get(f"{base(world)}/evidence/{msp.pk}").status_code == 404
    assert world.api("a:owner").get("compliance/evidence").status_code == 403
    limited = world.api("staff:admin", tenant=world.a).get("compliance/evidence")
    assert limited.status_code == 403

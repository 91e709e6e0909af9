"""The compliance pages in the portal and the console: who sees which evidence, who may
run tests, request, approve and review, and what each page shows."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from compliance.models import AccessReview, ControlException, EvidenceRecord, TestRun
from compliance.status import STATE_ORDER
from controlplane.accounts.models import User
from controlplane.core.tenancy import all_tenants_context
from tenants.models import Membership, Tenant
from tenants.services import membership_set_departments
from tests.compliance.controls import collect
from tests.conftest import SYSTEM, signed_in
from tests.web.conftest import World, make_fleet

pytestmark = pytest.mark.django_db
CATEGORIES = ("security", "availability", "processing_integrity", "confidentiality", "privacy")


def portal(name: str, tenant: Tenant, *args: object) -> str:
    return reverse(f"web:portal_{name}", args=[tenant.slug, *args])


def console(name: str, *args: object) -> str:
    return reverse(f"web:console_{name}", args=list(args))


@pytest.fixture
def evidence(world: World) -> dict[str, EvidenceRecord]:
    make_fleet(world.a)
    make_fleet(world.b)
    return {
        "a": collect("cc6.member_mfa", world.a),
        "b": collect("cc6.member_mfa", world.b),
        "msp": collect("a1.backup_drill"),
    }


def test_members_read_every_criterion_page_of_their_tenant(
    world: World, evidence: dict[str, EvidenceRecord]
) -> None:
    client = signed_in(world.a_member)
    overview = client.get(portal("compliance", world.a))
    assert overview.status_code == 200
    for category in CATEGORIES:
        page = client.get(portal("compliance_criterion", world.a, category))
        assert page.status_code == 200, category
    security = client.get(portal("compliance_criterion", world.a, "security")).content.decode()
    assert "CC6.1-MFA" in security and str(evidence["a"].pk) in security
    assert str(evidence["b"].pk) not in security and world.b.name not in security
    assert "Run the tests now" not in overview.content.decode()  # members read only
    availability = client.get(portal("compliance_criterion", world.a, "availability"))
    text = availability.content.decode()
    assert "0 drills in 90 days" in text  # the MSP-wide result, shown
    assert str(evidence["msp"].pk) not in text  # but not its record
    assert client.get(portal("compliance_criterion", world.a, "nope")).status_code == 404


def test_controls_are_listed_failing_first(
    world: World, evidence: dict[str, EvidenceRecord]
) -> None:
    page = signed_in(world.a_owner).get(portal("compliance_criterion", world.a, "security"))
    states = [state.decode() for state in re.findall(rb'data-state="([a-z_]+)"', page.content)]
    assert states and states == sorted(states, key=STATE_ORDER.index)
    assert states[0] == "fail"


def test_outsiders_and_department_members_see_nothing(
    world: World, evidence: dict[str, EvidenceRecord]
) -> None:
    outsider = signed_in(world.b_owner)
    for url in (
        portal("compliance", world.a),
        portal("compliance_criterion", world.a, "security"),
        portal("compliance_evidence", world.a, evidence["a"].pk),
    ):
        assert outsider.get(url).status_code == 404, url
    # Its own slug does not open another tenant's or the MSP's records either.
    for record in (evidence["a"], evidence["msp"]):
        assert outsider.get(portal("compliance_evidence", world.b, record.pk)).status_code == 404
    membership_set_departments(
        actor=SYSTEM, membership=world.membership(world.a_member), departments=[world.a_department]
    )
    assert signed_in(world.a_member).get(portal("compliance", world.a)).status_code == 404


def test_evidence_page_and_download(world: World, evidence: dict[str, EvidenceRecord]) -> None:
    record = evidence["a"]
    client = signed_in(world.a_member)
    page = client.get(portal("compliance_evidence", world.a, record.pk)).content.decode()
    assert record.hash in page and record.data_sha256 in page
    assert "SELECT" in page and "no confirmed authenticator" in page
    download = client.get(portal("compliance_evidence_download", world.a, record.pk))
    document = json.loads(download.content)
    assert document["hash"] == record.hash and document["population"] == record.population


def test_owners_run_tests_and_request_exceptions_members_cannot(
    world: World, evidence: dict[str, EvidenceRecord], django_capture_on_commit_callbacks: Any
) -> None:
    member = signed_in(world.a_member)
    assert member.post(portal("compliance_run", world.a)).status_code == 403
    body = {
        "control": "CC6.1-MFA",
        "justification": "Our people sign in through our own SSO with hardware keys.",
        "expires_on": "2026-12-31",
    }
    assert member.post(portal("compliance_exception_create", world.a), body).status_code == 403

    owner = signed_in(world.a_owner)
    with django_capture_on_commit_callbacks(execute=True):
        assert owner.post(portal("compliance_run", world.a)).status_code == 302
    with all_tenants_context():
        run = TestRun.unscoped.get(tenant=world.a)
        assert run.status == "done" and run.requested_by == world.a_owner
        assert not EvidenceRecord.unscoped.filter(test_run=run, tenant__isnull=True).exists()
    response = owner.post(portal("compliance_exception_create", world.a), body, follow=True)
    assert response.status_code == 200
    with all_tenants_context():
        exception = ControlException.unscoped.get(tenant=world.a)
    assert exception.status == "pending" and exception.requested_by == world.a_owner
    assert "Exception requested" in response.content.decode()


def test_staff_approve_what_others_requested_not_their_own(
    world: World, evidence: dict[str, EvidenceRecord], make_staff: Callable[..., User]
) -> None:
    signed_in(world.a_owner).post(
        portal("compliance_exception_create", world.a),
        {
            "control": "CC6.1-MFA",
            "justification": "Our people sign in through our own SSO with hardware keys.",
            "expires_on": "2026-12-31",
        },
    )
    with all_tenants_context():
        exception = ControlException.unscoped.get(tenant=world.a)
    admin, auditor = make_staff("admin"), make_staff("auditor")
    decide = console("compliance_exception_decide", exception.pk)
    assert signed_in(auditor).post(decide, {"decision": "approve"}).status_code == 403
    assert signed_in(world.a_owner).post(decide, {"decision": "approve"}).status_code == 404
    page = signed_in(admin).get(console("compliance_criterion", "security") + "?tenant=acme")
    assert "Approve" in page.content.decode()
    signed_in(admin).post(decide, {"decision": "approve", "note": "SSO reviewed"})
    with all_tenants_context():
        exception.refresh_from_db()
    assert exception.status == "approved" and exception.decided_by == admin

    created = signed_in(admin).post(
        console("compliance_exception_create"),
        {
            "tenant": "acme",
            "control": "CC6.2-REVIEW",
            "justification": "The review is booked for next week with the customer.",
            "expires_on": "2026-12-31",
        },
        follow=True,
    )
    assert "Exception requested" in created.content.decode(), created.content.decode()[-3000:]
    with all_tenants_context():
        own = ControlException.unscoped.get(control__code="CC6.2-REVIEW")
    response = signed_in(admin).post(
        console("compliance_exception_decide", own.pk), {"decision": "approve"}, follow=True
    )
    assert "Someone other than the requester" in response.content.decode()
    with all_tenants_context():
        own.refresh_from_db()
    assert own.status == "pending"


def test_staff_see_every_tenant_and_the_msp(
    world: World, evidence: dict[str, EvidenceRecord], make_staff: Callable[..., User]
) -> None:
    client = signed_in(make_staff("auditor"))
    page = client.get(console("compliance_criterion", "security")).content.decode()
    assert "acme: fail" in page and "globex: fail" in page
    one = client.get(console("compliance_criterion", "security") + "?tenant=acme").content
    assert str(evidence["a"].pk) in one.decode() and str(evidence["b"].pk) not in one.decode()
    msp = client.get(console("compliance_evidence", evidence["msp"].pk))
    assert msp.status_code == 200 and "the MSP's own, position 1" in msp.content.decode()
    assert (
        client.get(console("compliance_criterion", "security") + "?tenant=nope").status_code == 404
    )
    assert client.post(console("compliance_run")).status_code == 403  # auditors read only


def test_access_reviews_from_both_areas(
    world: World, evidence: dict[str, EvidenceRecord], make_staff: Callable[..., User]
) -> None:
    back = signed_in(world.a_owner).post(
        portal("compliance_access_review", world.a),
        {"note": "Q4", "next": "https://elsewhere.example/"},
    )
    assert back["Location"] == portal("compliance", world.a)  # never to another site
    signed_in(make_staff("operator")).post(console("compliance_access_review"), {})
    with all_tenants_context():
        reviews = {r.tenant_id: r for r in AccessReview.unscoped.all()}
        members = Membership.unscoped.filter(tenant=world.a).count()
    assert reviews[world.a.pk].note == "Q4" and len(reviews[world.a.pk].entries) == members
    assert reviews[None].entries[0]["role"] == "operator"
    assert collect("cc6.access_review", world.a).result == "pass"
    assert (
        signed_in(world.a_member).post(portal("compliance_access_review", world.a)).status_code
        == 403
    )


def test_the_navigation_leads_to_compliance(world: World, make_staff: Callable[..., User]) -> None:
    page = signed_in(world.a_member).get(portal("home", world.a)).content.decode()
    assert portal("compliance", world.a) in page
    console_page = signed_in(make_staff("admin")).get(console("tenants")).content.decode()
    assert console("compliance") in console_page


def test_anonymous_people_are_sent_to_sign_in(world: World) -> None:
    response = Client().get(portal("compliance", world.a))
    assert response.status_code == 302 and "/login/" in response["Location"]

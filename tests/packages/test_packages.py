"""Evidence packages: what is inside, who gets them, and that making one is recorded,
happens once, and fails visibly."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from django.urls import reverse

from compliance.models import EvidencePackage
from compliance.packages.archive import MANIFEST, sha256
from compliance.packages.services import package_build, package_request
from controlplane.accounts.models import User
from controlplane.analytics import StoreError
from controlplane.audit.models import AuditEvent
from controlplane.audit.services import audit_verify
from controlplane.core.tenancy import all_tenants_context, tenant_context
from tests.compliance.controls import collect
from tests.conftest import SYSTEM, signed_in
from tests.packages.conftest import Built, this_month, with_traffic
from tests.web.conftest import Fleet, World

pytestmark = pytest.mark.django_db


def actions(package: EvidencePackage) -> list[str]:
    with all_tenants_context():
        events = AuditEvent.unscoped.filter(target_id=str(package.pk)).order_by("seq")
        return [e.action for e in events]


def test_a_package_holds_the_period_signed_and_listed(
    world: World, fleet_a: Fleet, build: Callable[..., Built]
) -> None:
    with_traffic(fleet_a)
    built = build(world.a)
    members = built.members()
    manifest = json.loads(members[MANIFEST])

    listed = {entry["path"]: entry["sha256"] for entry in manifest["files"]}
    assert set(listed) == set(members) - {MANIFEST, "manifest.sig"}
    assert all(sha256(members[path]) == digest for path, digest in listed.items())
    assert manifest["tenant"]["slug"] == "acme"
    assert manifest["period"]["start"] == this_month().start.isoformat()
    with all_tenants_context():
        head = AuditEvent.unscoped.order_by("-seq").first()
    assert head is not None and manifest["audit_chain_head"]["seq"] >= 1
    assert manifest["signing_key"]["key_id"] == built.package.key_id
    assert built.package.sha256 == sha256(built.data)

    for category in (
        "security",
        "availability",
        "processing_integrity",
        "confidentiality",
        "privacy",
    ):
        assert members[f"criteria/{category}.pdf"].startswith(b"%PDF")
    svg = members["dataflow/period.svg"].decode()
    assert svg.startswith("<svg") and "acme-agent" in svg  # the traffic sent above
    events = list(csv.DictReader(io.StringIO(members["audit/events.csv"].decode())))
    assert {"tenant.created", "agent.created"} <= {e["action"] for e in events}
    assert all(e["target_label"] != "Globex" for e in events)
    assert b"BEGIN PUBLIC KEY" in members["signing-key.pem"]
    assert b"verify_evidence_package" in members["README.txt"]


def test_making_and_downloading_are_audited_and_the_trail_still_verifies(
    world: World, build: Callable[..., Built]
) -> None:
    built = build(world.a)
    owner = signed_in(world.a_owner)

    response = owner.get(
        reverse("web:portal_evidence_package_download", args=[world.a.slug, built.package.pk])
    )

    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert response.content == built.data
    assert built.package.file_name in response["Content-Disposition"]
    assert actions(built.package) == [
        "evidence_package.requested",
        "evidence_package.generated",
        "evidence_package.downloaded",
    ]
    assert audit_verify().ok


def test_the_owner_requests_in_the_portal_and_staff_in_the_console(
    world: World,
    make_customer: Callable[..., User],
    make_staff: Callable[..., User],
    django_capture_on_commit_callbacks: Callable,
) -> None:
    period = this_month()
    data = {"period_start": period.start.isoformat(), "period_end": period.end.isoformat()}
    portal = reverse("web:portal_evidence_packages", args=[world.a.slug])
    with django_capture_on_commit_callbacks(execute=True):
        response = signed_in(world.a_owner).post(portal, data)
    assert response.status_code == 302
    page = signed_in(world.a_owner).get(portal).content.decode()
    assert "Ready" in page and "Download" in page

    for role in ("admin", "member", "viewer"):  # the owner's only
        client = signed_in(make_customer(world.a, role))
        assert client.get(portal).status_code == 403, role
        assert client.post(portal, data).status_code == 403, role
    assert signed_in(world.b_owner).get(portal).status_code == 404

    console = reverse("web:console_evidence_packages", args=[world.a.slug])
    assert signed_in(make_staff("operator")).post(console, data).status_code == 302
    staff_auditor = signed_in(make_staff("auditor"))
    assert staff_auditor.get(console).status_code == 200
    assert staff_auditor.post(console, data).status_code == 403
    with tenant_context(world.a):
        assert EvidencePackage.objects.count() == 2


def test_bad_periods_are_named(world: World) -> None:
    portal = reverse("web:portal_evidence_packages", args=[world.a.slug])
    client = signed_in(world.a_owner)
    for data, message in (
        ({"period_start": "2026-05-01"}, "Give both dates, or choose a quarter."),
        ({"period_start": "2026-05-01", "period_end": "2026-04-01"}, "must not be after"),
        ({"period_start": "2024-01-01", "period_end": "2026-01-01"}, "at most 366 days"),
        ({"period_start": "2999-01-01", "period_end": "2999-02-01"}, "has not started yet"),
    ):
        response = client.post(portal, data)
        assert response.status_code == 200
        assert message in response.content.decode(), data


def test_a_package_is_made_once(world: World, build: Callable[..., Built]) -> None:
    built = build(world.a)

    package_build(package_id=built.package.pk)  # a retried or duplicated task

    with tenant_context(world.a):
        again = EvidencePackage.objects.get(pk=built.package.pk)
    assert bytes(again.content) == built.data
    assert actions(built.package).count("evidence_package.generated") == 1


@pytest.mark.usefixtures("clickhouse_down")
def test_a_failed_build_says_why(
    world: World, django_capture_on_commit_callbacks: Callable
) -> None:
    with pytest.raises(StoreError), django_capture_on_commit_callbacks(execute=True):
        package_request(actor=SYSTEM, tenant=world.a, period=this_month())
    with tenant_context(world.a):
        package = EvidencePackage.objects.get()
    assert package.status == EvidencePackage.Status.FAILED
    assert package.error
    assert actions(package)[-1] == "evidence_package.failed"
    page = signed_in(world.a_owner).get(
        reverse("web:portal_evidence_packages", args=[world.a.slug])
    )
    assert "Failed" in page.content.decode()


def _pdf_text(data: bytes, tmp_path: Path) -> str:
    path = tmp_path / "report.pdf"
    path.write_bytes(data)
    run = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True)
    return run.stdout


def test_the_evidence_of_the_period_is_in_it(
    world: World, fleet_a: Fleet, build: Callable[..., Built], tmp_path: Path
) -> None:
    keys = collect("cc6.agent_keys", world.a)  # passes: one fresh key
    mfa = collect("cc6.member_mfa", world.a)  # fails: the tenant does not require it
    assert (keys.result, mfa.result) == ("pass", "fail")

    members = build(world.a).members()

    manifest = json.loads(members[MANIFEST])
    assert manifest["evidence_chain"]["records"] == 2
    [document] = json.loads(members[f"evidence/security/{mfa.control_code}.json"])
    assert (document["seq"], document["hash"]) == (mfa.seq, mfa.hash)
    assert document["failing_entities"] == mfa.failing_entities
    rows = list(
        csv.DictReader(
            io.StringIO(members[f"populations/{keys.control_code}/cc6.agent_keys.csv"].decode())
        )
    )
    assert [(r["agent"], r["failing"], r["evidence_seq"]) for r in rows] == [
        ("acme-agent", "no", str(keys.seq))
    ]
    failing = list(
        csv.DictReader(
            io.StringIO(members[f"populations/{mfa.control_code}/cc6.member_mfa.csv"].decode())
        )
    )
    assert failing and all(
        r["failing"] == "yes"
        for r in failing
        if r["key"] in {e["key"] for e in mfa.failing_entities}
    )
    report = _pdf_text(members["criteria/security.pdf"], tmp_path)
    assert mfa.control_code in report and keys.control_code in report
    assert "records that did not pass" in report.lower()

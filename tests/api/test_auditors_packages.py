"""The API of evidence packages and auditor accounts: who may, what they get, and bad
input named as problem+json."""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from collections.abc import Callable

import pytest
from django.utils import timezone

from compliance.periods import Period
from controlplane.accounts.models import AuditorAccount
from tests.api.conftest import World

pytestmark = pytest.mark.django_db


def quarter() -> Period:
    return Period.last_full_quarter(timezone.now().date())


def test_the_owner_requests_lists_and_downloads_a_package(
    world: World, django_capture_on_commit_callbacks: Callable
) -> None:
    owner = world.api("a:owner")
    packages = f"tenants/{world.a.slug}/compliance/packages"
    with django_capture_on_commit_callbacks(execute=True):
        created = owner.post(packages, {"quarter": quarter().label})
    assert created.status_code == 201, created.content
    package_id = created.json()["id"]
    assert created.json()["period_start"] == quarter().start.isoformat()

    detail = owner.get(f"{packages}/{package_id}").json()
    assert detail["status"] == "ready" and detail["key_id"] and len(detail["sha256"]) == 64
    listed = owner.get(packages, status="ready").json()["results"]
    assert package_id in [p["id"] for p in listed]
    download = owner.get(f"{packages}/{package_id}/download")
    assert download.status_code == 200
    assert download["Content-Type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(download.content)).namelist()
    assert names[:2] == ["manifest.json", "manifest.sig"]

    for role in ("admin", "member", "viewer"):
        assert world.api(f"a:{role}").get(packages).status_code == 403, role
    assert world.api("staff:auditor").get(f"{packages}/{package_id}/download").status_code == 200


def test_a_package_not_made_yet_is_not_downloadable(world: World) -> None:
    packages = f"tenants/{world.a.slug}/compliance/packages"
    package_id = world.a_objects["evidence_package"]  # requested, never made here

    response = world.api("staff:admin").get(f"{packages}/{package_id}/download")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "period_start"),
        ({"period_start": "2026-05-01"}, "period_end"),
        ({"quarter": "2026-Q5"}, "quarter"),
        ({"quarter": "2026-Q1", "period_start": "2026-01-01"}, "quarter"),
        ({"period_start": "2026-05-01", "period_end": "2026-04-01"}, "period_end"),
        ({"period_start": "2024-01-01", "period_end": "2026-01-01"}, "period_end"),
        ({"period_start": "2999-01-01", "period_end": "2999-02-01"}, "period_start"),
    ],
)
def test_bad_periods_are_named(world: World, body: dict[str, str], field: str) -> None:
    response = world.api("staff:operator").post(f"tenants/{world.a.slug}/compliance/packages", body)

    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert field in {error["field"] for error in response.json()["errors"]}


def test_an_admin_gives_extends_and_revokes_an_auditors_access(world: World) -> None:
    admin = world.api("staff:admin")
    expires = (timezone.now() + dt.timedelta(days=20)).replace(microsecond=0)
    created = admin.post(
        "auditors",
        {
            "email": "jane@cpa.example",
            "organization": "Example CPA LLP",
            "tenants": [world.a.slug, world.b.slug],
            "quarter": quarter().label,
            "expires_at": expires.isoformat(),
        },
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["tenants"] == sorted([world.a.slug, world.b.slug])
    assert body["active"] is True

    later = expires + dt.timedelta(days=10)
    patched = admin.patch(f"auditors/{body['id']}", {"expires_at": later.isoformat()})
    assert patched.status_code == 200
    assert patched.json()["expires_at"].startswith(later.date().isoformat())

    revoked = admin.delete(f"auditors/{body['id']}")
    assert revoked.status_code == 200
    assert revoked.json()["active"] is False and revoked.json()["revoked_at"]
    assert not AuditorAccount.objects.get(pk=body["id"]).user.is_active
    assert (
        admin.patch(f"auditors/{body['id']}", {"expires_at": later.isoformat()}).status_code == 400
    )


def test_only_staff_admins_change_auditors(world: World) -> None:
    account = world.a_objects["auditor"]
    for who in ("staff:operator", "staff:auditor"):
        api = world.api(who)
        assert api.get(f"auditors/{account}").status_code == 200
        assert api.delete(f"auditors/{account}").status_code == 403
    limited = world.api("staff:admin", tenant=world.a)
    assert limited.get("auditors").status_code == 403


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"tenants": []}, "tenants"),
        ({"tenants": ["no-such-tenant"]}, "tenants"),
        ({"email": "not an email"}, "email"),
        ({"expires_at": "2001-01-01T00:00:00Z"}, "expires_at"),
        ({"quarter": "", "period_start": "2026-01-01"}, "quarter"),
    ],
)
def test_bad_auditor_input_is_named(world: World, changes: dict[str, object], field: str) -> None:
    body = {
        "email": "jane@cpa.example",
        "tenants": [world.a.slug],
        "quarter": quarter().label,
        "expires_at": (timezone.now() + dt.timedelta(days=20)).isoformat(),
        **changes,
    }

    response = world.api("staff:admin").post("auditors", body)

    assert response.status_code == 400, response.content
    assert field in {error["field"] for error in response.json()["errors"]}

"""The privacy API (/api/v1/tenants/{slug}/privacy/...): owners and admins set the
retention, place holds, run retention and handle data-subject requests; members cannot
see any of it; the staff auditor reads but does not download a person's data. Bad
input is a 400 naming the field; a state that does not allow it is a 409."""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from collections.abc import Callable
from typing import Any

import pytest
from django.utils import timezone

from controlplane.accounts.models import User
from controlplane.agents.services import agent_create
from tenants.models import Tenant
from tests.api.conftest import Api, issue_token
from tests.conftest import SYSTEM
from tests.privacy.conftest import direct

pytestmark = pytest.mark.django_db

BASE = "tenants/acme/privacy"


@pytest.fixture
def owner(tenant_a: Tenant, make_customer: Callable[..., User]) -> Api:
    return Api(issue_token(make_customer(tenant_a, "owner")))


def _fields(response: Any) -> set[str]:
    assert response["Content-Type"] == "application/problem+json", response.content
    return {error["field"] for error in response.json()["errors"]}


def test_retention_policy_in_force_and_set(owner: Api) -> None:
    state = owner.get(f"{BASE}/retention-policy").json()
    assert state["in_force"]["spans"] == {"days": 395, "source": "built-in", "effective_from": None}

    created = owner.post(f"{BASE}/retention-policy", {"kind": "spans", "days": 90})
    assert created.status_code == 201
    assert created.json()["in_force"]["spans"]["source"] == "tenant"
    assert [p["days"] for p in created.json()["history"]] == [90]

    too_short = owner.post(f"{BASE}/retention-policy", {"kind": "ledger", "days": 10})
    assert too_short.status_code == 400 and _fields(too_short) == {"days"}
    past = owner.post(
        f"{BASE}/retention-policy", {"kind": "spans", "days": 90, "effective_from": "2020-01-01"}
    )
    assert past.status_code == 400 and _fields(past) == {"effective_from"}
    unknown = owner.post(f"{BASE}/retention-policy", {"kind": "cookies", "days": 9})
    assert unknown.status_code == 400 and _fields(unknown) == {"kind"}


def test_legal_holds_are_placed_and_released_once(
    owner: Api, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    theirs = agent_create(actor=SYSTEM, tenant=tenant_b, name="theirs")
    refused = owner.post(f"{BASE}/legal-holds", {"agent": str(theirs.pk), "reason": "x"})
    assert refused.status_code == 400 and _fields(refused) == {"agent"}
    missing_reason = owner.post(f"{BASE}/legal-holds", {})
    assert missing_reason.status_code == 400 and _fields(missing_reason) == {"reason"}

    hold = owner.post(f"{BASE}/legal-holds", {"reason": "dispute", "reference": "C-1"}).json()
    assert hold["active"] and hold["agent"] is None
    released = owner.post(f"{BASE}/legal-holds/{hold['id']}/release")
    assert released.status_code == 200 and not released.json()["active"]
    again = owner.post(f"{BASE}/legal-holds/{hold['id']}/release")
    assert again.status_code == 409
    assert [
        h["id"] for h in owner.get(f"{BASE}/legal-holds", released="true").json()["results"]
    ] == [hold["id"]]


def test_a_retention_run_on_demand_shows_what_it_removed(
    owner: Api, tenant_a: Tenant, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    direct(tenant_a, [timezone.now() - dt.timedelta(days=500)])
    with django_capture_on_commit_callbacks(execute=True):
        started = owner.post(f"{BASE}/retention-runs")
    assert started.status_code == 201
    run = owner.get(f"{BASE}/retention-runs/{started.json()['id']}").json()
    assert run["state"] == "completed"
    spans = [i for i in run["removed"] if i["target"] == "spans" and i["kind"] == "spans"]
    assert sum(i["rows"] for i in spans) == 1
    assert owner.get(f"{BASE}/retention-runs").json()["results"][0]["id"] == run["id"]


def test_a_data_subject_request_through_the_api(
    owner: Api,
    tenant_a: Tenant,
    make_staff: Callable[..., User],
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    direct(tenant_a, [timezone.now() - dt.timedelta(hours=1)], request_body="for jane@example.com")
    bad = owner.post(
        f"{BASE}/data-subject-requests", {"identifiers": [{"kind": "email", "value": "x"}]}
    )
    assert bad.status_code == 400 and _fields(bad) == {"identifiers"}

    with django_capture_on_commit_callbacks(execute=True):
        created = owner.post(
            f"{BASE}/data-subject-requests",
            {"identifiers": [{"kind": "email", "value": "jane@example.com"}], "reason": "email"},
        )
    assert created.status_code == 201
    url = f"{BASE}/data-subject-requests/{created.json()['id']}"
    dsr = owner.get(url).json()
    assert dsr["state"] == "found" and dsr["found"]["clickhouse"]["spans"] == 1
    assert owner.get(f"{url}/export").status_code == 409  # not verified yet
    assert owner.post(f"{url}/erase", {"confirm": "ERASE"}).status_code == 409

    assert owner.post(f"{url}/verify", {"note": "replied from her address"}).status_code == 200
    auditor = Api(issue_token(make_staff("auditor", with_mfa=False)))
    assert auditor.get(url).status_code == 200
    assert auditor.get(f"{url}/export").status_code == 403
    export = owner.get(f"{url}/export")
    assert export.status_code == 200 and export["Content-Type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(export.content)) as archive:
        assert "jane@example.com" in archive.read("clickhouse.json").decode()

    wrong = owner.post(f"{url}/erase", {"confirm": "yes"})
    assert wrong.status_code == 400 and _fields(wrong) == {"confirm"}
    with django_capture_on_commit_callbacks(execute=True):
        erasing = owner.post(f"{url}/erase", {"confirm": "ERASE"})
    assert erasing.status_code == 200 and erasing.json()["state"] == "erasing"
    erased = owner.get(url).json()
    assert erased["state"] == "erased" and erased["erased"]["clickhouse"]["spans"] == 1
    assert owner.get(f"{url}/export").status_code == 404


def test_members_see_no_privacy(tenant_a: Tenant, make_customer: Callable[..., User]) -> None:
    member = Api(issue_token(make_customer(tenant_a, "member")))
    for path in ("retention-policy", "legal-holds", "retention-runs", "data-subject-requests"):
        assert member.get(f"{BASE}/{path}").status_code == 403, path

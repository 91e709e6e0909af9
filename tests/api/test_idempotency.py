"""Idempotency-Key: a retried create creates one object and returns the first answer."""

from __future__ import annotations

import threading
from collections.abc import Callable

import httpx
import pytest
from django.utils import timezone

from controlplane.accounts.models import User
from controlplane.agents.models import Device
from controlplane.api.models import IdempotencyRecord
from controlplane.core.crypto import key_ring
from controlplane.core.tenancy import tenant_context
from tenants.models import Department, Tenant
from tests.api.conftest import Api, World, issue_token

pytestmark = pytest.mark.django_db


def test_a_retried_create_creates_one_object_and_replays_the_answer(world: World) -> None:
    api = world.api("a:admin")
    key = {"Idempotency-Key": "5d0c0a8e-retry-1"}

    first = api.post("tenants/acme/departments", {"name": "Ops"}, headers=key)
    second = api.post("tenants/acme/departments", {"name": "Ops"}, headers=key)

    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    with tenant_context(world.a):
        assert Department.objects.filter(name="Ops").count() == 1


def test_the_same_key_with_another_body_is_refused(world: World) -> None:
    api = world.api("a:admin")
    key = {"Idempotency-Key": "reused"}
    assert api.post("tenants/acme/sites", {"name": "Lab"}, headers=key).status_code == 201

    response = api.post("tenants/acme/sites", {"name": "Lab 2"}, headers=key)
    other_path = api.post("tenants/acme/departments", {"name": "Lab"}, headers=key)

    for refused in (response, other_path):
        assert refused.status_code == 422
        assert refused["Content-Type"] == "application/problem+json"
        body = refused.json()
        assert body["type"] == "urn:acp:problem:idempotency-key-reused"
        assert body["errors"][0]["field"] == "Idempotency-Key"
    with tenant_context(world.a):
        assert not Department.objects.filter(name="Lab").exists()


def test_keys_belong_to_their_token(world: World) -> None:
    key = {"Idempotency-Key": "shared-key"}
    first = world.api("a:admin").post("tenants/acme/departments", {"name": "A"}, headers=key)
    second = world.api("a:owner").post("tenants/acme/departments", {"name": "B"}, headers=key)
    assert first.status_code == second.status_code == 201
    assert "Idempotent-Replayed" not in second


def test_a_failed_request_is_not_remembered(world: World) -> None:
    api = world.api("a:admin")
    key = {"Idempotency-Key": "fails-first"}
    taken = {"name": world_department_name(world)}
    assert api.post("tenants/acme/departments", taken, headers=key).status_code == 400
    assert not IdempotencyRecord.objects.filter(key="fails-first").exists()
    with tenant_context(world.a):
        Department.objects.filter(name=taken["name"]).delete()
    assert api.post("tenants/acme/departments", taken, headers=key).status_code == 201


def world_department_name(world: World) -> str:
    with tenant_context(world.a):
        return str(Department.objects.get(pk=world.a_objects["department"]).name)


def test_a_shown_once_secret_is_replayed_to_the_retry_but_stored_encrypted(world: World) -> None:
    api = world.api("a:admin")
    key = {"Idempotency-Key": "device-1"}
    body = {"site": str(world.a_objects["site"]), "name": "ws-retry"}

    first = api.post("tenants/acme/devices", body, headers=key)
    second = api.post("tenants/acme/devices", body, headers=key)

    assert first.status_code == 201 and first.json()["key"].startswith("acpd_")
    assert second.json()["key"] == first.json()["key"]
    record = IdempotencyRecord.objects.get(key="device-1")
    assert first.json()["key"] not in record.encrypted_response
    assert first.json()["key"] in key_ring().decrypt(record.encrypted_response)
    with tenant_context(world.a):
        assert Device.objects.filter(name="ws-retry").count() == 1


def test_an_expired_record_is_forgotten(world: World) -> None:
    api = world.api("a:admin")
    key = {"Idempotency-Key": "old"}
    assert api.post("tenants/acme/departments", {"name": "Old"}, headers=key).status_code == 201
    IdempotencyRecord.objects.filter(key="old").update(expires_at=timezone.now())

    again = api.post("tenants/acme/departments", {"name": "Newer"}, headers=key)

    assert again.status_code == 201 and "Idempotent-Replayed" not in again


def test_a_malformed_key_is_a_validation_problem(world: World) -> None:
    response = world.api("a:admin").post(
        "tenants/acme/departments", {"name": "X"}, headers={"Idempotency-Key": "x" * 256}
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "Idempotency-Key"


@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicates_create_one_object(
    live_api: str, tenant_a: Tenant, make_customer: Callable[..., User]
) -> None:
    """Two requests with one key at the same moment: the second waits for the first's
    record, then replays its answer."""
    token = issue_token(make_customer(tenant_a, "admin"))
    url = f"{live_api}/api/v1/tenants/acme/departments"
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "race"}
    answers: list[httpx.Response] = []
    barrier = threading.Barrier(4)

    def post() -> None:
        barrier.wait()
        answers.append(httpx.post(url, json={"name": "Raced"}, headers=headers, timeout=30))

    threads = [threading.Thread(target=post) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert [a.status_code for a in answers] == [201] * 4
    assert len({a.json()["id"] for a in answers}) == 1
    assert sum(a.headers.get("Idempotent-Replayed") == "true" for a in answers) == 3
    with tenant_context(tenant_a):
        assert Department.objects.filter(name="Raced").count() == 1


def test_replays_are_per_key_not_per_body(world: World) -> None:
    """Without a key, two identical POSTs are two requests (the second is refused here
    because names are unique)."""
    api: Api = world.api("a:admin")
    assert api.post("tenants/acme/departments", {"name": "Twice"}).status_code == 201
    assert api.post("tenants/acme/departments", {"name": "Twice"}).status_code == 400

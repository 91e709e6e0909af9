"""The gateway resources beyond access: write-only provider keys and their rotation,
MSP-wide rows read-only for tenants, the policy, routes, budgets with their spend, the
published config versions, and the agent's gateway fields."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from controlplane.api.models import IdempotencyRecord
from controlplane.audit.models import AuditEvent
from controlplane.core.tenancy import all_tenants_context, tenant_context
from controlplane.gateway import services as gateway
from controlplane.gateway.models import ProviderCredential
from controlplane.gateway.services import credential_secret
from tests.api.conftest import World
from tests.api.telemetry_data import Call, record_calls
from tests.conftest import SYSTEM

pytestmark = pytest.mark.django_db

BASE = "tenants/acme"


def _audit_text() -> str:
    with all_tenants_context():
        rows = AuditEvent.objects.values("target_label", "before", "after")
        return json.dumps(list(rows), default=str)


def test_a_provider_key_is_write_only_and_rotates(world: World) -> None:
    api = world.api("a:admin")
    first, second = "sk-first-Zq81vK2mQ0aB", "sk-second-Lp44nW7xR3cD"
    bodies: list[str] = []

    def keep(response: Any) -> Any:
        bodies.append(response.content.decode())
        return response

    created = keep(
        api.post(
            f"{BASE}/providers",
            {"name": "acme-vllm", "kind": "openai", "base_url": "https://vllm.acme.example/v1"},
        )
    )
    assert created.status_code == 201 and created.json()["credential"] is None
    provider = created.json()["id"]
    url = f"{BASE}/providers/{provider}/credential"

    assert keep(api.post(f"{url}/rotate", {"secret": first})).status_code == 409
    short = keep(api.post(url, {"secret": "short"}))
    assert short.status_code == 400 and short.json()["errors"][0]["field"] == "secret"
    set_ = keep(api.post(url, {"secret": first}, headers={"Idempotency-Key": "cred-1"}))
    assert set_.status_code == 201
    assert set_.json()["last4"] == first[-4:] and set_.json()["version"] == 1
    assert set(set_.json()) == {
        "provider",
        "key_id",
        "last4",
        "version",
        "created_at",
        "rotated_at",
        "age_seconds",
    }
    assert keep(api.post(url, {"secret": second})).status_code == 409

    rotated = keep(api.post(f"{url}/rotate", {"secret": second}))
    assert rotated.status_code == 200
    assert rotated.json()["version"] == 2 and rotated.json()["last4"] == second[-4:]
    assert rotated.json()["rotated_at"] is not None
    shown = keep(api.get(f"{BASE}/providers/{provider}")).json()["credential"]
    assert shown["version"] == 2 and shown["last4"] == second[-4:]
    keep(api.get(f"{BASE}/providers"))
    keep(api.get(f"{BASE}/config-changes"))
    with tenant_context(world.a):
        assert ProviderCredential.objects.filter(provider_id=provider).exists()
    assert credential_secret(provider) == second

    # The key is never echoed, stored in plaintext for replays, or audited.
    for secret in (first, second):
        assert not any(secret in body for body in bodies)
        assert secret not in _audit_text()
        assert not any(
            secret.encode() in bytes(r.encrypted_response, "utf-8")
            for r in IdempotencyRecord.objects.all()
        )
    with all_tenants_context():
        actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"provider_credential.set", "provider_credential.rotated"} <= actions


def test_only_owners_and_admins_set_keys(world: World) -> None:
    provider = world.a_objects["provider"]
    url = f"{BASE}/providers/{provider}/credential/rotate"
    for who in ("a:member", "a:billing", "a:viewer"):
        assert world.api(who).post(url, {"secret": "sk-nope-12345678"}).status_code == 403
    assert world.api("a:owner").post(url, {"secret": "sk-yes-12345678"}).status_code == 200


def test_msp_wide_providers_and_routes_are_listed_read_only(world: World) -> None:
    msp = gateway.provider_create(
        actor=SYSTEM,
        tenant=None,
        name="msp-openai",
        kind="openai",
        base_url="https://api.openai.example/v1",
        model_names=["gpt-4o-mini"],
    )
    gateway.credential_set(actor=SYSTEM, provider=msp, secret="sk-msp-secret-0000wxyz")
    route = gateway.route_create(
        actor=SYSTEM,
        tenant=None,
        name="simple",
        tier="simple",
        candidates=[{"provider_id": str(msp.pk), "model": "gpt-4o-mini", "weight": 1}],
    )
    api = world.api("a:admin")

    listed = {
        p["name"]: p for p in world.api("a:viewer").get(f"{BASE}/providers").json()["results"]
    }
    assert set(listed) == {"msp-openai", "own-a"}
    assert listed["msp-openai"]["msp_wide"] and not listed["own-a"]["msp_wide"]
    assert listed["msp-openai"]["credential"]["last4"] == "wxyz"
    assert "sk-msp-secret" not in json.dumps(listed)
    only_msp = api.get(f"{BASE}/providers", own="false").json()["results"]
    assert [p["name"] for p in only_msp] == ["msp-openai"]

    assert api.patch(f"{BASE}/providers/{msp.pk}", {"enabled": False}).status_code == 403
    rotate = api.post(f"{BASE}/providers/{msp.pk}/credential/rotate", {"secret": "sk-x-12345678"})
    assert rotate.status_code == 403
    assert api.patch(f"{BASE}/routes/{route.pk}", {"max_attempts": 3}).status_code == 403
    assert api.delete(f"{BASE}/routes/{route.pk}").status_code == 403
    routes = {r["name"]: r["msp_wide"] for r in api.get(f"{BASE}/routes").json()["results"]}
    assert routes == {"simple": True, "route-a": False}

    # A tenant's route may use MSP-wide providers and its own, never another tenant's.
    body = {
        "name": "mixed",
        "tier": "standard",
        "candidates": [
            {"provider_id": str(msp.pk), "model": "gpt-4o-mini", "weight": 3},
            {"provider_id": str(world.a_objects["provider"]), "model": "gpt-4o"},
        ],
    }
    created = api.post(f"{BASE}/routes", body)
    assert created.status_code == 201, created.content
    assert [c["weight"] for c in created.json()["candidates"]] == [3, 1]
    foreign = {**body, "tier": "simple"}
    foreign["candidates"] = [{"provider_id": str(world.b_objects["provider"]), "model": "*"}]
    refused = api.post(f"{BASE}/routes", foreign)
    assert refused.status_code == 400 and refused.json()["errors"][0]["field"] == "candidates"
    dup = api.post(f"{BASE}/routes", body)
    assert dup.status_code == 400 and dup.json()["errors"][0]["field"] == "tier,model"


def test_provider_names_are_validated_and_unique(world: World) -> None:
    api = world.api("a:admin")
    body = {"name": "Bad Name", "kind": "openai", "base_url": "https://x.example/v1"}
    bad = api.post(f"{BASE}/providers", body)
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "name"
    taken = api.post(f"{BASE}/providers", {**body, "name": "own-b"})  # tenant B's
    assert taken.status_code == 400 and taken.json()["errors"][0]["field"] == "name"
    changed = api.patch(f"{BASE}/providers/{world.a_objects['provider']}", {"enabled": False})
    assert changed.status_code == 200 and changed.json()["enabled"] is False


def test_the_policy_has_defaults_and_changes_field_by_field(world: World) -> None:
    api = world.api("a:admin")
    default = api.get(f"{BASE}/policy")
    assert default.status_code == 200
    assert default.json()["injection"] == "block" and default.json()["updated_at"] is None
    changed = api.patch(f"{BASE}/policy", {"pii": "redact", "pii_types": ["email"]})
    assert changed.status_code == 200
    assert changed.json()["pii"] == "redact" and changed.json()["injection"] == "block"
    bad = api.patch(f"{BASE}/policy", {"pii": "shred"})
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "pii"
    assert world.api("a:viewer").patch(f"{BASE}/policy", {"pii": "off"}).status_code == 403
    assert world.api("a:viewer").get(f"{BASE}/policy").json()["pii"] == "redact"


def test_role_defaults_one_per_role(world: World) -> None:
    api = world.api("a:admin")
    body = {"role": "marketing", "allowed_models": ["gpt-4o-mini"], "tier": "simple"}
    created = api.post(f"{BASE}/role-defaults", body)
    assert created.status_code == 201, created.content
    again = api.post(f"{BASE}/role-defaults", body)
    assert again.status_code == 400 and again.json()["errors"][0]["field"] == "role"
    twice = api.patch(
        f"{BASE}/role-defaults/{created.json()['id']}", {"allowed_tools": ["a.b", "a.b"]}
    )
    assert twice.status_code == 400 and twice.json()["errors"][0]["field"] == "allowed_tools"
    window = {"days": [5, 6], "start": "22:00", "end": "06:00", "tz": "Europe/Berlin"}
    changed = api.patch(
        f"{BASE}/role-defaults/{created.json()['id']}", {"operating_window": window}
    )
    assert changed.status_code == 200 and changed.json()["operating_window"] == window
    assert changed.json()["role"] == "marketing"
    assert api.delete(f"{BASE}/role-defaults/{created.json()['id']}").status_code == 204


def test_budgets_show_their_current_spend(world: World) -> None:
    api = world.api("a:admin")
    record_calls(
        tenant_id=world.a.pk,
        agent_id=world.a_objects["agent"],
        department_id=world.a_objects["department"],
        calls=[Call(timezone.now() - dt.timedelta(minutes=5), world.trace_id)],
    )
    shown = api.get(f"{BASE}/budgets/{world.a_objects['budget']}").json()
    assert Decimal(shown["spend"]) > 0 and shown["limit"] == "100.000000"

    body = {"scope": "agent", "period": "day", "limit": "5", "kind": "soft"}
    missing = api.post(f"{BASE}/budgets", body)
    assert missing.status_code == 400 and missing.json()["errors"][0]["field"] == "scope_id"
    created = api.post(f"{BASE}/budgets", {**body, "scope_id": str(world.a_objects["agent"])})
    assert created.status_code == 201, created.content
    assert Decimal(created.json()["spend"]) == Decimal(shown["spend"])
    negative = api.patch(f"{BASE}/budgets/{created.json()['id']}", {"limit": "-1"})
    assert negative.status_code == 400 and negative.json()["errors"][0]["field"] == "limit"
    raised = api.patch(f"{BASE}/budgets/{created.json()['id']}", {"limit": "7.5"})
    assert raised.status_code == 200 and raised.json()["limit"] == "7.500000"
    listed = api.get(f"{BASE}/budgets", scope="agent").json()["results"]
    assert [b["id"] for b in listed] == [created.json()["id"]]
    assert api.delete(f"{BASE}/budgets/{created.json()['id']}").status_code == 204


def test_config_changes_list_published_versions(world: World) -> None:
    listed = world.api("a:viewer").get(f"{BASE}/config-changes").json()["results"]
    assert len(listed) == 1 and listed[0]["summary"].startswith("first version")
    assert listed[0]["site"] == str(world.a_objects["site"])
    assert "sk-own-a" not in json.dumps(listed)


def test_agents_carry_allowed_models_and_tier(world: World) -> None:
    api = world.api("a:admin")
    url = f"{BASE}/agents/{world.a_objects['agent']}"
    assert api.get(url).json()["tier"] == ""
    changed = api.patch(url, {"allowed_models": ["gpt-4o"], "tier": "complex"})
    assert changed.status_code == 200
    assert changed.json()["allowed_models"] == ["gpt-4o"] and changed.json()["tier"] == "complex"
    bad = api.patch(url, {"tier": "huge"})
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "tier"
    auto = api.patch(url, {"tier": "auto"})
    assert auto.status_code == 200 and auto.json()["tier"] == "auto"
    assert api.get(url).json()["tier"] == "auto"


def test_a_role_default_tier_can_be_auto(world: World) -> None:
    api = world.api("a:admin")
    created = api.post(f"{BASE}/role-defaults", {"role": "support", "tier": "auto"})
    assert created.status_code == 201, created.content
    assert created.json()["tier"] == "auto"
    path = f"{BASE}/role-defaults/{created.json()['id']}"
    assert api.patch(path, {"tier": "complex"}).json()["tier"] == "complex"
    bad = api.patch(path, {"tier": "frontier"})
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "tier"


def test_the_api_names_the_field_and_only_staff_mark_on_premises(world: World) -> None:
    path = "tenants/acme/providers"
    body = {"name": "acme-vllm", "kind": "openai", "base_url": "http://169.254.169.254/v1"}
    for who in ("a:owner", "a:admin"):
        refused = world.api(who).post(path, body)
        assert refused.status_code == 400
        assert refused["Content-Type"] == "application/problem+json"
        (error,) = refused.json()["errors"]
        assert error["field"] == "base_url" and "cloud metadata" in error["message"]

    private = {**body, "base_url": "http://10.1.2.3/v1"}
    assert world.api("a:admin").post(path, private).status_code == 400
    marked = {**private, "on_premises": True}
    forbidden = world.api("a:owner").post(path, marked)
    assert forbidden.status_code == 403 and "MSP staff" in forbidden.json()["detail"]
    created = world.api("staff:admin").post(path, marked)
    assert created.status_code == 201 and created.json()["on_premises"] is True
    assert world.api("a:member").post(path, body).status_code == 403
    assert world.api("b:owner").post(path, private).status_code == 404

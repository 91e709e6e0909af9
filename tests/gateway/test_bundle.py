"""The signed bundle: signature, content, secrets for the node, config changes."""

from __future__ import annotations

import base64
import json
import pathlib

import pytest
from cryptography.fernet import InvalidToken

from controlplane.agents.services import agent_update
from controlplane.audit.models import AuditEvent
from controlplane.core.tenancy import all_tenants_context, tenant_context
from controlplane.gateway.bundle import (
    BundleError,
    build_bundle,
    node_fernet,
    node_payload,
    publish,
    sign,
    verify,
)
from controlplane.gateway.models import ConfigChange, RoleDefault
from controlplane.gateway.services import (
    PULL_ACTOR,
    allowances_refresh,
    budget_create,
    policy_set,
    provider_create,
    provider_update,
    role_default_set,
    route_create,
)
from controlplane.gateway.signing import bundle_public_keys, signing_ring
from tests.conftest import SYSTEM
from tests.gateway.conftest import World

pytestmark = pytest.mark.django_db


def _public_keys() -> dict[str, bytes]:
    keys = {}
    for entry in bundle_public_keys().split(","):
        key_id, _, encoded = entry.partition(":")
        keys[key_id] = base64.b64decode(encoded)
    return keys


def _payload(world: World, index: int = 0) -> dict:
    return verify(build_bundle(node=world.node(index)), _public_keys())


def test_the_signature_verifies_with_the_published_key_and_fails_on_any_change(
    world: World,
) -> None:
    envelope = build_bundle(node=world.node())
    assert envelope["format"] == "acp-bundle-v1"
    assert envelope["key_id"] == signing_ring().current_key_id
    assert verify(envelope, _public_keys())["version"] == world.refresh_site().config_version

    data = bytearray(base64.b64decode(envelope["payload"]))
    for position in (0, len(data) // 2, len(data) - 1):
        tampered = bytearray(data)
        tampered[position] ^= 0x01
        forged = {**envelope, "payload": base64.b64encode(bytes(tampered)).decode()}
        with pytest.raises(BundleError):
            verify(forged, _public_keys())
    signature = bytearray(base64.b64decode(envelope["signature"]))
    signature[0] ^= 0x80
    with pytest.raises(BundleError):
        verify(
            {**envelope, "signature": base64.b64encode(bytes(signature)).decode()}, _public_keys()
        )
    with pytest.raises(BundleError):
        verify({**envelope, "key_id": "someone-else"}, _public_keys())


def test_agents_are_their_role_defaults_overridden_by_their_own_fields(world: World) -> None:
    agents = {a["agent_id"]: a for a in _payload(world)["agents"]}
    marketing = agents[str(world.marketing.pk)]
    assert marketing["role"] == "marketing"
    assert marketing["tier"] == "simple"
    assert marketing["allowed_tools"] == ["crm.search", "web.search"]
    assert marketing["data_classes"] == ["pii", "public"]
    assert marketing["allowed_models"] == ["gpt-4o-mini"]
    assert marketing["operating_window"]["days"] == [0, 1, 2, 3, 4]
    assert marketing["department_id"] == str(world.departments["Marketing"].pk)
    # The finance agent's own tier and data classes win over its role's defaults.
    finance = agents[str(world.finance.pk)]
    assert finance["tier"] == "complex"
    assert finance["data_classes"] == ["finance"]
    assert finance["allowed_tools"] == ["ledger.query"]
    assert finance["allowed_models"] == [] and finance["operating_window"] is None


def test_the_auto_tier_of_a_role_or_an_agent_is_carried_in_the_bundle(world: World) -> None:
    role_default_set(actor=SYSTEM, tenant=world.tenant, role="marketing", tier="auto")
    agents = {a["agent_id"]: a for a in _payload(world)["agents"]}
    assert agents[str(world.marketing.pk)]["tier"] == "auto"  # from its role
    assert agents[str(world.finance.pk)]["tier"] == "complex"  # its own
    with tenant_context(world.tenant):
        agent_update(actor=SYSTEM, agent=world.finance, tier="auto")
    agents = {a["agent_id"]: a for a in _payload(world)["agents"]}
    assert agents[str(world.finance.pk)]["tier"] == "auto"


def test_the_whitepaper_example_holds_in_the_bundle(world: World) -> None:
    """A marketing agent cannot use the finance tool nor carry finance data: the tool
    maps to "finance", which is not among the agent's data classes."""
    payload = _payload(world)
    policy = payload["policies"][0]
    assert policy["tool_data_classes"]["ledger.query"] == ["finance"]
    marketing = next(a for a in payload["agents"] if a["agent_id"] == str(world.marketing.pk))
    assert "finance" not in marketing["data_classes"]
    assert "ledger.query" not in marketing["allowed_tools"]


def test_provider_keys_open_only_with_the_nodes_token_and_are_never_in_clear(
    world: World,
) -> None:
    envelope = build_bundle(node=world.node(0))
    payload = verify(envelope, _public_keys())
    providers = {p["name"]: p for p in payload["providers"]}
    assert set(providers) == {"msp-openai", "acme-azure"}
    own_key = node_fernet(world.tokens[str(world.nodes[0].pk)])
    other_key = node_fernet(world.tokens[str(world.nodes[1].pk)])
    for name, plain in world.secrets.items():
        token = providers[name]["api_key_enc"]
        assert own_key.decrypt(token.encode()).decode() == plain
        with pytest.raises(InvalidToken):
            other_key.decrypt(token.encode())
        assert plain not in json.dumps(envelope)
        assert plain not in base64.b64decode(envelope["payload"]).decode()
    with tenant_context(world.tenant):
        change = ConfigChange.objects.get(version=payload["version"])
    assert not any(plain in json.dumps(change.content) for plain in world.secrets.values())


def test_the_edges_own_parser_accepts_the_bundle(world: World, tmp_path: pathlib.Path) -> None:
    """The contract, checked with edge/config.py: signature, provider keys, sections."""
    from edge.bundle import provider_key
    from edge.config import ConfigStore

    node = world.node(0)
    allowances_refresh(node)
    envelope = build_bundle(node=node)
    store = ConfigStore(
        tmp_path / "config.json",
        public_keys=signing_ring().public_keys(),
        secrets=provider_key(world.tokens[str(node.pk)]),
    )
    config = store.parse(json.dumps(envelope).encode())
    assert config.signed and config.version == world.refresh_site().config_version
    gateway = config.gateway
    assert {p.api_key for p in gateway.providers.values()} == set(world.secrets.values())
    assert str(world.marketing.pk) in gateway.agents
    assert [r.route_id for r in gateway.routes] == [str(world.route.pk)]


def test_another_tenants_providers_and_routes_stay_out(world: World) -> None:
    theirs = provider_create(
        actor=SYSTEM,
        tenant=world.other,
        name="globex-vllm",
        kind="openai",
        base_url="http://10.0.0.5:8000/v1",
        on_premises=True,
    )
    route_create(
        actor=SYSTEM,
        tenant=world.other,
        name="theirs",
        candidates=[{"provider_id": str(theirs.pk), "model": "llama", "weight": 1}],
    )
    payload = _payload(world)
    assert {p["name"] for p in payload["providers"]} == {"msp-openai", "acme-azure"}
    assert {r["name"] for r in payload["routes"]} == {"simple"}


def test_a_disabled_provider_and_its_routes_leave_the_bundle(world: World) -> None:
    with all_tenants_context():
        provider_update(actor=SYSTEM, provider=world.msp_provider, enabled=False)
    payload = _payload(world)
    assert {p["name"] for p in payload["providers"]} == {"acme-azure"}
    assert payload["routes"] == []


def test_routes_come_in_match_order(world: World) -> None:
    msp, own = str(world.msp_provider.pk), str(world.own_provider.pk)
    route_create(
        actor=SYSTEM,
        tenant=None,
        name="any",
        candidates=[{"provider_id": msp, "model": "*", "weight": 1}],
    )
    route_create(
        actor=SYSTEM,
        tenant=None,
        name="gpt-4o",
        model="gpt-4o",
        candidates=[{"provider_id": msp, "model": "gpt-4o", "weight": 1}],
    )
    route_create(
        actor=SYSTEM,
        tenant=world.tenant,
        name="ours",
        tier="complex",
        candidates=[{"provider_id": own, "model": "gpt-4o", "weight": 1}],
    )
    assert [r["name"] for r in _payload(world)["routes"]] == ["ours", "gpt-4o", "simple", "any"]


def test_budgets_carry_this_nodes_allowance_only(world: World) -> None:
    budget_create(
        actor=SYSTEM, tenant=world.tenant, scope="tenant", period="day", limit=30, kind="hard"
    )
    budget_create(
        actor=SYSTEM, tenant=world.tenant, scope="tenant", period="day", limit=20, kind="soft"
    )
    allowances_refresh(world.node(0))
    first, second = _payload(world, 0), _payload(world, 1)
    hard = next(b for b in first["budgets"] if b["kind"] == "hard")
    soft = next(b for b in first["budgets"] if b["kind"] == "soft")
    assert hard["allowance"] == "10.000000"  # 30 / 3 edges
    assert soft["allowance"] == soft["limit"] == "20.000000"
    assert next(b for b in second["budgets"] if b["kind"] == "hard")["allowance"] == "0"
    assert "allowances" not in hard


def test_each_new_version_is_recorded_once_with_its_diff_and_audited(world: World) -> None:
    first = publish(site_id=world.site.pk, tenant_id=world.tenant.pk, actor=PULL_ACTOR)
    again = publish(site_id=world.site.pk, tenant_id=world.tenant.pk, actor=PULL_ACTOR)
    assert again.change_id == first.change_id and again.sha256 == first.sha256

    policy_set(actor=SYSTEM, tenant=world.tenant, pii="block")
    second = publish(site_id=world.site.pk, tenant_id=world.tenant.pk, actor=PULL_ACTOR)
    assert second.version == first.version + 1

    with tenant_context(world.tenant):
        changes = list(ConfigChange.objects.order_by("version"))
    assert [c.version for c in changes] == [first.version, second.version]
    assert changes[0].previous_version is None
    assert changes[0].summary.startswith("first version")
    latest = changes[1]
    assert latest.previous_version == first.version
    assert latest.summary == f"since v{first.version}: policies: 1 changed"
    assert latest.diff["sections"] == {
        "policies": {
            "changed": [
                {"key": str(world.tenant.pk), "fields": {"pii": {"from": "redact", "to": "block"}}}
            ]
        }
    }
    assert latest.actor_label == "edge-pull"
    with all_tenants_context():
        audited = AuditEvent.unscoped.get(action="config.published", target_id=str(latest.pk))
    assert audited.after["version"] == second.version
    assert audited.after["payload_sha256"] == second.sha256


def test_a_change_that_forgot_the_version_bump_gets_a_new_version(world: World) -> None:
    first = publish(site_id=world.site.pk, tenant_id=world.tenant.pk, actor=PULL_ACTOR)
    with tenant_context(world.tenant):
        RoleDefault.objects.filter(role="marketing").update(tier="complex")  # no bump
    second = publish(site_id=world.site.pk, tenant_id=world.tenant.pk, actor=PULL_ACTOR)
    assert second.version == first.version + 1
    with tenant_context(world.tenant):
        summary = ConfigChange.objects.get(version=second.version).summary
    assert summary == f"since v{first.version}: agents: 1 changed"


def test_sign_is_canonical_json(world: World) -> None:
    published = publish(site_id=world.site.pk, tenant_id=world.tenant.pk, actor=PULL_ACTOR)
    payload = node_payload(
        node=world.node(), published=published, node_token=world.tokens[str(world.nodes[0].pk)]
    )
    data = base64.b64decode(sign(payload)["payload"])
    assert data == json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()


def test_the_request_rate_ceiling_comes_from_the_agent_its_role_or_the_policy(
    world: World,
) -> None:
    def ceilings() -> dict[str, int | None]:
        profiles = _payload(world)["agents"]
        return {p["role"]: p["max_requests_per_minute"] for p in profiles}

    assert ceilings() == {"marketing": None, "finance": None}
    policy_set(actor=SYSTEM, tenant=world.tenant, max_requests_per_minute=600)
    assert ceilings() == {"marketing": 600, "finance": 600}
    role_default_set(actor=SYSTEM, tenant=world.tenant, role="finance", max_requests_per_minute=120)
    assert ceilings() == {"marketing": 600, "finance": 120}
    with tenant_context(world.tenant):
        agent_update(actor=SYSTEM, agent=world.finance, max_requests_per_minute=30)
    assert ceilings() == {"marketing": 600, "finance": 30}

"""Every gateway service is audited (never with a secret) and raises the version of the
sites whose edges must learn of it; validation keeps tenants apart."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from billing.services import model_price_create
from controlplane.agents.services import site_create
from controlplane.audit.models import AuditEvent
from controlplane.core.tenancy import all_tenants_context, tenant_context
from controlplane.gateway.models import Budget, Provider, ProviderCredential, RoleDefault
from controlplane.gateway.selectors import CredentialInfo, credential_info
from controlplane.gateway.services import (
    budget_create,
    budget_delete,
    budget_update,
    credential_rotate,
    credential_set,
    policy_set,
    provider_create,
    provider_delete,
    provider_update,
    role_default_delete,
    role_default_set,
    route_create,
    route_delete,
    route_update,
)
from tests.conftest import SYSTEM
from tests.gateway.conftest import World

pytestmark = pytest.mark.django_db

NEW_SECRET = "sk-rotated-9c2f1e7d5b3a4c6e8f0a"


def _versions(world: World) -> tuple[int, int]:
    """Config versions of the world's site and of the other tenant's site."""
    from controlplane.agents.models import Site

    with all_tenants_context():
        mine = Site.unscoped.get(pk=world.site.pk).config_version
        theirs = Site.unscoped.get(tenant=world.other).config_version
    return mine, theirs


def test_every_service_is_audited_bumps_the_right_sites_and_never_logs_a_secret(
    world: World,
) -> None:
    site_create(actor=SYSTEM, tenant=world.other, name="Globex HQ")
    tenant = world.tenant
    state: dict[str, Any] = {}

    def new_provider() -> None:
        state["provider"] = provider_create(
            actor=SYSTEM,
            tenant=None,
            name="spare",
            kind="anthropic",
            base_url="https://api.anthropic.example",
            model_names=["claude-sonnet-4"],
        )

    def budget() -> None:
        state["budget"] = budget_create(
            actor=SYSTEM,
            tenant=tenant,
            scope="agent",
            scope_id=world.marketing.pk,
            period="day",
            limit=Decimal("5"),
            kind="hard",
        )

    def route() -> None:
        state["route"] = route_create(
            actor=SYSTEM,
            tenant=tenant,
            name="ours",
            tier="complex",
            candidates=[{"provider_id": str(world.own_provider.pk), "model": "gpt-4o"}],
        )

    steps: list[tuple[str, Callable[[], Any], bool]] = [
        # (audited action, call, whether the other tenant's sites must be bumped too)
        ("provider.created", new_provider, True),
        (
            "provider.updated",
            lambda: provider_update(actor=SYSTEM, provider=state["provider"], enabled=False),
            True,
        ),
        (
            "provider_credential.set",
            lambda: credential_set(actor=SYSTEM, provider=state["provider"], secret=NEW_SECRET),
            True,
        ),
        (
            "provider_credential.rotated",
            lambda: credential_rotate(
                actor=SYSTEM, provider=world.own_provider, secret=NEW_SECRET + "x"
            ),
            False,
        ),
        ("policy.set", lambda: policy_set(actor=SYSTEM, tenant=tenant, injection="flag"), False),
        (
            "role_default.set",
            lambda: role_default_set(actor=SYSTEM, tenant=tenant, role="hr", tier="complex"),
            False,
        ),
        ("route.created", route, False),
        (
            "route.updated",
            lambda: route_update(actor=SYSTEM, route=state["route"], max_attempts=3),
            False,
        ),
        ("route.deleted", lambda: route_delete(actor=SYSTEM, route=state["route"]), False),
        ("budget.created", budget, False),
        (
            "budget.updated",
            lambda: budget_update(actor=SYSTEM, budget=state["budget"], limit=Decimal("7.5")),
            False,
        ),
        ("budget.deleted", lambda: budget_delete(actor=SYSTEM, budget=state["budget"]), False),
        (
            "role_default.deleted",
            lambda: role_default_delete(actor=SYSTEM, role_default=_role_default(world, "hr")),
            False,
        ),
        (
            "provider.deleted",
            lambda: provider_delete(actor=SYSTEM, provider=state["provider"]),
            True,
        ),
    ]
    for action, call, msp_wide in steps:
        mine, theirs = _versions(world)
        with all_tenants_context():
            before = AuditEvent.unscoped.filter(action=action).count()
        call()
        with all_tenants_context():
            assert AuditEvent.unscoped.filter(action=action).count() == before + 1, action
        now_mine, now_theirs = _versions(world)
        assert now_mine > mine, action
        assert (now_theirs > theirs) == msp_wide, action

    with all_tenants_context():
        trail = json.dumps([[e.before, e.after] for e in AuditEvent.unscoped.all()])
    for secret in [*world.secrets.values(), NEW_SECRET, NEW_SECRET + "x"]:
        assert secret not in trail


def _role_default(world: World, role: str) -> RoleDefault:
    with tenant_context(world.tenant):
        return RoleDefault.objects.get(role=role)


def test_a_credential_is_stored_encrypted_returned_never_and_its_age_is_tracked(
    world: World,
) -> None:
    with all_tenants_context():
        stored = ProviderCredential.unscoped.get(provider=world.msp_provider)
    plain = world.secrets["msp-openai"]
    assert stored.encrypted_secret.startswith(f"{stored.key_id}$")
    assert plain not in stored.encrypted_secret
    assert stored.last4 == plain[-4:] and stored.version == 1 and stored.rotated_at is None

    info = credential_rotate(actor=SYSTEM, provider=world.msp_provider, secret=NEW_SECRET)
    assert isinstance(info, CredentialInfo)
    assert not any(NEW_SECRET in str(value) for value in vars(info).values()), (
        "the answer holds no secret"
    )
    assert info.version == 2 and info.last4 == NEW_SECRET[-4:] and info.rotated_at is not None
    assert dt.timedelta(0) <= info.age < dt.timedelta(minutes=1)
    with tenant_context(world.tenant):
        shown = credential_info(Provider.objects.all())
    assert {c.last4 for c in shown.values()} == {NEW_SECRET[-4:], world.secrets["acme-azure"][-4:]}

    with pytest.raises(ValidationError):
        credential_set(actor=SYSTEM, provider=world.msp_provider, secret=NEW_SECRET)
    with pytest.raises(ValidationError):
        credential_rotate(actor=SYSTEM, provider=world.msp_provider, secret="short")


def test_routes_use_only_providers_their_tenant_may_use(world: World) -> None:
    theirs = provider_create(
        actor=SYSTEM,
        tenant=world.other,
        name="globex-own",
        kind="openai",
        base_url="https://globex.example/v1",
    )
    # Another tenant's provider does not even exist from this tenant's point of view.
    with pytest.raises(ValidationError, match="no such provider"):
        route_create(
            actor=SYSTEM,
            tenant=world.tenant,
            name="stolen",
            candidates=[{"provider_id": str(theirs.pk), "model": "gpt-4o"}],
        )
    with pytest.raises(ValidationError, match="another tenant"):
        route_create(
            actor=SYSTEM,
            tenant=None,
            name="msp-using-tenant-provider",
            candidates=[{"provider_id": str(world.own_provider.pk), "model": "gpt-4o"}],
        )
    with pytest.raises(ValidationError, match="does not serve"):
        route_create(
            actor=SYSTEM,
            tenant=world.tenant,
            name="unknown-model",
            candidates=[{"provider_id": str(world.msp_provider.pk), "model": "o9-ultra"}],
        )
    with pytest.raises(ValidationError, match="already exists"):
        route_create(
            actor=SYSTEM,
            tenant=None,
            name="duplicate",
            tier="simple",
            candidates=[{"provider_id": str(world.msp_provider.pk), "model": "gpt-4o"}],
        )
    with pytest.raises(ValidationError, match="Routes still use"):
        provider_delete(actor=SYSTEM, provider=world.msp_provider)


def test_budgets_name_an_agent_or_department_of_their_own_tenant(world: World) -> None:
    from controlplane.agents.services import agent_create

    stranger = agent_create(actor=SYSTEM, tenant=world.other, name="stranger")
    with pytest.raises(ValidationError):
        budget_create(
            actor=SYSTEM,
            tenant=world.tenant,
            scope="agent",
            scope_id=stranger.pk,
            period="day",
            limit=Decimal(1),
            kind="hard",
        )
    budget = budget_create(
        actor=SYSTEM,
        tenant=world.tenant,
        scope="tenant",
        period="month",
        limit=Decimal("100"),
        kind="soft",
    )
    assert budget.scope_id == world.tenant.pk
    with pytest.raises(ValidationError):
        budget_create(
            actor=SYSTEM,
            tenant=world.tenant,
            scope="tenant",
            period="month",
            limit=Decimal("50"),
            kind="soft",
        )
    with tenant_context(world.tenant):
        assert Budget.objects.count() == 1


def test_a_new_price_of_a_provider_reaches_the_sites_that_use_it(world: World) -> None:
    site_create(actor=SYSTEM, tenant=world.other, name="Globex HQ")
    mine, theirs = _versions(world)
    model_price_create(
        actor=SYSTEM,
        provider="acme-azure",
        model="gpt-4o",
        input_per_million=Decimal("2.5"),
        output_per_million=Decimal("10"),
        effective_from=dt.datetime(2026, 2, 1, tzinfo=dt.UTC),
    )
    assert _versions(world) == (mine + 1, theirs)  # acme's own provider: acme's sites
    model_price_create(
        actor=SYSTEM,
        provider="msp-openai",
        model="gpt-4o",
        input_per_million=Decimal("2.5"),
        output_per_million=Decimal("10"),
        effective_from=dt.datetime(2026, 2, 1, tzinfo=dt.UTC),
    )
    assert _versions(world) == (mine + 2, theirs + 1)  # an MSP provider: every site
    model_price_create(
        actor=SYSTEM,
        provider="nobody",
        model="x",
        input_per_million=Decimal("1"),
        output_per_million=Decimal("1"),
        effective_from=dt.datetime(2026, 2, 1, tzinfo=dt.UTC),
    )
    assert _versions(world) == (mine + 2, theirs + 1)

"""A tenant with a site, three edge nodes (registered only, no processes), a marketing
and a finance agent with keys, an MSP-wide provider and the tenant's own provider,
each with a credential, a route, a price, a policy and role defaults."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.db.models.signals import post_migrate

from billing.services import model_price_create
from controlplane.agents.models import Agent, EdgeNode, Site
from controlplane.agents.services import (
    agent_create,
    agent_key_issue,
    device_register,
    edge_node_create,
    site_create,
)
from controlplane.core.tenancy import tenant_context
from controlplane.gateway.models import Provider, Route
from controlplane.gateway.services import (
    credential_set,
    policy_set,
    provider_create,
    role_default_set,
    route_create,
)
from tenants.models import Department, Tenant
from tenants.services import department_create
from tests.conftest import SYSTEM


@dataclass
class World:
    tenant: Tenant
    other: Tenant
    site: Site
    nodes: list[EdgeNode]
    tokens: dict[str, str]
    departments: dict[str, Department]
    marketing: Agent
    finance: Agent
    agent_keys: list[str]
    device_keys: list[str]
    msp_provider: Provider
    own_provider: Provider
    route: Route
    secrets: dict[str, str] = field(default_factory=dict)
    """Provider name -> plaintext API key."""

    def refresh_site(self) -> Site:
        with tenant_context(self.tenant):
            self.site.refresh_from_db()
        return self.site

    def node(self, index: int = 0) -> EdgeNode:
        with tenant_context(self.tenant):
            return EdgeNode.objects.select_related("site").get(pk=self.nodes[index].pk)


def make_world(tenant: Tenant, other: Tenant, *, nodes: int = 3) -> World:
    departments = {
        name: department_create(actor=SYSTEM, tenant=tenant, name=name)
        for name in ("Marketing", "Finance")
    }
    site = site_create(actor=SYSTEM, tenant=tenant, name="HQ")
    registered, tokens = [], {}
    for number in range(1, nodes + 1):
        node, token = edge_node_create(
            actor=SYSTEM,
            site=site,
            name=f"edge-{number}",
            pull_url=f"http://127.0.0.1:{40000 + number}",
            agent_url=f"http://127.0.0.1:{40000 + number}",
        )
        registered.append(node)
        tokens[str(node.pk)] = token
    agent_keys, device_keys, agents = [], [], {}
    for name, role, department in (
        ("campaign-bot", "marketing", "Marketing"),
        ("ledger-bot", "finance", "Finance"),
    ):
        device, device_key = device_register(actor=SYSTEM, site=site, name=f"{name}-host")
        extra = {"tier": "complex", "data_classes": ["finance"]} if role == "finance" else {}
        agent = agent_create(
            actor=SYSTEM,
            tenant=tenant,
            name=name,
            role=role,
            department=departments[department],
            device=device,
            **extra,
        )
        _, agent_key = agent_key_issue(actor=SYSTEM, agent=agent)
        agents[role] = agent
        agent_keys.append(agent_key)
        device_keys.append(device_key)

    plain = {
        "msp-openai": "sk-msp-" + secrets.token_urlsafe(24),
        "acme-azure": "az-own-" + secrets.token_urlsafe(24),
    }
    msp = provider_create(
        actor=SYSTEM,
        tenant=None,
        name="msp-openai",
        kind="openai",
        base_url="https://api.openai.example/v1",
        model_names=["gpt-4o-mini", "gpt-4o"],
    )
    credential_set(actor=SYSTEM, provider=msp, secret=plain["msp-openai"])
    own = provider_create(
        actor=SYSTEM,
        tenant=tenant,
        name="acme-azure",
        kind="openai",
        base_url="https://acme.openai.azure.example/openai/v1",
        model_names=["gpt-4o"],
    )
    credential_set(actor=SYSTEM, provider=own, secret=plain["acme-azure"])
    route = route_create(
        actor=SYSTEM,
        tenant=None,
        name="simple",
        tier="simple",
        candidates=[{"provider_id": str(msp.pk), "model": "gpt-4o-mini", "weight": 1}],
    )
    model_price_create(
        actor=SYSTEM,
        provider="msp-openai",
        model="gpt-4o-mini",
        input_per_million=Decimal("0.15"),
        output_per_million=Decimal("0.60"),
        effective_from=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    )
    policy_set(
        actor=SYSTEM,
        tenant=tenant,
        injection="block",
        pii="redact",
        tool_data_classes={"ledger.query": ["finance"], "crm.search": ["pii"]},
    )
    role_default_set(
        actor=SYSTEM,
        tenant=tenant,
        role="marketing",
        allowed_tools=["crm.search", "web.search"],
        data_classes=["public", "pii"],
        allowed_models=["gpt-4o-mini"],
        tier="simple",
        operating_window={"days": [0, 1, 2, 3, 4], "start": "08:00", "end": "18:00"},
    )
    role_default_set(
        actor=SYSTEM,
        tenant=tenant,
        role="finance",
        allowed_tools=["ledger.query"],
        data_classes=["public", "pii"],
        tier="standard",
    )
    return World(
        tenant=tenant,
        other=other,
        site=site,
        nodes=registered,
        tokens=tokens,
        departments=departments,
        marketing=agents["marketing"],
        finance=agents["finance"],
        agent_keys=agent_keys,
        device_keys=device_keys,
        msp_provider=msp,
        own_provider=own,
        route=route,
        secrets=plain,
    )


@pytest.fixture
def world(tenant_a: Tenant, tenant_b: Tenant) -> World:
    return make_world(tenant_a, tenant_b)


GUARD_UID = "tests.gateway.audit-truncate-guard"


@pytest.fixture
def committed_db(transactional_db: None) -> Iterator[None]:
    """A database whose writes commit (for other connections: threads, pg_dump).

    Afterwards it is emptied with TRUNCATE, which the append-only audit trail refuses:
    the guard is off for that flush only, back on when the flush announces it is done
    (post_migrate, which Django sends after it).
    """
    yield

    def guard_again(**kwargs: Any) -> None:
        post_migrate.disconnect(dispatch_uid=GUARD_UID)
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_event_no_truncate")

    post_migrate.connect(guard_again, weak=False, dispatch_uid=GUARD_UID)
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_no_truncate")

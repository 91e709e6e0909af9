"""Two tenants with people and objects, for the console and portal tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from controlplane.accounts.models import User
from controlplane.agents.models import Agent, AgentKey, Device, EdgeNode, Site
from controlplane.agents.services import (
    agent_create,
    agent_key_issue,
    device_register,
    edge_node_create,
    site_create,
)
from controlplane.audit.services import Actor
from controlplane.core.tenancy import all_tenants_context
from tenants.models import Department, Invitation, Membership, Tenant
from tenants.services import department_create, invitation_create
from tests.conftest import SYSTEM


@dataclass
class World:
    a: Tenant
    b: Tenant
    a_owner: User
    a_admin: User
    a_member: User
    b_owner: User
    b_member: User
    b_department: Department
    b_invitation: Invitation
    a_department: Department

    def membership(self, user: User) -> Membership:
        with all_tenants_context():
            return Membership.unscoped.select_related("user").get(user=user)


@pytest.fixture
def world(tenant_a: Tenant, tenant_b: Tenant, make_customer: Callable[..., User]) -> World:
    b_owner = make_customer(tenant_b, "owner")
    b_invitation, _ = invitation_create(
        actor=Actor.for_user(b_owner),
        tenant=tenant_b,
        email="newcomer@globex.example",
        role="member",
    )
    return World(
        a=tenant_a,
        b=tenant_b,
        a_owner=make_customer(tenant_a, "owner"),
        a_admin=make_customer(tenant_a, "admin"),
        a_member=make_customer(tenant_a, "member"),
        b_owner=b_owner,
        b_member=make_customer(tenant_b, "member"),
        b_department=department_create(
            actor=SYSTEM, tenant=tenant_b, name="Globex R&D", code="GX-1"
        ),
        b_invitation=b_invitation,
        a_department=department_create(actor=SYSTEM, tenant=tenant_a, name="Finance", code="FIN"),
    )


@dataclass
class Fleet:
    """One tenant's registry: a site with an edge node, a device, an agent on it, a key."""

    site: Site
    node: EdgeNode
    device: Device
    agent: Agent
    key: AgentKey


def make_fleet(tenant: Tenant, prefix: str | None = None) -> Fleet:
    prefix = prefix or tenant.slug
    site = site_create(actor=SYSTEM, tenant=tenant, name=f"{prefix} HQ", location="Main street")
    node, _ = edge_node_create(
        actor=SYSTEM,
        site=site,
        name=f"{prefix}-edge-1",
        pull_url="https://edge.example.com:4318",
        agent_url="https://edge.example.com:4318",
        expected_version="0.1.0",
    )
    device, _ = device_register(actor=SYSTEM, site=site, name=f"{prefix}-host")
    agent = agent_create(actor=SYSTEM, tenant=tenant, name=f"{prefix}-agent", device=device)
    key, _ = agent_key_issue(actor=SYSTEM, agent=agent)
    return Fleet(site=site, node=node, device=device, agent=agent, key=key)


@pytest.fixture
def fleet_a(world: World) -> Fleet:
    return make_fleet(world.a)


@pytest.fixture
def fleet_b(world: World) -> Fleet:
    return make_fleet(world.b)

"""Two tenants with people of every role, and one object of every kind in tenant B."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from billing.closing import credit_note_issue
from billing.models import Invoice, Issuer
from billing.services import model_price_create, plan_create
from controlplane.accounts.models import User
from controlplane.agents import services as registry
from controlplane.agents.collectors import collector_key_issue
from controlplane.api.tokens import api_token_create
from controlplane.core.tenancy import all_tenants_context, tenant_context
from controlplane.gateway import services as gateway
from controlplane.gateway.bundle import publish
from tenants.models import Membership, Tenant
from tenants.services import department_create, invitation_create
from tests.conftest import SYSTEM

TENANT_ROLES = ("owner", "admin", "member", "billing", "viewer")
STAFF_ROLES = ("admin", "operator", "auditor")


class Api:
    """A JSON client for the API with one bearer token."""

    def __init__(self, token: str | None) -> None:
        self.token = token
        self.client = Client()

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return {**headers, **(extra or {})}

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        **query: Any,
    ) -> Any:
        if path.startswith("http://testserver"):
            path = path.removeprefix("http://testserver")
        url = path if path.startswith("/") else f"/api/v1/{path}"
        call = getattr(self.client, method.lower())
        if method.upper() in ("GET", "HEAD"):
            return call(url, query or None, headers=self.headers(headers))
        data = json.dumps(body) if body is not None else ""
        return call(url, data, content_type="application/json", headers=self.headers(headers))

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Any:
        return self.request("POST", path, body, **kwargs)

    def patch(self, path: str, body: Any = None, **kwargs: Any) -> Any:
        return self.request("PATCH", path, body, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.request("DELETE", path, **kwargs)


def issue_token(
    user: User,
    *,
    read_only: bool = False,
    tenant: Tenant | None = None,
    expires_in: dt.timedelta | None = dt.timedelta(days=1),
) -> str:
    if tenant is None and not user.is_msp_staff:
        with all_tenants_context():
            tenant = Membership.unscoped.get(user=user).tenant
    _, plaintext = api_token_create(
        actor=SYSTEM,
        user=user,
        name="tests",
        read_only=read_only,
        tenant_id=tenant.pk if tenant else None,
        expires_in=expires_in,
    )
    return plaintext


@dataclass
class World:
    a: Tenant
    b: Tenant
    users: dict[str, User]  # "a:owner", "b:owner", "staff:admin", ...
    b_objects: dict[str, uuid.UUID] = field(default_factory=dict)
    a_objects: dict[str, uuid.UUID] = field(default_factory=dict)
    trace_id: str = "4bf92f3577b34da6a3ce929d0e0e4736"

    def api(self, who: str, **kwargs: Any) -> Api:
        return Api(issue_token(self.users[who], **kwargs))


def _billing_objects(tenant: Tenant, suffix: str) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    """A plan, a final invoice (written directly: closing one renders a PDF) and a credit
    note of it."""
    issuer, _ = Issuer.objects.get_or_create(
        invoice_prefix="T-", defaults={"name": "MSP", "credit_note_prefix": "T-CN-"}
    )
    plan = plan_create(
        actor=SYSTEM, tenant_id=tenant.pk, name="Managed", effective_from=dt.date(2026, 1, 1)
    )
    with tenant_context(tenant):
        invoice = Invoice.objects.create(
            tenant=tenant,
            month=dt.date(2026, 10, 1),
            issuer=issuer,
            number=f"T-{suffix}",
            status=Invoice.Status.FINAL,
            currency="USD",
            tax_rate=Decimal(0),
            subtotal=Decimal("100"),
            total=Decimal("100"),
        )
    note = credit_note_issue(
        invoice_id=invoice.pk, tenant_id=tenant.pk, net=Decimal("1"), reason="test", actor=SYSTEM
    )
    return plan.pk, invoice.pk, note.pk


def _objects(tenant: Tenant, owner: User, suffix: str) -> dict[str, uuid.UUID]:
    department = department_create(actor=SYSTEM, tenant=tenant, name=f"R&D {suffix}", code="RD")
    invitation, _ = invitation_create(
        actor=SYSTEM, tenant=tenant, email=f"new-{suffix}@{tenant.slug}.example", role="member"
    )
    site = registry.site_create(actor=SYSTEM, tenant=tenant, name=f"HQ {suffix}")
    node, _ = registry.edge_node_create(
        actor=SYSTEM,
        site=site,
        name=f"edge-{suffix}",
        pull_url="https://edge.example:8443",
        agent_url="http://10.0.0.5:4318",
    )
    device, _ = registry.device_register(actor=SYSTEM, site=site, name=f"ws-{suffix}")
    agent = registry.agent_create(
        actor=SYSTEM, tenant=tenant, name=f"agent-{suffix}", department=department, device=device
    )
    key, _ = registry.agent_key_issue(actor=SYSTEM, agent=agent)
    collector_key, _ = collector_key_issue(actor=SYSTEM, site=site, name=f"otel-{suffix}")
    with all_tenants_context():
        membership = Membership.unscoped.get(user=owner)
    token, _ = api_token_create(actor=SYSTEM, user=owner, name="owner's", tenant_id=tenant.pk)
    provider = gateway.provider_create(
        actor=SYSTEM,
        tenant=tenant,
        name=f"own-{suffix}",
        kind="openai",
        base_url="https://own.example/v1",
        model_names=["gpt-4o"],
    )
    gateway.credential_set(actor=SYSTEM, provider=provider, secret=f"sk-own-{suffix}-0123456789")
    route = gateway.route_create(
        actor=SYSTEM,
        tenant=tenant,
        name=f"route-{suffix}",
        tier="complex",
        candidates=[{"provider_id": str(provider.pk), "model": "gpt-4o", "weight": 1}],
    )
    role_default = gateway.role_default_set(
        actor=SYSTEM, tenant=tenant, role="finance", allowed_tools=["ledger.query"]
    )
    budget = gateway.budget_create(
        actor=SYSTEM,
        tenant=tenant,
        scope="department",
        scope_id=department.pk,
        period="month",
        limit=Decimal("100"),
        kind="hard",
    )
    change = publish(site_id=site.pk, tenant_id=tenant.pk, actor=SYSTEM)
    plan, invoice, credit_note = _billing_objects(tenant, suffix)
    alert, window, quarantine = security_objects(tenant, agent.pk)
    run, evidence, exception = compliance_objects(tenant, owner)
    privacy = privacy_objects(tenant, agent)
    package, auditor = package_objects(tenant, suffix)
    return {
        "test_run": run,
        "evidence": evidence,
        "exception": exception,
        "evidence_package": package.pk,
        "auditor": auditor.pk,
        "plan": plan,
        "invoice": invoice,
        "credit_note": credit_note,
        "department": department.pk,
        "membership": membership.pk,
        "invitation": invitation.pk,
        "site": site.pk,
        "edge_node": node.pk,
        "device": device.pk,
        "agent": agent.pk,
        "agent_key": key.pk,
        "collector_key": collector_key.pk,
        "token": token.pk,
        "provider": provider.pk,
        "route": route.pk,
        "role_default": role_default.pk,
        "budget": budget.pk,
        "config_change": change.change_id,
        "alert": alert.pk,
        "incident": alert.incident_id,
        "maintenance_window": window.pk,
        "quarantine": quarantine.pk,
        **privacy,
    }


def package_objects(tenant: Tenant, suffix: str) -> tuple[Any, Any]:
    """An evidence package of the tenant (requested, not made) and an auditor of it."""
    from compliance.packages.services import package_request
    from compliance.periods import Period
    from controlplane.accounts.auditors import auditor_create

    quarter = Period.last_full_quarter(timezone.now().date())
    package = package_request(actor=SYSTEM, tenant=tenant, period=quarter)
    auditor = auditor_create(
        actor=SYSTEM,
        email=f"auditor-{suffix}@cpa.example",
        tenants=[tenant],
        period=quarter,
        expires_at=timezone.now() + dt.timedelta(days=30),
    )
    return package, auditor


@pytest.fixture(autouse=True)
def _fresh_counters() -> Iterator[None]:
    """Rate-limit and failed-authentication counters live in the cache, which outlives a
    test's transaction."""
    cache.clear()
    yield
    cache.clear()


def security_objects(tenant: Tenant, agent_id: uuid.UUID) -> tuple[Any, Any, Any]:
    """An alert (in its incident), a maintenance window and a quarantine of the tenant."""
    from controlplane.core.tenancy import tenant_context
    from controlplane.security.alerts import alerts_record
    from controlplane.security.detectors import Finding
    from controlplane.security.quarantine import quarantine_start
    from controlplane.security.services import maintenance_window_create

    now = timezone.now().replace(second=0, microsecond=0)
    finding = Finding(
        kind="volume",
        subject=f"volume:{agent_id}",
        agent_ids=[agent_id],
        site_id=None,
        started_at=now - dt.timedelta(minutes=10),
        detected_at=now,
        ended_at=now,
        severity="high",
        title="tasks 12x normal",
        evidence={"metric": "tasks", "observed": 120, "baseline_median": 10, "ratio": 12.0},
    )
    with tenant_context(tenant):
        [alert] = alerts_record(tenant_id=tenant.pk, findings=[finding], now=now)
    window = maintenance_window_create(
        actor=SYSTEM,
        tenant=tenant,
        title="Reindex",
        starts_at=now + dt.timedelta(days=1),
        ends_at=now + dt.timedelta(days=1, hours=2),
    )
    quarantine = quarantine_start(
        actor=SYSTEM, tenant=tenant, scope="agent", target_id=agent_id, reason="test"
    )
    return alert, window, quarantine


def compliance_objects(tenant: Tenant, owner: User) -> tuple[Any, Any, Any]:
    """A test run of the tenant with its evidence, and an exception it asked for."""
    from compliance.catalog import catalog_sync
    from compliance.models import Control
    from compliance.reviews import exception_request
    from compliance.runs import test_run_execute, test_run_request

    catalog_sync()
    control = Control.objects.get(code="CC6.1-AGENT-KEYS")
    run = test_run_request(
        actor=SYSTEM, trigger="api", tenant=tenant, control=control, enqueue=False
    )
    test_run_execute(run_id=run.pk)
    with tenant_context(tenant):
        evidence = run.evidence.first()
        exception = exception_request(
            actor=SYSTEM,
            requested_by=owner,
            tenant=tenant,
            control=control,
            justification="A key kept for the migration weekend, revoked after.",
            expires_at=timezone.now() + dt.timedelta(days=7),
        )
    return run.pk, evidence.pk, exception.pk


def privacy_objects(tenant: Tenant, agent: Any) -> dict[str, uuid.UUID]:
    """A legal hold, a retention run and a data-subject request of the tenant."""
    from compliance.privacy.models import RetentionRun
    from compliance.privacy.services import dsr_create, legal_hold_place

    hold = legal_hold_place(actor=SYSTEM, tenant=tenant, reason="dispute", agent=agent)
    with tenant_context(tenant):
        run = RetentionRun.objects.create(
            tenant=tenant,
            sweep_id=uuid.uuid4(),
            trigger="manual",
            requested_by_label="tests",
            started_at=timezone.now(),
            policy={},
            cutoffs={},
        )
    dsr = dsr_create(
        actor=SYSTEM, tenant=tenant, identifiers=[{"kind": "email", "value": "jo@example.com"}]
    )
    return {"legal_hold": hold.pk, "retention_run": run.pk, "data_subject_request": dsr.pk}


@pytest.fixture
def world(
    tenant_a: Tenant,
    tenant_b: Tenant,
    make_customer: Callable[..., User],
    make_staff: Callable[..., User],
) -> World:
    users: dict[str, User] = {}
    for role in TENANT_ROLES:
        users[f"a:{role}"] = make_customer(tenant_a, role)
    users["b:owner"] = make_customer(tenant_b, "owner")
    for role in STAFF_ROLES:
        users[f"staff:{role}"] = make_staff(role, with_mfa=False)
    world = World(a=tenant_a, b=tenant_b, users=users)
    world.b_objects = _objects(tenant_b, users["b:owner"], "b")
    world.a_objects = _objects(tenant_a, users["a:owner"], "a")
    price = model_price_create(
        actor=SYSTEM,
        provider="openai",
        model="gpt-4.1-mini",
        input_per_million=Decimal("0.4"),
        output_per_million=Decimal("1.6"),
        effective_from=timezone.now() - dt.timedelta(days=60),
    )
    world.b_objects["model_price"] = world.a_objects["model_price"] = price.pk
    return world


@pytest.fixture
def live_api(live_server: Any) -> Iterator[str]:
    """The base URL of a live server on a committed database (emptied after the test;
    the test database's marker lets that flush truncate the audit trail)."""
    yield str(live_server.url)

"""The demo's gateway configuration: two simulated providers, routes per tier, prices,
a policy and role defaults per demo tenant, and a few budgets.

The providers point at the simulated provider the edge serves for the demo at
127.0.0.1:4400 (OpenAI-compatible under /v1, Anthropic at the root). Idempotent: what
exists is left alone.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from billing.models import ModelPrice
from billing.services import model_price_create
from controlplane.agents.models import Agent
from controlplane.audit.services import Actor
from controlplane.core.tenancy import all_tenants_context, tenant_context
from controlplane.gateway.models import Policy, Provider, Route
from controlplane.gateway.services import (
    budget_create,
    credential_set,
    policy_set,
    provider_create,
    role_default_set,
    route_create,
)
from tenants.models import Department, Tenant

ACTOR = Actor.system("seed_demo")
SIMULATOR = "http://127.0.0.1:4400"
PRICES_FROM = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

OPENAI_MODELS = ("gpt-4o-mini", "gpt-4o", "text-embedding-3-small")
ANTHROPIC_MODELS = ("claude-3-5-haiku", "claude-sonnet-4")
# USD per million tokens (input, output), list prices of the real models.
PRICES = {
    "gpt-4o-mini": (Decimal("0.15"), Decimal("0.60")),
    "gpt-4o": (Decimal("2.50"), Decimal("10.00")),
    "text-embedding-3-small": (Decimal("0.02"), Decimal("0")),
    "claude-3-5-haiku": (Decimal("0.80"), Decimal("4.00")),
    "claude-sonnet-4": (Decimal("3.00"), Decimal("15.00")),
    "gemini-2.0-flash": (Decimal("0.10"), Decimal("0.40")),
    "mistral-large": (Decimal("2.00"), Decimal("6.00")),
}
# The simulated providers, and the vendor names the OTLP simulator reports
# (controlplane/telemetry/simulator.py), so its demo traffic is priced too.
PRICED_PROVIDERS = {
    "sim-openai": OPENAI_MODELS,
    "sim-anthropic": ANTHROPIC_MODELS,
    "openai": OPENAI_MODELS,
    "anthropic": ANTHROPIC_MODELS,
    # The 30-day history (controlplane/telemetry/seeding.py) also calls these two.
    "google": ("gemini-2.0-flash",),
    "mistral": ("mistral-large",),
}

# Which data classes each tool touches (controlplane/telemetry/simulator.py's tools).
TOOL_DATA_CLASSES = {
    "crm.search_contacts": ["pii"],
    "web.search": ["public"],
    "docs.write_draft": ["public"],
    "ledger.query": ["finance"],
    "invoices.lookup": ["finance", "pii"],
    "fx.rates": ["finance"],
    "tickets.search": ["pii"],
    "kb.search": ["public"],
    "tickets.reply": ["pii"],
    "github.search_code": ["source_code"],
    "ci.status": ["source_code"],
    "docs.search": ["public"],
    "hris.lookup_employee": ["hr", "pii"],
    "calendar.find_slot": ["pii"],
}
WORKDAYS = {"days": [0, 1, 2, 3, 4], "start": "07:00", "end": "20:00", "tz": "Europe/Berlin"}
ROLE_DEFAULTS: dict[str, dict[str, Any]] = {
    # The whitepaper's example: marketing touches no finance tool and no finance data.
    "marketing": {
        "allowed_tools": ["crm.search_contacts", "web.search", "docs.write_draft"],
        "data_classes": ["public", "pii"],
        "allowed_models": ["gpt-4o-mini", "claude-3-5-haiku", "text-embedding-3-small"],
        "tier": "simple",
        "operating_window": WORKDAYS,
    },
    "finance": {
        "allowed_tools": ["ledger.query", "invoices.lookup", "fx.rates"],
        "data_classes": ["public", "finance", "pii"],
        "tier": "complex",
        "operating_window": WORKDAYS,
    },
    "support": {
        "allowed_tools": ["tickets.search", "kb.search", "tickets.reply"],
        "data_classes": ["public", "pii"],
        "tier": "simple",
    },
    "engineering": {
        "allowed_tools": ["github.search_code", "ci.status", "docs.search"],
        "data_classes": ["public", "source_code"],
        "tier": "standard",
    },
    "hr": {
        "allowed_tools": ["hris.lookup_employee", "calendar.find_slot", "docs.search"],
        "data_classes": ["public", "pii", "hr"],
        "tier": "standard",
        "operating_window": WORKDAYS,
    },
}
POLICIES: dict[str, dict[str, Any]] = {
    "acme": {"injection": "block", "pii": "redact"},
    "globex": {"injection": "block", "pii": "flag"},
    "initech": {"injection": "flag", "pii": "block"},
}
PERIOD_NAMES = {"day": "daily", "month": "monthly"}
# (tenant, scope, agent or department name, period, limit, kind)
BUDGETS = (
    ("acme", "tenant", None, "month", "500.00", "hard"),
    ("acme", "tenant", None, "month", "400.00", "soft"),
    ("acme", "department", "Marketing", "day", "5.00", "hard"),
    ("acme", "agent", "finance-analyst", "day", "10.00", "soft"),
    ("globex", "tenant", None, "day", "25.00", "hard"),
    ("initech", "tenant", None, "month", "100.00", "hard"),
)


def seed_demo_gateway() -> None:
    if settings.IS_PRODUCTION:
        raise ImproperlyConfigured("The demo data is never loaded in production.")
    with all_tenants_context():
        providers = _providers()
        _prices()
        _routes(providers)
    for tenant in Tenant.objects.filter(slug__in=POLICIES):
        with tenant_context(tenant):
            if Policy.objects.exists():
                continue
            policy_set(
                actor=ACTOR,
                tenant=tenant,
                tool_data_classes=TOOL_DATA_CLASSES,
                **POLICIES[tenant.slug],
            )
            for role, fields in ROLE_DEFAULTS.items():
                role_default_set(actor=ACTOR, tenant=tenant, role=role, **fields)
            _budgets(tenant)


def _providers() -> dict[str, Provider]:
    found = {p.name: p for p in Provider.unscoped.filter(name__in=["sim-openai", "sim-anthropic"])}
    for name, kind, url, models in (
        ("sim-openai", "openai", f"{SIMULATOR}/v1", OPENAI_MODELS),
        ("sim-anthropic", "anthropic", SIMULATOR, ANTHROPIC_MODELS),
    ):
        if name in found:
            continue
        provider = provider_create(
            actor=ACTOR, tenant=None, name=name, kind=kind, base_url=url, model_names=models
        )
        # Demo keys for the simulator; a real provider's key is entered once and then
        # only its last four characters are ever shown.
        credential_set(actor=ACTOR, provider=provider, secret=f"{name}-demo-key-0001")
        found[name] = provider
    return found


def _prices() -> None:
    for provider, models in PRICED_PROVIDERS.items():
        for model in models:
            if ModelPrice.objects.filter(provider=provider, model=model).exists():
                continue
            input_price, output_price = PRICES[model]
            model_price_create(
                actor=ACTOR,
                provider=provider,
                model=model,
                input_per_million=input_price,
                output_per_million=output_price,
                effective_from=PRICES_FROM,
            )


def _routes(providers: dict[str, Provider]) -> None:
    if Route.unscoped.filter(tenant__isnull=True).exists():
        return
    openai, anthropic = str(providers["sim-openai"].pk), str(providers["sim-anthropic"].pk)

    def to(provider: str, model: str, weight: int = 1) -> dict[str, Any]:
        return {"provider_id": provider, "model": model, "weight": weight}

    for name, tier, model, candidates in (
        # Simple tasks to the efficient models, complex reasoning to the frontier ones;
        # the second provider is the failover.
        (
            "simple",
            "simple",
            "*",
            [to(openai, "gpt-4o-mini", 3), to(anthropic, "claude-3-5-haiku")],
        ),
        ("standard", "standard", "*", [to(openai, "gpt-4o", 2), to(anthropic, "claude-sonnet-4")]),
        ("complex", "complex", "*", [to(anthropic, "claude-sonnet-4", 2), to(openai, "gpt-4o")]),
        # A model asked for by name goes where it is served, as asked.
        *(
            (model, "*", model, [to(openai if model in OPENAI_MODELS else anthropic, model)])
            for model in (*OPENAI_MODELS, *ANTHROPIC_MODELS)
        ),
    ):
        route_create(
            actor=ACTOR,
            tenant=None,
            name=name,
            tier=tier,
            model=model,
            candidates=candidates,
            max_attempts=2,
            timeout_seconds=30,
        )


def _budgets(tenant: Tenant) -> None:
    for slug, scope, target, period, limit, kind in BUDGETS:
        if slug != tenant.slug:
            continue
        scope_id = None
        if scope == "department":
            scope_id = Department.objects.filter(name=target).values_list("pk", flat=True).first()
        elif scope == "agent":
            scope_id = Agent.objects.filter(name=target).values_list("pk", flat=True).first()
        if scope != "tenant" and scope_id is None:
            continue
        budget_create(
            actor=ACTOR,
            tenant=tenant,
            scope=scope,
            scope_id=scope_id,
            period=period,
            limit=Decimal(limit),
            kind=kind,
            name=f"{target or tenant.name} {PERIOD_NAMES[period]} {kind} limit",
        )

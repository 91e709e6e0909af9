"""The signed configuration bundle an edge node pulls (docs/gateway.md).

Two layers:

- The **site content**: everything the edges of one site need, without secrets and
  without anything node-specific — registry (device and agent key digests), agent
  profiles (role defaults merged in), the tenant's policy, providers (credential id and
  version in place of the key), routes in match order, prices, and budgets with every
  node's allowance. It depends only on the database, is built under a lock on the site
  row (so it is one consistent snapshot of one ``config_version``) and is recorded once
  per version as a ``ConfigChange`` with its diff against the previous one.
- The **node payload**: the content for one node — its id, its own allowances, and the
  provider keys encrypted for it with Fernet(HKDF-SHA256(node token)) — as canonical
  JSON, signed with Ed25519 (``BUNDLE_SIGNING_KEYS``) into the envelope of
  ``PUT /v1/config``.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import logging
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.utils import timezone

from billing.models import ModelPrice
from controlplane.agents.collectors import bundle_sections as collector_sections
from controlplane.agents.models import Agent, EdgeNode, Site
from controlplane.agents.selectors import site_registry
from controlplane.agents.services import edge_node_token
from controlplane.audit.services import Actor, audit_record, snapshot
from controlplane.core.crypto import key_ring
from controlplane.core.tenancy import all_tenants_context, tenant_context
from controlplane.gateway.models import (
    ANY,
    Budget,
    BudgetAllowance,
    ConfigChange,
    Policy,
    Provider,
    ProviderCredential,
    RoleDefault,
    Route,
    Tier,
)
from controlplane.gateway.selectors import period_start
from controlplane.gateway.services import PULL_ACTOR, bump_site
from controlplane.gateway.signing import signing_ring
from controlplane.security.profiles import watch_section
from controlplane.security.quarantine import EMPTY_QUARANTINE
from controlplane.security.quarantine import bundle_section as quarantine_section
from edge.gateway.catalog import CLASS_PRICE_KEYS
from tenants.models import Tenant

logger = logging.getLogger(__name__)

FORMAT = "acp-bundle-v1"
PLAIN_FORMAT = "acp-config-v1"
_HKDF_SALT = b"acp-bundle"
_HKDF_INFO = b"provider-keys"
RECENT_PERIODS = 2
"""Budget periods per budget in a bundle: the current one and the one before or after."""
ROW_WINDOW = dt.timedelta(days=70)


class BundleError(ValueError):
    """An envelope that is malformed or whose signature does not verify."""


def canonical_json(value: Any) -> bytes:
    """The bytes that are signed and hashed: sorted keys, no spaces, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def node_fernet(node_token: str) -> Fernet:
    """The key provider secrets are encrypted with for one node (docs/gateway.md)."""
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=_HKDF_SALT, info=_HKDF_INFO).derive(
        node_token.encode()
    )
    return Fernet(base64.urlsafe_b64encode(derived))


# --- the site content ------------------------------------------------------------------------


def agent_profile(
    agent: Agent, default: RoleDefault | None, ceiling: int | None = None
) -> dict[str, Any]:
    """What the edge enforces for one agent: each of its own fields when set (non-empty),
    else its role's default; tier falls back to "standard", the window to always, the
    request-rate ceiling to the tenant policy's (``ceiling``)."""

    def pick(own: Any, field: str, fallback: Any) -> Any:
        if own:
            return own
        return getattr(default, field) if default is not None else fallback

    window = pick(agent.operating_window, "operating_window", {})
    return {
        "agent_id": str(agent.pk),
        "tenant_id": str(agent.tenant_id),
        "department_id": str(agent.department_id) if agent.department_id else None,
        "role": agent.role,
        "tier": pick(agent.tier, "tier", "") or Tier.STANDARD.value,
        "allowed_models": sorted(set(pick(agent.allowed_models, "allowed_models", []))),
        "allowed_tools": sorted(set(pick(agent.tools, "allowed_tools", []))),
        "data_classes": sorted(set(pick(agent.data_classes, "data_classes", []))),
        "operating_window": window or None,
        "max_requests_per_minute": pick(
            agent.max_requests_per_minute, "max_requests_per_minute", None
        )
        or ceiling,
    }


def _site_agents(site: Site) -> list[Agent]:
    return list(Agent.objects.filter(device__site=site).order_by("pk"))


def _agents(agents: list[Agent]) -> list[dict[str, Any]]:
    defaults = {default.role: default for default in RoleDefault.objects.all()}
    policy = Policy.objects.first()
    ceiling = policy.max_requests_per_minute if policy else None
    return [agent_profile(agent, defaults.get(agent.role), ceiling) for agent in agents]


def _policy(tenant_id: uuid.UUID) -> dict[str, Any]:
    policy = Policy.objects.first() or Policy(tenant_id=tenant_id)
    return {
        "tenant_id": str(tenant_id),
        "injection": policy.injection,
        "injection_stage": policy.injection_stage,
        "pii": policy.pii,
        # Empty in the database means every type: say so explicitly to the edge.
        "pii_types": sorted(set(policy.pii_types)) or list(Policy.PII_TYPES),
        "tool_data_classes": {
            tool: sorted(set(classes)) for tool, classes in sorted(policy.tool_data_classes.items())
        },
        "cache_ttl_seconds": policy.cache_ttl_seconds,
        "auto_simple_max": policy.auto_simple_max,
        "auto_complex_min": policy.auto_complex_min,
    }


def _providers() -> list[dict[str, Any]]:
    providers = list(Provider.objects.filter(enabled=True).order_by("name"))
    with all_tenants_context():
        credentials = {
            provider_id: (credential_id, version)
            for credential_id, provider_id, version in ProviderCredential.unscoped.filter(
                provider_id__in=[p.pk for p in providers]
            ).values_list("pk", "provider_id", "version")
        }
    result = []
    for provider in providers:
        credential = credentials.get(provider.pk)
        result.append(
            {
                "provider_id": str(provider.pk),
                "tenant_id": str(provider.tenant_id) if provider.tenant_id else None,
                "name": provider.name,
                "kind": provider.kind,
                "base_url": provider.base_url,
                "on_premises": provider.on_premises,
                "models": sorted(provider.model_names),
                "credential": (
                    {"credential_id": str(credential[0]), "version": credential[1]}
                    if credential
                    else None
                ),
            }
        )
    return result


def _route_order(route: Mapping[str, Any]) -> tuple[Any, ...]:
    """The edge takes the first route that matches: the tenant's before the MSP's, an
    exact model before "*", then an exact tier before "*"."""
    return (
        route["tenant_id"] is None,
        route["model"] == ANY,
        route["tier"] == ANY,
        route["tier"],
        route["model"],
        route["route_id"],
    )


def _routes(providers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    offered = {p["provider_id"]: p for p in providers}
    result = []
    for route in Route.objects.all():
        tenant_id = str(route.tenant_id) if route.tenant_id else None
        candidates = [
            {
                "provider_id": str(c["provider_id"]),
                "model": c.get("model", ANY),
                "weight": c.get("weight", 1),
            }
            for c in route.candidates
            if str(c.get("provider_id")) in offered
            and offered[str(c["provider_id"])]["tenant_id"] in (None, tenant_id)
        ]
        if not candidates:  # every provider of the route is disabled or gone
            continue
        result.append(
            {
                "route_id": str(route.pk),
                "tenant_id": tenant_id,
                "name": route.name,
                "tier": route.tier,
                "model": route.model,
                "candidates": candidates,
                "max_attempts": route.max_attempts,
                "timeout_seconds": route.timeout_seconds,
            }
        )
    return sorted(result, key=_route_order)


def _prices(providers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The catalog rows of each provider's name (its own price) and of its kind (the
    vendor's list price, which an edge falls back to; docs/gateway.md, "Prices")."""
    keys = {p["name"] for p in providers} | {p["kind"] for p in providers}
    prices = ModelPrice.objects.filter(provider__in=keys).order_by(
        "provider", "model", "effective_from"
    )
    return [
        {
            "provider": price.provider,
            "model": price.model,
            "input_per_million": str(price.input_per_million),
            "output_per_million": str(price.output_per_million),
            **{
                key: str(getattr(price, key))
                for key in CLASS_PRICE_KEYS
                if getattr(price, key) is not None
            },
            "effective_from": iso(price.effective_from),
        }
        for price in prices
    ]


def _budgets(site: Site, now: dt.datetime) -> list[dict[str, Any]]:
    """Per budget, the most recent periods that any node of the site has rows for, with
    every node's allowance. Rows are created at the pulls (services.allowances_refresh),
    each raising the version, so this depends on the database only — except for a budget
    no node has a row of yet, given for the current period with nothing allowed."""
    budgets = list(Budget.objects.order_by("pk"))
    periods: dict[uuid.UUID, dict[dt.datetime, dict[str, Decimal]]] = {}
    # Pulls create rows for the current period of every budget, so the two most recent
    # periods lie well within this window for any site that is being pulled.
    rows = BudgetAllowance.objects.filter(
        edge_node__site=site, budget__in=budgets, period_start__gte=now - ROW_WINDOW
    )
    for row in rows:
        by_start = periods.setdefault(row.budget_id, {})
        by_start.setdefault(row.period_start, {})[str(row.edge_node_id)] = row.allowance
    result = []
    for budget in budgets:
        known = periods.get(budget.pk, {})
        starts = sorted(known)[-RECENT_PERIODS:] or [period_start(budget.period, now)]
        for start in starts:
            allowances = known.get(start, {})
            result.append(
                {
                    "budget_id": str(budget.pk),
                    "tenant_id": str(budget.tenant_id),
                    "name": budget.name,
                    "scope": budget.scope,
                    "scope_id": str(budget.scope_id),
                    "period": budget.period,
                    "period_start": iso(start),
                    "limit": str(budget.limit),
                    "kind": budget.kind,
                    "allowances": {node: str(allowances[node]) for node in sorted(allowances)},
                }
            )
    return result


def _residency(tenant_id: uuid.UUID) -> list[dict[str, Any]]:
    """Whether the tenant's bodies stay at the edge, and how long the edge keeps those
    it holds (docs/decisions/0030-body-residency.md)."""
    tenant = Tenant.objects.get(pk=tenant_id)
    return [
        {
            "tenant_id": str(tenant.pk),
            "bodies_at_edge": tenant.body_residency,
            "retention_days": tenant.retention_days,
        }
    ]


def site_content(site: Site, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """The node-independent bundle content of ``site`` at its current version. The
    caller holds the site's tenant scope."""
    providers = _providers()
    agents = _site_agents(site)
    return {
        "version": site.config_version,
        "site_id": str(site.pk),
        "tenant_id": str(site.tenant_id),
        **site_registry(site),
        "agents": _agents(agents),
        "policies": [_policy(site.tenant_id)],
        "providers": providers,
        "routes": _routes(providers),
        "prices": _prices(providers),
        "budgets": _budgets(site, now or timezone.now()),
        "quarantine": quarantine_section(site.tenant_id),
        "watch": watch_section(site.tenant_id, agents),
        "residency": _residency(site.tenant_id),
        **collector_sections(site),
    }


# --- diffs -------------------------------------------------------------------------------------

_SECTION_KEYS: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "devices": lambda item: str(item["device_id"]),
    "agent_keys": lambda item: str(item["key_id"]),
    "agents": lambda item: str(item["agent_id"]),
    "policies": lambda item: str(item["tenant_id"]),
    "providers": lambda item: str(item["provider_id"]),
    "routes": lambda item: str(item["route_id"]),
    "prices": lambda item: f"{item['provider']}/{item['model']}@{item['effective_from']}",
    "budgets": lambda item: f"{item['budget_id']}@{item['period_start']}",
    "watch": lambda item: str(item["agent_id"]),
    "residency": lambda item: str(item["tenant_id"]),
    "collector_keys": lambda item: str(item["key_id"]),
    "site_agents": lambda item: str(item["agent_id"]),
}


def _keyed(items: Iterable[Mapping[str, Any]], key: Callable[[Mapping[str, Any]], str]) -> dict:
    return {key(item): item for item in items}


def config_diff(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> dict[str, Any]:
    """What changed between two site contents, per section: items added, removed, and
    changed (with each field's old and new value). Sections without changes are left
    out; a first version lists everything as added."""
    sections: dict[str, Any] = {}
    for name, key in _SECTION_KEYS.items():
        before = _keyed((old or {}).get(name, []), key)
        after = _keyed(new.get(name, []), key)
        section: dict[str, Any] = {}
        added = [after[k] for k in sorted(after.keys() - before.keys())]
        removed = [before[k] for k in sorted(before.keys() - after.keys())]
        changed = []
        for k in sorted(before.keys() & after.keys()):
            fields = {
                field: {"from": before[k].get(field), "to": after[k].get(field)}
                for field in sorted(before[k].keys() | after[k].keys())
                if before[k].get(field) != after[k].get(field)
            }
            if fields:
                changed.append({"key": k, "fields": fields})
        if added:
            section["added"] = added
        if removed:
            section["removed"] = removed
        if changed:
            section["changed"] = changed
        if section:
            sections[name] = section
    return {
        "from_version": old.get("version") if old else None,
        "to_version": new.get("version"),
        "sections": sections,
    }


def summarize(diff: Mapping[str, Any]) -> str:
    parts = []
    for name, section in diff["sections"].items():
        counts = [
            f"{len(section[kind])} {kind}"
            for kind in ("added", "removed", "changed")
            if kind in section
        ]
        parts.append(f"{name.replace('_', ' ')}: {', '.join(counts)}")
    prefix = "first version" if diff["from_version"] is None else f"since v{diff['from_version']}"
    return f"{prefix}: {'; '.join(parts)}" if parts else f"{prefix}: no change in content"


# --- publishing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Published:
    """One site's content at one version, recorded as a ConfigChange."""

    site_id: uuid.UUID
    version: int
    content: dict[str, Any]
    sha256: str
    change_id: uuid.UUID


def publish(
    *, site_id: uuid.UUID, tenant_id: uuid.UUID, actor: Actor, now: dt.datetime | None = None
) -> Published:
    """The site's content at its current version, recorded (once per version) as a
    ConfigChange with its diff, and audited as ``config.published``.

    The site row is locked meanwhile: every change that affects edges raises the
    version on that row in its own transaction, so none can commit halfway through the
    snapshot. Should the content of a version already recorded differ (a change that
    forgot to raise the version), the version is raised here so edges get it.
    """
    with tenant_context(tenant_id):
        site = Site.objects.select_for_update().get(pk=site_id)
        content = site_content(site, now=now)
        digest = hashlib.sha256(canonical_json(content)).hexdigest()
        change = ConfigChange.objects.filter(site=site, version=site.config_version).first()
        if change is not None and change.payload_sha256 != digest:
            logger.warning(
                "site %s: content of version %s changed without a version bump; raising it",
                site.pk,
                site.config_version,
            )
            bump_site(site.pk)
            site.refresh_from_db(fields=["config_version"])
            content["version"] = site.config_version
            digest = hashlib.sha256(canonical_json(content)).hexdigest()
            change = None
        if change is None:
            previous = (
                ConfigChange.objects.filter(site=site, version__lt=site.config_version)
                .order_by("-version")
                .first()
            )
            diff = config_diff(previous.content if previous else None, content)
            change = ConfigChange.objects.create(
                tenant_id=tenant_id,
                site=site,
                version=site.config_version,
                previous_version=previous.version if previous else None,
                actor_kind=actor.kind,
                actor_label=actor.label[:254],
                summary=summarize(diff),
                diff=diff,
                content=content,
                payload_sha256=digest,
            )
            audit_record(
                actor=actor,
                action="config.published",
                target=change,
                tenant_id=tenant_id,
                after=snapshot(change),
            )
        return Published(
            site_id=site.pk,
            version=site.config_version,
            content=content,
            sha256=digest,
            change_id=change.pk,
        )


def _provider_secrets(provider_ids: list[str]) -> dict[str, str]:
    with all_tenants_context():
        stored = ProviderCredential.unscoped.filter(provider_id__in=provider_ids).values_list(
            "provider_id", "encrypted_secret"
        )
        ring = key_ring()
        return {str(provider_id): ring.decrypt(secret) for provider_id, secret in stored}


def node_payload(
    *, node: EdgeNode, published: Published, node_token: str, issued_at: dt.datetime | None = None
) -> dict[str, Any]:
    """The bundle payload for one node: its id, its own allowances (a soft budget's
    "allowance" is its limit), and each provider key encrypted for this node only."""
    content = published.content
    node_id = str(node.pk)
    fernet = node_fernet(node_token)
    secrets = _provider_secrets([p["provider_id"] for p in content["providers"] if p["credential"]])
    providers = []
    for provider in content["providers"]:
        secret = secrets.get(provider["provider_id"])
        entry = {k: v for k, v in provider.items() if k != "credential"}
        entry["api_key_enc"] = fernet.encrypt(secret.encode()).decode() if secret else None
        providers.append(entry)
    budgets = []
    for budget in content["budgets"]:
        entry = {k: v for k, v in budget.items() if k != "allowances"}
        hard = budget["kind"] == Budget.Kind.HARD
        entry["allowance"] = budget["allowances"].get(node_id, "0") if hard else budget["limit"]
        budgets.append(entry)
    return {
        "version": published.version,
        "node_id": node_id,
        "site_id": content["site_id"],
        "issued_at": iso(issued_at or timezone.now()),
        "devices": content["devices"],
        "agent_keys": content["agent_keys"],
        "agents": content["agents"],
        "policies": content["policies"],
        "providers": providers,
        "routes": content["routes"],
        "prices": content["prices"],
        "budgets": budgets,
        "quarantine": content.get("quarantine", EMPTY_QUARANTINE),
        "watch": {"agents": content.get("watch", [])},
        **_registry_extras(content),
    }


def _registry_extras(content: Mapping[str, Any]) -> dict[str, Any]:
    """The sections of a site's content that are neither gateway nor secret, which the
    plain document carries too: residency and site collectors (absent from contents
    recorded before they existed)."""
    return {key: content.get(key, []) for key in ("residency", "collector_keys", "site_agents")}


def sign(payload: Mapping[str, Any]) -> dict[str, str]:
    """The ``PUT /v1/config`` envelope of a payload: canonical JSON, base64, signed."""
    data = canonical_json(payload)
    key_id, signature = signing_ring().sign(data)
    return {
        "format": FORMAT,
        "key_id": key_id,
        "payload": base64.b64encode(data).decode(),
        "signature": base64.b64encode(signature).decode(),
    }


def verify(envelope: Mapping[str, Any], public_keys: Mapping[str, bytes]) -> dict[str, Any]:
    """The payload of an envelope whose signature verifies (what the edge does)."""
    if envelope.get("format") != FORMAT:
        raise BundleError(f"format must be {FORMAT}")
    public_key = public_keys.get(str(envelope.get("key_id")))
    if public_key is None:
        raise BundleError("unknown key_id")
    try:
        data = base64.b64decode(str(envelope["payload"]), validate=True)
        signature = base64.b64decode(str(envelope["signature"]), validate=True)
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, data)
    except (KeyError, ValueError, InvalidSignature) as exc:
        raise BundleError("the signature does not verify") from exc
    payload: dict[str, Any] = json.loads(data)
    return payload


def signed_bundle(*, node: EdgeNode, published: Published, node_token: str) -> dict[str, str]:
    return sign(node_payload(node=node, published=published, node_token=node_token))


def plain_document(*, node: EdgeNode, published: Published) -> dict[str, Any]:
    """The v1 configuration (registry only, no gateway sections, no secrets) for an edge
    that does not take bundles (docs/edge-protocol.md)."""
    content = published.content
    return {
        "version": published.version,
        "node_id": str(node.pk),
        "site_id": content["site_id"],
        "devices": content["devices"],
        "agent_keys": content["agent_keys"],
        **_registry_extras(content),
    }


def build_bundle(*, node: EdgeNode, actor: Actor = PULL_ACTOR) -> dict[str, str]:
    """Publish the node's site at its current version and sign the node's bundle."""
    published = publish(site_id=node.site_id, tenant_id=node.tenant_id, actor=actor)
    return signed_bundle(node=node, published=published, node_token=edge_node_token(node))

"""Changes to providers, credentials, policies, routes and budgets.

Every function is keyword-only, audited with ``audit_record`` (never with a secret:
credentials appear as key id, last four characters and version), and raises the
``config_version`` of every site whose edges must learn of the change — the tenant's
sites, or every site for an MSP-wide row — in the same transaction, *before* the audit
entry (sites, then the audit chain head: one lock order everywhere).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Sum
from django.utils import timezone

from controlplane.agents.models import Agent, EdgeNode, Site
from controlplane.audit.services import Actor, audit_record, snapshot
from controlplane.core.crypto import key_ring
from controlplane.core.tenancy import all_tenants_context, tenant_context
from controlplane.gateway.models import (
    ANY,
    MONEY_QUANTUM,
    Budget,
    BudgetAllowance,
    Policy,
    Provider,
    ProviderCredential,
    RoleDefault,
    Route,
)
from controlplane.gateway.outbound import check_base_url
from controlplane.gateway.selectors import (
    CredentialInfo,
    budget_relevant,
    period_end,
    scope_spend,
    site_scope,
    spend_by_agent,
)
from controlplane.gateway.selectors import period_start as start_of_period
from tenants.models import Department, Tenant

logger = logging.getLogger(__name__)

PULL_ACTOR = Actor.system("edge-pull")
TOP_UP_FLOOR = Decimal("0.05")
"""The smallest top-up, as a share of the limit (docs/gateway.md)."""
PREGRANT = dt.timedelta(hours=1)
"""How long before a period ends its successor's first allowance is already granted,
so edges have it at the boundary even if the control plane is unreachable then."""


# --- scopes and versions ---------------------------------------------------------------------


def _scope(tenant_id: uuid.UUID | None) -> Any:
    """The tenant's scope, or all tenants for an MSP-wide row."""
    return tenant_context(tenant_id) if tenant_id else all_tenants_context()


def bump_sites(*, tenant_id: uuid.UUID | None) -> None:
    """Raise ``config_version`` of the tenant's sites, or of every site (MSP-wide).

    Rows are locked in primary-key order first, so concurrent bumps cannot deadlock.
    """
    with _scope(tenant_id):
        manager = Site.objects if tenant_id else Site.unscoped
        ids = list(manager.select_for_update().order_by("pk").values_list("pk", flat=True))
        manager.filter(pk__in=ids).update(config_version=F("config_version") + 1)


def prices_changed(*, provider: str) -> None:
    """Bundles carry their providers' prices: a new price of ``provider`` raises the
    config version of the sites that can use it."""
    with all_tenants_context():
        owners = set(Provider.unscoped.filter(name=provider).values_list("tenant_id", flat=True))
    for tenant_id in owners:
        bump_sites(tenant_id=tenant_id)


def bump_site(site_id: uuid.UUID) -> None:
    Site.objects.filter(pk=site_id).update(config_version=F("config_version") + 1)


def _check_fields(changes: dict[str, Any], allowed: Sequence[str], what: str) -> None:
    unknown = set(changes) - set(allowed)
    if unknown:
        raise ValueError(f"unknown {what} fields: {', '.join(sorted(unknown))}")


@contextmanager
def _unique_as_validation(field: str, message: str) -> Iterator[None]:
    """A unique constraint the ORM check could not see (rows of other tenants are
    invisible to it) reported like the ORM check would."""
    try:
        with transaction.atomic():
            yield
    except IntegrityError as exc:
        if "unique" not in str(exc).lower() and "duplicate" not in str(exc).lower():
            raise
        raise ValidationError({field: message}) from None


# --- providers -------------------------------------------------------------------------------


def provider_create(
    *,
    actor: Actor,
    tenant: Tenant | None,
    name: str,
    kind: str,
    base_url: str,
    model_names: Sequence[str] = (),
    enabled: bool = True,
    on_premises: bool = False,
) -> Provider:
    """Register a provider: MSP-wide (``tenant=None``) or the tenant's own.
    ``on_premises`` is for staff to set (the views only offer it to them)."""
    tenant_id = tenant.pk if tenant else None
    with _scope(tenant_id):
        provider = Provider(
            tenant=tenant,
            name=name.strip(),
            kind=kind,
            base_url=base_url.strip(),
            model_names=list(model_names),
            enabled=enabled,
            on_premises=on_premises,
        )
        provider.full_clean(validate_unique=False)
        check_base_url(provider.base_url, allow_private=provider.allow_private)
        with _unique_as_validation("name", "A provider with this name exists."):
            provider.save(force_insert=True)
        bump_sites(tenant_id=tenant_id)
        audit_record(
            actor=actor,
            action="provider.created",
            target=provider,
            tenant_id=tenant_id,
            after=snapshot(provider),
        )
    return provider


def provider_update(*, actor: Actor, provider: Provider, **changes: Any) -> Provider:
    """Change any of kind, base_url, model_names, enabled (the name is the catalog key
    of prices and usage: it does not change)."""
    _check_fields(changes, Provider.UPDATABLE, "provider")
    with _scope(provider.tenant_id):
        before = snapshot(provider)
        for field, value in changes.items():
            setattr(provider, field, list(value) if field == "model_names" else value)
        provider.full_clean(validate_unique=False)
        check_base_url(provider.base_url, allow_private=provider.allow_private)
        provider.save(update_fields=[*changes, "updated_at"])
        bump_sites(tenant_id=provider.tenant_id)
        audit_record(
            actor=actor,
            action="provider.updated",
            target=provider,
            tenant_id=provider.tenant_id,
            before=before,
            after=snapshot(provider),
        )
    return provider


def provider_delete(*, actor: Actor, provider: Provider) -> None:
    """Remove a provider no route uses (any tenant's route)."""
    with _scope(provider.tenant_id):
        with all_tenants_context():
            used = Route.unscoped.filter(candidates__contains=[{"provider_id": str(provider.pk)}])
            names = list(used.values_list("name", flat=True)[:5])
        if names:
            raise ValidationError(f"Routes still use this provider: {', '.join(names)}.")
        bump_sites(tenant_id=provider.tenant_id)
        audit_record(
            actor=actor,
            action="provider.deleted",
            target=provider,
            tenant_id=provider.tenant_id,
            before=snapshot(provider),
        )
        provider.delete()


def _clean_secret(secret: str) -> str:
    value = secret.strip()
    if len(value) < 8 or any(c.isspace() for c in value):
        raise ValidationError({"secret": "Enter the provider's API key (8+ characters)."})
    return value


def credential_set(*, actor: Actor, provider: Provider, secret: str) -> CredentialInfo:
    """Store the provider's API key, encrypted with the newest field key. The secret is
    never returned or shown again; the answer says what can be shown (last four)."""
    value = _clean_secret(secret)
    with _scope(provider.tenant_id):
        if ProviderCredential.unscoped.filter(provider=provider).exists():
            raise ValidationError("The provider has a credential; rotate it instead.")
        ring = key_ring()
        credential = ProviderCredential(
            tenant_id=provider.tenant_id,
            provider=provider,
            encrypted_secret=ring.encrypt(value),
            key_id=ring.current_key_id,
            last4=value[-4:],
        )
        credential.save(force_insert=True)
        bump_sites(tenant_id=provider.tenant_id)
        audit_record(
            actor=actor,
            action="provider_credential.set",
            target=credential,
            tenant_id=provider.tenant_id,
            after=snapshot(credential),
        )
        return CredentialInfo.of(credential)


def credential_rotate(*, actor: Actor, provider: Provider, secret: str) -> CredentialInfo:
    """Replace the provider's API key. Edges keep using the old key until their next
    bundle, so revoke the old key at the provider once every edge of the affected sites
    runs the new version (EdgeNode.config_version_applied)."""
    value = _clean_secret(secret)
    with _scope(provider.tenant_id):
        credential = ProviderCredential.unscoped.select_for_update().get(provider=provider)
        before = snapshot(credential)
        ring = key_ring()
        credential.encrypted_secret = ring.encrypt(value)
        credential.key_id = ring.current_key_id
        credential.last4 = value[-4:]
        credential.version += 1
        credential.rotated_at = timezone.now()
        credential.save()
        bump_sites(tenant_id=provider.tenant_id)
        audit_record(
            actor=actor,
            action="provider_credential.rotated",
            target=credential,
            tenant_id=provider.tenant_id,
            before=before,
            after=snapshot(credential),
        )
        return CredentialInfo.of(credential)


def credential_secret(provider_id: uuid.UUID) -> str | None:
    """The plaintext key, for building a node's bundle only. Never log or return it."""
    with all_tenants_context():
        stored = (
            ProviderCredential.unscoped.filter(provider_id=provider_id)
            .values_list("encrypted_secret", flat=True)
            .first()
        )
    return key_ring().decrypt(stored) if stored else None


# --- policies --------------------------------------------------------------------------------


def policy_set(*, actor: Actor, tenant: Tenant, **fields: Any) -> Policy:
    """Create or change the tenant's policy (injection, pii, pii_types,
    tool_data_classes); unspecified fields keep their value (or default)."""
    _check_fields(fields, Policy.AUDIT_FIELDS, "policy")
    with tenant_context(tenant):
        policy = Policy.objects.select_for_update().filter(tenant=tenant).first()
        before = snapshot(policy) if policy else None
        if policy is None:
            policy = Policy(tenant=tenant)
        for field, value in fields.items():
            setattr(policy, field, value)
        policy.full_clean(validate_unique=False)
        policy.save()
        bump_sites(tenant_id=tenant.pk)
        audit_record(
            actor=actor,
            action="policy.set",
            target=policy,
            tenant_id=tenant.pk,
            before=before,
            after=snapshot(policy),
        )
    return policy


def role_default_set(*, actor: Actor, tenant: Tenant, role: str, **fields: Any) -> RoleDefault:
    """Create or change the defaults of agents with ``role``."""
    _check_fields(fields, RoleDefault.UPDATABLE, "role default")
    role = role.strip()
    if not role:
        raise ValidationError({"role": "Name the role."})
    with tenant_context(tenant):
        default = RoleDefault.objects.select_for_update().filter(role=role).first()
        before = snapshot(default) if default else None
        if default is None:
            default = RoleDefault(tenant=tenant, role=role)
        for field, value in fields.items():
            setattr(default, field, value)
        default.full_clean(validate_unique=False)
        default.save()
        bump_sites(tenant_id=tenant.pk)
        audit_record(
            actor=actor,
            action="role_default.set",
            target=default,
            tenant_id=tenant.pk,
            before=before,
            after=snapshot(default),
        )
    return default


def role_default_delete(*, actor: Actor, role_default: RoleDefault) -> None:
    with tenant_context(role_default.tenant_id):
        bump_sites(tenant_id=role_default.tenant_id)
        audit_record(
            actor=actor,
            action="role_default.deleted",
            target=role_default,
            tenant_id=role_default.tenant_id,
            before=snapshot(role_default),
        )
        role_default.delete()


# --- routes ----------------------------------------------------------------------------------


def _candidates(candidates: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "provider_id": str(c.get("provider_id", "")),
            "model": c.get("model", ANY),
            "weight": c.get("weight", 1),
        }
        if isinstance(c, dict)
        else c
        for c in candidates
    ]


def route_create(
    *,
    actor: Actor,
    tenant: Tenant | None,
    name: str,
    candidates: Sequence[dict[str, Any]],
    tier: str = ANY,
    model: str = ANY,
    max_attempts: int = 2,
    timeout_seconds: int = 30,
) -> Route:
    """A route for ``tier`` and ``model`` ("*" for any): MSP default or the tenant's."""
    tenant_id = tenant.pk if tenant else None
    with _scope(tenant_id):
        route = Route(
            tenant=tenant,
            name=name.strip(),
            tier=tier,
            model=model.strip() or ANY,
            candidates=_candidates(candidates),
            max_attempts=max_attempts,
            timeout_seconds=timeout_seconds,
        )
        route.full_clean(validate_unique=False)
        with _unique_as_validation("model", "A route for this tier and model exists."):
            route.save(force_insert=True)
        bump_sites(tenant_id=tenant_id)
        audit_record(
            actor=actor,
            action="route.created",
            target=route,
            tenant_id=tenant_id,
            after=snapshot(route),
        )
    return route


def route_update(*, actor: Actor, route: Route, **changes: Any) -> Route:
    _check_fields(changes, Route.UPDATABLE, "route")
    if "candidates" in changes:
        changes["candidates"] = _candidates(changes["candidates"])
    with _scope(route.tenant_id):
        before = snapshot(route)
        for field, value in changes.items():
            setattr(route, field, value)
        route.full_clean(validate_unique=False)
        with _unique_as_validation("model", "A route for this tier and model exists."):
            route.save(update_fields=[*changes, "updated_at"])
        bump_sites(tenant_id=route.tenant_id)
        audit_record(
            actor=actor,
            action="route.updated",
            target=route,
            tenant_id=route.tenant_id,
            before=before,
            after=snapshot(route),
        )
    return route


def route_delete(*, actor: Actor, route: Route) -> None:
    with _scope(route.tenant_id):
        bump_sites(tenant_id=route.tenant_id)
        audit_record(
            actor=actor,
            action="route.deleted",
            target=route,
            tenant_id=route.tenant_id,
            before=snapshot(route),
        )
        route.delete()


# --- budgets ---------------------------------------------------------------------------------


def _scope_id(tenant: Tenant, scope: str, scope_id: uuid.UUID | None) -> uuid.UUID:
    if scope not in Budget.Scope.values:
        raise ValidationError({"scope": "Choose agent, department or tenant."})
    if scope == Budget.Scope.TENANT:
        return tenant.pk
    model = Agent if scope == Budget.Scope.AGENT else Department
    if scope_id is None or not model.objects.filter(pk=scope_id).exists():
        raise ValidationError({"scope_id": f"No such {scope} in this tenant."})
    return scope_id


def budget_create(
    *,
    actor: Actor,
    tenant: Tenant,
    scope: str,
    period: str,
    limit: Decimal,
    kind: str,
    scope_id: uuid.UUID | None = None,
    name: str = "",
) -> Budget:
    """A hard or soft limit per day or month on an agent, a department or the tenant."""
    with tenant_context(tenant):
        budget = Budget(
            tenant=tenant,
            name=name.strip(),
            scope=scope,
            scope_id=_scope_id(tenant, scope, scope_id),
            period=period,
            limit=Decimal(limit),
            kind=kind,
        )
        # The unique check is ours, in words a person can act on; the ORM's names columns.
        budget.full_clean(validate_unique=False, exclude=["kind"])
        every = "daily" if budget.period == Budget.Period.DAY else "monthly"
        duplicate = (
            f"This {budget.scope} already has a {budget.kind} {every} budget. Change its "
            "limit instead, or choose another period or kind."
        )
        with _unique_as_validation("kind", duplicate):
            budget.save(force_insert=True)
        bump_sites(tenant_id=tenant.pk)
        audit_record(
            actor=actor,
            action="budget.created",
            target=budget,
            tenant_id=tenant.pk,
            after=snapshot(budget),
        )
    return budget


def budget_update(*, actor: Actor, budget: Budget, **changes: Any) -> Budget:
    """Change a budget's name or limit. A lower hard limit applies to new allowances;
    what edges were already granted in the current period stands (allowances never
    shrink: an edge may already have spent them)."""
    _check_fields(changes, Budget.UPDATABLE, "budget")
    with tenant_context(budget.tenant_id):
        locked = Budget.objects.select_for_update().get(pk=budget.pk)
        before = snapshot(locked)
        for field, value in changes.items():
            setattr(locked, field, Decimal(value) if field == "limit" else value)
        locked.full_clean(validate_unique=False)
        locked.save(update_fields=[*changes, "updated_at"])
        bump_sites(tenant_id=budget.tenant_id)
        audit_record(
            actor=actor,
            action="budget.updated",
            target=locked,
            tenant_id=budget.tenant_id,
            before=before,
            after=snapshot(locked),
        )
    for field in changes:
        setattr(budget, field, getattr(locked, field))
    return budget


def budget_delete(*, actor: Actor, budget: Budget) -> None:
    with tenant_context(budget.tenant_id):
        bump_sites(tenant_id=budget.tenant_id)
        audit_record(
            actor=actor,
            action="budget.deleted",
            target=budget,
            tenant_id=budget.tenant_id,
            before=snapshot(budget),
        )
        budget.delete()


# --- allowances ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TopUp:
    allowance: Decimal
    granted: Decimal
    created: bool

    @property
    def changed(self) -> bool:
        return self.created or self.granted > 0


def top_up_step(*, limit: Decimal, unallocated: Decimal, edges: int) -> Decimal:
    """``max(unallocated / edges, 5 % of the limit)``, capped by the unallocated part,
    rounded down to the money quantum (so the sum never rounds above the limit)."""
    if unallocated <= 0:
        return Decimal(0)
    step = min(max(unallocated / max(edges, 1), limit * TOP_UP_FLOOR), unallocated)
    return step.quantize(MONEY_QUANTUM, rounding=ROUND_DOWN)


def allowance_top_up(
    *,
    budget: Budget,
    edge_node: EdgeNode,
    ledger_spend: Decimal,
    period_start: dt.datetime | None = None,
    relevant: bool = True,
    actor: Actor = PULL_ACTOR,
) -> TopUp:
    """Grow ``edge_node``'s allowance of ``budget`` for the period if its ledger spend
    came close to it (within one top-up step); create the period's row if missing.

    Under a row lock on the budget, the growth comes only out of ``limit - Σ
    allowances`` of the period, so ``Σ allowances ≤ limit`` holds however many workers
    and edges top up at once. Allowances never shrink. ``relevant=False`` (the budget's
    agent or department has nothing at the node's site) only creates the row. A soft
    budget only gets its row. A change raises the node's site's config version.
    """
    start = period_start or start_of_period(budget.period, timezone.now())
    with tenant_context(budget.tenant_id):
        locked = Budget.objects.select_for_update().get(pk=budget.pk)
        row, created = BudgetAllowance.objects.get_or_create(
            budget=locked,
            edge_node=edge_node,
            period_start=start,
            defaults={"tenant_id": locked.tenant_id},
        )
        granted = Decimal(0)
        if locked.kind == Budget.Kind.HARD and relevant:
            allocated = BudgetAllowance.objects.filter(budget=locked, period_start=start).aggregate(
                total=Sum("allowance")
            )["total"] or Decimal(0)
            edges = EdgeNode.objects.filter(tenant_id=locked.tenant_id).count()
            step = top_up_step(
                limit=locked.limit, unallocated=locked.limit - allocated, edges=edges
            )
            if step > 0 and row.allowance - ledger_spend < step:
                before = snapshot(row)
                row.allowance += step
                row.save(update_fields=["allowance", "updated_at"])
                granted = step
                bump_site(edge_node.site_id)
                audit_record(
                    actor=actor,
                    action="budget_allowance.granted",
                    target=row,
                    tenant_id=locked.tenant_id,
                    before=before,
                    after={**snapshot(row), "ledger_spend": ledger_spend, "limit": locked.limit},
                )
        if created and not granted:
            bump_site(edge_node.site_id)
    return TopUp(allowance=row.allowance, granted=granted, created=created)


def allowances_refresh(node: EdgeNode, *, now: dt.datetime | None = None) -> bool:
    """At a pull: make sure the node has its row of every budget for the current
    period (and the next one, shortly before it starts), and top up hard budgets whose
    ledger spend on this node came close to its allowance. True if anything changed
    (the site's config version was raised then).

    Decides on an unlocked read first and locks only where a change is likely: the
    read can only overestimate the unallocated part, so a "no top-up" is never wrong.
    """
    moment = now or timezone.now()
    changed = False
    with tenant_context(node.tenant_id):
        budgets = list(Budget.objects.all())
        if not budgets:
            return False
        recent = start_of_period(Budget.Period.MONTH, moment)
        rows = {
            (row.budget_id, row.period_start): row
            for row in BudgetAllowance.objects.filter(edge_node=node, period_start__gte=recent)
        }
        # Σ allowances per budget and period over every node, read without locks: a
        # stale read is lower (allowances only grow), so the step computed from it is
        # an upper bound and "no top-up needed" from it is never wrong.
        allocated = {
            (row["budget_id"], row["period_start"]): row["total"]
            for row in BudgetAllowance.objects.filter(period_start__gte=recent)
            .values("budget_id", "period_start")
            .annotate(total=Sum("allowance"))
        }
        agents, departments = site_scope(node.site_id)
        edges = EdgeNode.objects.count()
        spend_cache: dict[dt.datetime, Any] = {}
        for budget in budgets:
            current = start_of_period(budget.period, moment)
            end = period_end(budget.period, current)
            periods = [current] + ([end] if end - moment <= PREGRANT else [])
            relevant = budget_relevant(budget, agents, departments)
            for start in periods:
                row = rows.get((budget.pk, start))
                spend = Decimal(0)
                if budget.kind == Budget.Kind.HARD and relevant and start <= moment:
                    if start not in spend_cache:
                        spend_cache[start] = spend_by_agent(
                            start=start,
                            end=period_end(budget.period, start),
                            edge_node_id=node.pk,
                        )
                    spend = scope_spend(budget, spend_cache[start])
                if row is not None:
                    if budget.kind != Budget.Kind.HARD or not relevant:
                        continue
                    unallocated = budget.limit - allocated.get((budget.pk, start), Decimal(0))
                    step = top_up_step(limit=budget.limit, unallocated=unallocated, edges=edges)
                    if step <= 0 or row.allowance - spend >= step:
                        continue
                result = allowance_top_up(
                    budget=budget,
                    edge_node=node,
                    ledger_spend=spend,
                    period_start=start,
                    relevant=relevant,
                )
                changed = changed or result.changed
    return changed

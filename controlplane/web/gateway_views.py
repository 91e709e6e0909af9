"""The gateway page of one tenant, in the portal and the console: the content policy, the
role defaults, the budgets, the tenant's own providers (with their API keys) and routes
(changed here), the MSP-wide providers and routes offered to it (shown only; the MSP
manages them) and the configuration versions the edges run with.

Provider credentials are shown as their last four characters, version and age only;
the secret is accepted by a password input that never renders it back and never
reaches a template or a message.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone

from controlplane.agents.models import Agent
from controlplane.analytics import StoreError
from controlplane.audit.services import Actor
from controlplane.core.tenancy import tenant_context
from controlplane.gateway import services
from controlplane.gateway.models import (
    Budget,
    ConfigChange,
    Policy,
    Provider,
    RoleDefault,
    Route,
)
from controlplane.gateway.savings import GatewaySavings, gateway_savings
from controlplane.gateway.selectors import BudgetStatus, CredentialInfo, budget_status
from controlplane.gateway.selectors import credential_info as credential_infos
from controlplane.gateway.tenancy import SharedOrTenantModel
from controlplane.web.formatting import format_count, format_money
from controlplane.web.forms import add_service_error
from controlplane.web.gateway_forms import (
    BudgetForm,
    BudgetLimitForm,
    CredentialForm,
    PolicyForm,
    ProviderEnabledForm,
    ProviderForm,
    RoleDefaultForm,
    RouteForm,
)
from controlplane.web.registry_forms import WEEKDAYS
from controlplane.web.scope import READ, WRITE, Scope, tenant_views
from tenants.models import Department

S = TypeVar("S", bound=SharedOrTenantModel)

CONFIG_CHANGES_SHOWN = 20
SAVINGS_DAYS = 30
DASH = "\N{EN DASH}"


# --- reads -------------------------------------------------------------------------------


def _offered(scope: Scope, model: type[S]) -> QuerySet[S]:
    """The MSP-wide rows of ``model`` and this tenant's own."""
    if scope.area == "portal":
        return model.objects.all()
    return model.unscoped.filter(Q(tenant__isnull=True) | Q(tenant=scope.tenant))


def _departments(scope: Scope) -> QuerySet[Department]:
    return scope.in_departments(scope.rows(Department), "pk").order_by("name")


def _agents(scope: Scope) -> QuerySet[Agent]:
    return scope.in_departments(scope.rows(Agent)).order_by("name")


def _budgets(scope: Scope) -> QuerySet[Budget]:
    """The budgets this person sees: all of them, or for a department-scoped member the
    tenant's own and those of their departments and their departments' agents."""
    budgets = scope.rows(Budget)
    if scope.departments is None:
        return budgets
    return budgets.filter(
        Q(scope=Budget.Scope.TENANT)
        | Q(scope=Budget.Scope.DEPARTMENT, scope_id__in=scope.departments)
        | Q(scope=Budget.Scope.AGENT, scope_id__in=_agents(scope).values("pk"))
    )


def _budget(scope: Scope, pk: uuid.UUID) -> Budget:
    budget = _budgets(scope).filter(pk=pk).first()
    if budget is None:
        raise Http404
    return budget


def _label(scope: Scope, budget: Budget) -> str:
    if budget.name:
        return budget.name
    target = _targets(scope).get((budget.scope, budget.scope_id), budget.scope)
    return f"The {budget.kind} {budget.period} budget of {target}"


def _own(scope: Scope, model: type[S], pk: uuid.UUID) -> S:
    """The tenant's own row named in the URL; 404 for an MSP-wide row (read-only here)
    and for another tenant's."""
    row = scope.rows(model).filter(tenant=scope.tenant, pk=pk).first()
    if row is None:
        raise Http404
    return row


def _policy(scope: Scope) -> Policy:
    """The tenant's policy; the defaults (unsaved) until it is first set."""
    return scope.rows(Policy).first() or Policy(tenant=scope.tenant)


# --- page --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RoleDefaultRow:
    default: RoleDefault
    agents: int
    """How many of the agents this person sees have the role."""
    window: str
    edit_url: str = ""  # empty: this person may not change it
    delete_url: str = ""

    @property
    def delete_note(self) -> str:
        agents = f"the {self.agents} agent{'' if self.agents == 1 else 's'} with this role"
        keep = "keeps only its" if self.agents == 1 else "keep only their"
        return (
            f"At their next pull the edges stop applying these defaults: {agents} {keep} "
            "own settings."
        )


def _day_runs(days: list[int]) -> str:
    """E.g. [0, 1, 2, 3, 4, 6] → "Mon-Fri, Sun" (three days or more in a row joined by an
    en dash)."""
    names = dict(WEEKDAYS)
    runs: list[list[int]] = []
    for day in sorted(set(days)):
        if runs and day == runs[-1][-1] + 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    return ", ".join(
        f"{names[run[0]]}{DASH}{names[run[-1]]}"
        if len(run) > 2
        else ", ".join(names[day] for day in run)
        for run in runs
    )


def window_text(window: dict[str, Any]) -> str:
    """An operating window as people read it, e.g. "Mon-Fri 08:00-18:00 UTC" with en
    dashes; the edge reads the times in the window's time zone (UTC unless it names one)."""
    if not window:
        return "Always"
    days = [d for d in window.get("days", range(7)) if isinstance(d, int) and 0 <= d <= 6]
    if not days:
        return "Never (no days)"
    start, end = window.get("start", "00:00"), window.get("end", "24:00")
    end = "24:00" if end == "00:00" else end
    named = "Every day" if len(set(days)) == 7 else _day_runs(days)
    hours = "" if (start, end) == ("00:00", "24:00") else f" {start}{DASH}{end}"
    overnight = " (past midnight)" if end < start else ""
    return f"{named}{hours} {window.get('tz', 'UTC')}{overnight}"


@dataclass(frozen=True)
class BudgetRow:
    budget: Budget
    target: str
    limit: str
    spent: str
    percent: int
    crossed: bool
    form: BudgetLimitForm | None


@dataclass(frozen=True)
class ProviderRow:
    """A provider with its key's display data and, when this person may change it, the
    key form and the URLs of its actions (``action_url("key")``, ``"enabled"``,
    ``"delete"``)."""

    provider: Provider
    msp_wide: bool
    credential: CredentialInfo | None
    key_form: CredentialForm | None
    key_url: str = ""
    enabled_url: str = ""
    delete_url: str = ""

    @property
    def credential_age_days(self) -> int | None:
        return self.credential.age.days if self.credential else None


@dataclass(frozen=True)
class RouteRow:
    route: Route
    msp_wide: bool
    candidates: list[str]
    delete_url: str = ""  # empty: this person may not delete it


def _targets(scope: Scope) -> dict[tuple[str, uuid.UUID], str]:
    """What each budget scope id names, e.g. ("agent", id) → the agent's name."""
    names: dict[tuple[str, uuid.UUID], str] = {(Budget.Scope.TENANT, scope.tenant.pk): "Tenant"}
    for pk, name in scope.rows(Department).values_list("pk", "name"):
        names[(Budget.Scope.DEPARTMENT, pk)] = name
    for pk, name in scope.rows(Agent).values_list("pk", "name"):
        names[(Budget.Scope.AGENT, pk)] = name
    return names


def _budget_rows(
    scope: Scope, limit_form: tuple[uuid.UUID, BudgetLimitForm] | None
) -> list[BudgetRow]:
    with tenant_context(scope.tenant):
        status: dict[uuid.UUID, BudgetStatus] = {s.budget.pk: s for s in budget_status()}
    names = _targets(scope)
    rows = []
    for budget in _budgets(scope):
        current = status.get(budget.pk)
        spent = current.spend if current else Decimal(0)
        used = current.used if current else Decimal(0)
        form = None
        if scope.can_edit:
            form = (
                limit_form[1]
                if limit_form and limit_form[0] == budget.pk
                else BudgetLimitForm.for_budget(budget)
            )
        rows.append(
            BudgetRow(
                budget=budget,
                target=names.get((budget.scope, budget.scope_id), f"Removed {budget.scope}"),
                limit=format_money(budget.limit),
                spent=format_money(spent),
                percent=int((used * 100).to_integral_value()),
                crossed=bool(current and current.crossed),
                form=form,
            )
        )
    return rows


def _role_counts(scope: Scope) -> dict[str, int]:
    """How many of the agents this person sees have each role (agents without one left
    out)."""
    agents = _agents(scope).exclude(role="").order_by("role")
    return dict(agents.values("role").annotate(n=Count("pk")).values_list("role", "n"))


def _role_default_rows(scope: Scope, counts: dict[str, int]) -> list[RoleDefaultRow]:
    rows = []
    for default in scope.rows(RoleDefault).order_by("role"):
        row = RoleDefaultRow(
            default, counts.get(default.role, 0), window_text(default.operating_window)
        )
        if scope.can_edit:
            row = replace(
                row,
                edit_url=f"{scope.url('gateway')}?{urlencode({'role': default.role})}"
                "#role-default-form",
                delete_url=scope.url("gateway_role_default_delete", default.pk),
            )
        rows.append(row)
    return rows


def _role_default_form(scope: Scope) -> RoleDefaultForm:
    """The empty form, or the one of the role ``?role=`` names (its defaults, or just
    its name when it has none)."""
    role = scope.request.GET.get("role", "").strip()
    if not role or not scope.can_edit:
        return RoleDefaultForm()
    default = scope.rows(RoleDefault).filter(role=role).first()
    if default is None:
        return RoleDefaultForm(initial={"role": role[:50]})
    return RoleDefaultForm.for_role_default(default)


def budget_form(scope: Scope, data: Any = None) -> BudgetForm:
    return BudgetForm(
        data=data,
        departments=_departments(scope),
        agents=_agents(scope),
        tenant_wide=scope.departments is None,
        initial={"period": Budget.Period.MONTH, "kind": Budget.Kind.SOFT},
    )


# The URL of an action ("key", "enabled", "delete") on a provider or route this person
# may change; None for one they may not.
ActionUrl = Callable[[Provider | Route, str], str | None]


def provider_rows(
    providers: list[Provider],
    *,
    action_url: ActionUrl,
    key_form: tuple[uuid.UUID, CredentialForm] | None = None,
) -> list[ProviderRow]:
    """The rows of the provider table (``gateway/_providers.html``)."""
    credentials = credential_infos(providers)
    rows = []
    for p in providers:
        row = ProviderRow(p, p.tenant_id is None, credentials.get(p.pk), key_form=None)
        if action_url(p, "delete") is not None:
            form = (
                key_form[1] if key_form and key_form[0] == p.pk else CredentialForm.for_provider(p)
            )
            row = replace(
                row,
                key_form=form,
                key_url=action_url(p, "key") or "",
                enabled_url=action_url(p, "enabled") or "",
                delete_url=action_url(p, "delete") or "",
            )
        rows.append(row)
    return rows


def route_rows(
    routes: Iterable[Route], providers: list[Provider], *, action_url: ActionUrl
) -> list[RouteRow]:
    """The rows of the route table (``gateway/_routes.html``)."""
    names = {str(p.pk): p.name for p in providers}
    rows = []
    for route in routes:
        candidates = [
            f"{names.get(str(c.get('provider_id')), 'unknown provider')}/{c.get('model', '*')}"
            for c in route.candidates
            if isinstance(c, dict)
        ]
        delete_url = action_url(route, "delete") or ""
        rows.append(RouteRow(route, route.tenant_id is None, candidates, delete_url))
    return rows


def route_form(providers: Iterable[Provider], data: Any = None) -> RouteForm:
    return RouteForm(data=data, providers=providers)


def _page(
    scope: Scope,
    *,
    policy_form: PolicyForm | None = None,
    role_default_form: RoleDefaultForm | None = None,
    add_form: BudgetForm | None = None,
    limit_form: tuple[uuid.UUID, BudgetLimitForm] | None = None,
    provider_form: ProviderForm | None = None,
    key_form: tuple[uuid.UUID, CredentialForm] | None = None,
    new_route_form: RouteForm | None = None,
) -> HttpResponse:
    policy = _policy(scope)
    providers = list(_offered(scope, Provider))

    def own_action(row: Provider | Route, action: str) -> str | None:
        if not scope.can_edit or row.tenant_id is None:
            return None
        kind = "provider" if isinstance(row, Provider) else "route"
        return scope.url(f"gateway_{kind}_{action}", row.pk)

    role_counts = _role_counts(scope)
    role_defaults = _role_default_rows(scope, role_counts)
    with_defaults = {row.default.role for row in role_defaults}
    context = {
        "scope": scope,
        "policy": policy,
        "policy_is_default": policy._state.adding,
        "policy_form": policy_form or PolicyForm.for_policy(policy),
        "role_defaults": role_defaults,
        # The roles agents have that no defaults name, to show and prefill the form.
        "roles_without_defaults": [
            (role, n) for role, n in role_counts.items() if role not in with_defaults
        ],
        "role_default_form": role_default_form or _role_default_form(scope),
        "budgets": _budget_rows(scope, limit_form),
        "budget_form": add_form or budget_form(scope),
        "providers": provider_rows(providers, action_url=own_action, key_form=key_form),
        "routes": route_rows(_offered(scope, Route), providers, action_url=own_action),
        "provider_form": provider_form or ProviderForm(on_premises=scope.area == "console"),
        "route_form": new_route_form or route_form(providers),
        "savings": _savings(scope),
        "savings_days": SAVINGS_DAYS,
        "changes": list(
            scope.rows(ConfigChange)
            .select_related("site")
            .order_by("-created_at")[:CONFIG_CHANGES_SHOWN]
        ),
    }
    return render(scope.request, "gateway/page.html", context)


def _savings(scope: Scope) -> list[tuple[str, str]] | None:
    """What the cache and auto routing saved in the last days, as rows of facts (None:
    analytics unreachable)."""
    end = timezone.now()
    try:
        found: GatewaySavings = gateway_savings(
            tenant_id=scope.tenant.pk,
            start=end - dt.timedelta(days=SAVINGS_DAYS),
            end=end,
            departments=scope.departments,
        )
    except StoreError:
        return None
    return [
        ("Model requests", format_count(found.requests)),
        ("Spent", format_money(found.cost)),
        (
            "Answered from the cache",
            f"{found.cache_hits:,}, saving {format_money(found.cache_saved)}",
        ),
        (
            "Routed by the auto tier",
            f"{found.auto_requests:,}: {format_money(found.auto_cost)} instead of "
            f"{format_money(found.auto_frontier_cost)} at the complex tier, saving "
            f"{format_money(found.auto_saved)}",
        ),
        ("Saved in total", format_money(found.saved)),
    ]


def _back(scope: Scope, anchor: str) -> HttpResponse:
    return redirect(f"{scope.url('gateway')}#{anchor}")


# --- handlers ----------------------------------------------------------------------------


def gateway(scope: Scope) -> HttpResponse:
    return _page(scope)


def policy_update(scope: Scope) -> HttpResponse:
    form = PolicyForm(data=scope.request.POST)
    if form.is_valid():
        try:
            services.policy_set(actor=scope.actor, tenant=scope.tenant, **form.cleaned_data)
        except ValidationError as error:
            add_service_error(form, error)
        else:
            messages.success(
                scope.request, "The policy was saved. Edges apply it at their next pull."
            )
            return _back(scope, "policy")
    return _page(scope, policy_form=form)


def role_default_set(scope: Scope) -> HttpResponse:
    form = RoleDefaultForm(data=scope.request.POST)
    if form.is_valid():
        try:
            default = services.role_default_set(
                actor=scope.actor, tenant=scope.tenant, **form.service_fields()
            )
        except ValidationError as error:
            add_service_error(form, error)
        else:
            messages.success(
                scope.request,
                f"The defaults of the role {default.role} were saved. Edges apply them at "
                "their next pull.",
            )
            return _back(scope, "role-defaults")
    return _page(scope, role_default_form=form)


def role_default_delete(scope: Scope, pk: uuid.UUID) -> HttpResponse:
    default = scope.get(RoleDefault, pk)
    role = default.role
    services.role_default_delete(actor=scope.actor, role_default=default)
    messages.success(
        scope.request,
        f"The defaults of the role {role} were deleted. At their next pull the edges apply "
        "only the agents' own settings to its agents.",
    )
    return _back(scope, "role-defaults")


def budget_create(scope: Scope) -> HttpResponse:
    form = budget_form(scope, data=scope.request.POST)
    if form.is_valid():
        try:
            budget = services.budget_create(
                actor=scope.actor, tenant=scope.tenant, **form.service_fields()
            )
        except ValidationError as error:
            add_service_error(form, error)
        else:
            messages.success(scope.request, f"{_label(scope, budget)} was added.")
            return _back(scope, "budgets")
    return _page(scope, add_form=form)


def budget_update(scope: Scope, pk: uuid.UUID) -> HttpResponse:
    budget = _budget(scope, pk)
    form = BudgetLimitForm.for_budget(budget, data=scope.request.POST)
    if form.is_valid():
        limit = form.cleaned_data["limit"]
        if limit == budget.limit:
            messages.info(scope.request, "The limit is unchanged.")
            return _back(scope, "budgets")
        try:
            services.budget_update(actor=scope.actor, budget=budget, limit=limit)
        except ValidationError as error:
            add_service_error(form, error)
        else:
            messages.success(
                scope.request, f"{_label(scope, budget)} now limits to {format_money(limit)}."
            )
            return _back(scope, "budgets")
    return _page(scope, limit_form=(budget.pk, form))


def budget_delete(scope: Scope, pk: uuid.UUID) -> HttpResponse:
    budget = _budget(scope, pk)
    label = _label(scope, budget)
    services.budget_delete(actor=scope.actor, budget=budget)
    messages.success(scope.request, f"{label} was deleted.")
    return _back(scope, "budgets")


def provider_create(scope: Scope) -> HttpResponse:
    form = ProviderForm(data=scope.request.POST, on_premises=scope.area == "console")
    if form.is_valid():
        try:
            provider = services.provider_create(
                actor=scope.actor, tenant=scope.tenant, **form.cleaned_data
            )
        except ValidationError as error:
            add_service_error(form, error)
        else:
            messages.success(
                scope.request, f"The provider {provider.name} was added. Set its API key below."
            )
            return _back(scope, f"provider-{provider.pk}")
    return _page(scope, provider_form=form)


def provider_enabled(scope: Scope, pk: uuid.UUID) -> HttpResponse:
    provider = _own(scope, Provider, pk)
    form = ProviderEnabledForm(data=scope.request.POST)
    if not form.is_valid():
        messages.error(scope.request, "Choose enabled or disabled.")
        return _back(scope, "providers")
    messages.success(scope.request, provider_set_enabled(scope.request, provider, form))
    return _back(scope, f"provider-{provider.pk}")


def provider_set_enabled(
    request: HttpRequest, provider: Provider, form: ProviderEnabledForm
) -> str:
    """Enable or disable ``provider`` as ``form`` says; what happened, for the message."""
    enabled = form.cleaned_data["enabled"]
    if enabled == provider.enabled:
        return f"{provider.name} is already {'enabled' if enabled else 'disabled'}."
    services.provider_update(actor=Actor.from_request(request), provider=provider, enabled=enabled)
    if enabled:
        return f"{provider.name} was enabled."
    return f"{provider.name} was disabled: the edges stop routing to it at their next pull."


def provider_key(scope: Scope, pk: uuid.UUID) -> HttpResponse:
    provider = _own(scope, Provider, pk)
    form = CredentialForm.for_provider(provider, data=scope.request.POST)
    message = provider_set_key(scope.request, provider, form)
    if message is None:
        return _page(scope, key_form=(provider.pk, form))
    messages.success(scope.request, message)
    return _back(scope, f"provider-{provider.pk}")


def provider_set_key(request: HttpRequest, provider: Provider, form: CredentialForm) -> str | None:
    """Set the provider's first API key or rotate it; what happened, for the message
    (the last four characters and the version only), or None with errors on ``form``."""
    if not form.is_valid():
        return None
    secret = form.cleaned_data["secret"]
    rotate = provider.pk in credential_infos([provider])
    change = services.credential_rotate if rotate else services.credential_set
    try:
        info = change(actor=Actor.from_request(request), provider=provider, secret=secret)
    except ValidationError as error:
        add_service_error(form, error)
        return None
    if rotate:
        return (
            f"The API key of {provider.name} was rotated: now …{info.last4}, version "
            f"{info.version}. Revoke the old key at the provider once the edges have pulled "
            "the new configuration."
        )
    return f"The API key of {provider.name} was set: …{info.last4}, version {info.version}."


def provider_delete(scope: Scope, pk: uuid.UUID) -> HttpResponse:
    provider = _own(scope, Provider, pk)
    message = provider_remove(scope.request, provider)
    if message is None:
        return _back(scope, f"provider-{provider.pk}")
    messages.success(scope.request, message)
    return _back(scope, "providers")


def provider_remove(request: HttpRequest, provider: Provider) -> str | None:
    """Delete ``provider``; the message, or None after an error message (routes use it)."""
    name = provider.name
    try:
        services.provider_delete(actor=Actor.from_request(request), provider=provider)
    except ValidationError as error:
        messages.error(request, f"{name} was not deleted: {' '.join(error.messages)}")
        return None
    return f"The provider {name} was deleted."


def route_create(scope: Scope) -> HttpResponse:
    providers = list(_offered(scope, Provider))
    form = route_form(providers, data=scope.request.POST)
    if form.is_valid():
        try:
            route = services.route_create(
                actor=scope.actor, tenant=scope.tenant, **form.service_fields()
            )
        except ValidationError as error:
            add_service_error(form, error)
        else:
            messages.success(scope.request, f"The route {route.name} was added.")
            return _back(scope, f"route-{route.pk}")
    return _page(scope, new_route_form=form)


def route_delete(scope: Scope, pk: uuid.UUID) -> HttpResponse:
    route = _own(scope, Route, pk)
    name = route.name
    services.route_delete(actor=scope.actor, route=route)
    messages.success(scope.request, f"The route {name} was deleted.")
    return _back(scope, "routes")


# --- views: (portal, console) pairs, routed in urls.py ----------------------------------

GATEWAY = tenant_views(gateway, READ)
POLICY_UPDATE = tenant_views(policy_update, WRITE)
ROLE_DEFAULT_SET = tenant_views(role_default_set, WRITE)
ROLE_DEFAULT_DELETE = tenant_views(role_default_delete, WRITE)
BUDGET_CREATE = tenant_views(budget_create, WRITE)
BUDGET_UPDATE = tenant_views(budget_update, WRITE)
BUDGET_DELETE = tenant_views(budget_delete, WRITE)
PROVIDER_CREATE = tenant_views(provider_create, WRITE)
PROVIDER_ENABLED = tenant_views(provider_enabled, WRITE)
PROVIDER_KEY = tenant_views(provider_key, WRITE)
PROVIDER_DELETE = tenant_views(provider_delete, WRITE)
ROUTE_CREATE = tenant_views(route_create, WRITE)
ROUTE_DELETE = tenant_views(route_delete, WRITE)

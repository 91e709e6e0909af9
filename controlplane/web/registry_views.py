"""Sites, edge nodes, devices and agents of one tenant, in the portal and the console.

Secrets (node token, device keys, agent keys) come back from the services once. They
are shown only in the response to the POST that created them: never put in a message
(a message outlives the response), never logged, and that response is not cached.
"""

from __future__ import annotations

import shlex
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.cache import add_never_cache_headers

from controlplane.accounts.models import User
from controlplane.agents import services
from controlplane.agents.client_env import client_environment
from controlplane.agents.models import Agent, AgentKey, Device, EdgeNode, Site, SiteCollectorKey
from controlplane.telemetry.models import UsageEvent
from controlplane.web import secret_once
from controlplane.web.agent_list import agent_list_context
from controlplane.web.edge_status import NodeStatus, node_status, worst_state
from controlplane.web.forms import add_service_error
from controlplane.web.registry_forms import (
    AgentForm,
    AgentStatusForm,
    CollectorKeyForm,
    DeviceForm,
    EdgeNodeForm,
    SiteCollectorsForm,
    SiteForm,
)
from controlplane.web.scope import READ, READ_WRITE, WRITE, Scope, tenant_views
from controlplane.web.secret_once import Secret, SecretBox
from tenants.models import Department, Membership

EDGE_DATA_DIR = "/var/lib/acp-edge"
DEFAULT_EDGE_PORT = 4318


def _render(scope: Scope, template: str, context: dict[str, Any]) -> HttpResponse:
    """A registry page; on the GET after a credential was made, with that credential."""
    secret = secret_once.take(scope.request)
    response = render(
        scope.request,
        template,
        {
            "scope": scope,
            "secret": secret,
            "secret_spent": secret is None and secret_once.was_spent(scope.request),
            **context,
        },
    )
    if secret_once.was_spent(scope.request):
        add_never_cache_headers(response)
        response["Cache-Control"] = "no-store, private"
    return response


def show_once(scope: Scope, box: SecretBox, page: str, pk: uuid.UUID) -> HttpResponse:
    """Post/redirect/get: the credential is shown by the GET that follows, once."""
    ticket = secret_once.stash(scope.request, box)
    return redirect(f"{scope.url(page, pk)}?{secret_once.TICKET_PARAMETER}={ticket}")


# --- sites and edge nodes ---------------------------------------------------------------


@dataclass(frozen=True)
class SiteRow:
    site: Site
    nodes: list[NodeStatus]
    worst: str | None
    device_count: int
    agent_count: int


def _sites_page(scope: Scope, form: SiteForm | None = None) -> HttpResponse:
    now = timezone.now()
    sites = scope.rows(Site).annotate(
        device_count=Count("devices", filter=Q(devices__revoked_at__isnull=True), distinct=True),
        agent_count=Count("devices__agents", distinct=True),
    )
    nodes_by_site: dict[uuid.UUID, list[NodeStatus]] = {}
    for node in scope.rows(EdgeNode).select_related("site"):
        nodes_by_site.setdefault(node.site_id, []).append(node_status(node, now))
    rows = []
    for site in sites:
        nodes = nodes_by_site.get(site.pk, [])
        rows.append(
            SiteRow(
                site=site,
                nodes=nodes,
                worst=worst_state([n.state for n in nodes]),
                device_count=site.device_count,
                agent_count=site.agent_count,
            )
        )
    return _render(scope, "registry/sites.html", {"rows": rows, "form": form or SiteForm()})


def sites(scope: Scope) -> HttpResponse:
    if scope.request.method != "POST":
        return _sites_page(scope)
    form = SiteForm(data=scope.request.POST)
    if form.is_valid():
        try:
            site = services.site_create(actor=scope.actor, tenant=scope.tenant, **form.cleaned_data)
        except ValidationError as error:
            add_service_error(form, error)
        else:
            messages.success(scope.request, f"Site {site.name} was added.")
            return redirect(scope.url("site", site.pk))
    return _sites_page(scope, form)


@dataclass(frozen=True)
class DeviceRow:
    device: Device
    agents: list[Agent]


def site_page(
    scope: Scope,
    site: Site,
    *,
    node_form: EdgeNodeForm | None = None,
    device_form: DeviceForm | None = None,
    collector_form: CollectorKeyForm | None = None,
) -> HttpResponse:
    now = timezone.now()
    nodes = [
        node_status(node, now)
        for node in scope.rows(EdgeNode).filter(site=site).select_related("site")
    ]
    agents_by_device: dict[uuid.UUID, list[Agent]] = {}
    for agent in scope.rows(Agent).filter(device__site=site).order_by("name"):
        assert agent.device_id is not None
        agents_by_device.setdefault(agent.device_id, []).append(agent)
    devices = [
        DeviceRow(device, agents_by_device.get(device.pk, []))
        for device in scope.rows(Device).filter(site=site)
    ]
    context = {
        "site": site,
        "nodes": nodes,
        "devices": devices,
        "node_form": node_form or EdgeNodeForm(),
        "device_form": device_form or DeviceForm(),
        "collector_keys": scope.rows(SiteCollectorKey).filter(site=site),
        "collector_form": collector_form or CollectorKeyForm(),
        "collectors_form": SiteCollectorsForm(
            initial={"collector_auto_register": site.collector_auto_register}
        ),
    }
    return _render(scope, "registry/site.html", context)


def site(scope: Scope, pk: uuid.UUID) -> HttpResponse:
    return site_page(scope, scope.get(Site, pk))


def edge_listen_settings(pull_url: str) -> tuple[str, int]:
    """EDGE_HOST and EDGE_PORT for a node the control plane reaches at ``pull_url``."""
    parts = urlsplit(pull_url)
    local = parts.hostname in ("127.0.0.1", "localhost", "::1")
    # Reached from another machine: the edge must listen beyond loopback.
    host = "127.0.0.1" if local else "0.0.0.0"  # noqa: S104
    try:
        port = parts.port or DEFAULT_EDGE_PORT
    except ValueError:
        port = DEFAULT_EDGE_PORT
    return host, port


def edge_command(node: EdgeNode, token_sha256: str) -> str:
    host, port = edge_listen_settings(node.pull_url)
    env = {
        "EDGE_NODE_TOKEN_SHA256": token_sha256,
        "EDGE_HOST": host,
        "EDGE_PORT": str(port),
        "EDGE_DATA_DIR": EDGE_DATA_DIR,
    }
    assignments = " ".join(f"{name}={shlex.quote(value)}" for name, value in env.items())
    return f"{assignments} python -m edge"


def edge_node_create(scope: Scope, pk: uuid.UUID) -> HttpResponse:
    site = scope.get(Site, pk)
    form = EdgeNodeForm(data=scope.request.POST)
    if form.is_valid():
        try:
            node, token = services.edge_node_create(
                actor=scope.actor, site=site, **form.cleaned_data
            )
        except ValidationError as error:
            add_service_error(form, error)
        else:
            digest = services.sha256_hex(token)
            box = SecretBox(
                title=f"Edge node {node.name} was registered",
                intro=(
                    "Install the edge at the site with the command below. The edge needs "
                    "only the token's SHA-256; the control plane keeps the token itself "
                    "(encrypted) and presents it on every pull."
                ),
                items=[
                    Secret(
                        "Start command",
                        edge_command(node, digest),
                        "Run it on the edge host, from a checkout of the edge release.",
                    ),
                    Secret("EDGE_NODE_TOKEN_SHA256", digest),
                    Secret(
                        "Node token",
                        token,
                        "For checking the node by hand: "
                        "curl -H 'Authorization: Bearer <token>' <pull URL>/v1/heartbeat.",
                    ),
                ],
                warning="The node token is shown only this once.",
            )
            return show_once(scope, box, "site", site.pk)
    return site_page(scope, site, node_form=form)


# --- devices -------------------------------------------------------------------------------


def _device_agents(scope: Scope, device: Device) -> list[Agent]:
    return list(scope.rows(Agent).filter(device=device).order_by("name"))


def _device_key_box(
    title: str, device: Device, key: str, agents: list[Agent], *, rotated: bool = False
) -> SecretBox:
    names = ", ".join(a.name for a in agents)
    intro = (
        "Agents on this device send the device id and key with every request "
        "(X-ACP-Device-Id and X-ACP-Device-Key) to prove they run on it."
    )
    if rotated:
        intro += (
            " The previous key stops working when the site's edge nodes get the new "
            "configuration, at their next pull (normally within seconds)."
        )
    return SecretBox(
        title=title,
        intro=intro,
        items=[Secret("Device id", str(device.pk)), Secret("Device key", key)],
        warning=(
            "The device key is shown only this once."
            + (f" Give it to every agent on this device: {names}." if names else "")
        ),
    )


def device_create(scope: Scope, pk: uuid.UUID) -> HttpResponse:
    site = scope.get(Site, pk)
    form = DeviceForm(data=scope.request.POST)
    if form.is_valid():
        try:
            device, key = services.device_register(
                actor=scope.actor, site=site, **form.cleaned_data
            )
        except ValidationError as error:
            add_service_error(form, error)
        else:
            box = _device_key_box(f"Device {device.name} was registered", device, key, [])
            return show_once(scope, box, "site", site.pk)
    return site_page(scope, site, device_form=form)


def device_rotate(scope: Scope, pk: uuid.UUID) -> HttpResponse:
    device = scope.get(Device, pk)
    if device.revoked_at is not None:
        messages.error(scope.request, f"{device.name} is revoked; its key cannot be renewed.")
        return redirect(scope.url("site", device.site_id))
    key = services.device_rotate_key(actor=scope.actor, device=device)
    box = _device_key_box(
        f"{device.name} has a new device key",
        device,
        key,
        _device_agents(scope, device),
        rotated=True,
    )
    return show_once(scope, box, "site", device.site_id)


def device_revoke(scope: Scope, pk: uuid.UUID) -> HttpResponse:
    device = scope.get(Device, pk)
    if device.revoked_at is not None:
        messages.info(scope.request, f"{device.name} was already revoked.")
    else:
        services.device_revoke(actor=scope.actor, device=device)
        messages.success(
            scope.request,
            f"{device.name} was revoked. Agents on it can no longer reach the edge.",
        )
    return redirect(scope.url("site", device.site_id))


# --- agents ---------------------------------------------------------------------------------


def _with_last_activity(scope: Scope, agents: QuerySet[Agent]) -> QuerySet[Agent]:
    """Each agent's latest ledger event (the ledger index is tenant, agent, time)."""
    latest = (
        UsageEvent.unscoped.filter(tenant_id=scope.tenant.pk, agent_id=OuterRef("pk"))
        .order_by("-occurred_at")
        .values("occurred_at")[:1]
    )
    return agents.annotate(last_activity=Subquery(latest))


def agents(scope: Scope) -> HttpResponse:
    rows = _with_last_activity(
        scope,
        scope.rows(Agent).select_related("department", "owner", "device", "device__site"),
    )
    return _render(scope, "registry/agents.html", agent_list_context(scope, rows))


def _agent_form(scope: Scope, agent: Agent | None = None, data: Any = None) -> AgentForm:
    devices = scope.rows(Device).select_related("site")
    if agent is not None and agent.device_id:
        devices = devices.filter(Q(revoked_at__isnull=True) | Q(pk=agent.device_id))
    else:
        devices = devices.filter(revoked_at__isnull=True)
    owners = User.objects.filter(pk__in=scope.rows(Membership).values("user_id")).order_by("email")
    return AgentForm(
        data=data,
        initial=AgentForm.initial_for(agent) if agent else None,
        departments=scope.rows(Department),
        owners=owners,
        devices=devices,
    )


def _require_edit(scope: Scope) -> None:
    """For form pages: their GET shows a form only editors can send."""
    if not scope.can_edit:
        raise PermissionDenied("Your role cannot change agents.")


def agent_create(scope: Scope) -> HttpResponse:
    _require_edit(scope)
    request = scope.request
    form = _agent_form(scope, data=request.POST if request.method == "POST" else None)
    if form.is_bound and form.is_valid():
        fields = form.service_fields()
        name = fields.pop("name")
        try:
            agent = services.agent_create(
                actor=scope.actor, tenant=scope.tenant, name=name, **fields
            )
        except ValidationError as error:
            add_service_error(form, error)
        else:
            messages.success(request, f"Agent {agent.name} was registered.")
            return redirect(scope.url("agent", agent.pk))
    return _render(scope, "registry/agent_form.html", {"form": form, "agent": None})


def agent_update(scope: Scope, pk: uuid.UUID) -> HttpResponse:
    request = scope.request
    agent = scope.get(Agent, pk)
    _require_edit(scope)
    form = _agent_form(scope, agent, data=request.POST if request.method == "POST" else None)
    if form.is_bound and form.is_valid():
        new = form.service_fields()
        changes = {field: value for field, value in new.items() if getattr(agent, field) != value}
        if not changes:
            messages.info(request, f"Nothing changed on {agent.name}.")
            return redirect(scope.url("agent", agent.pk))
        try:
            services.agent_update(actor=scope.actor, agent=agent, **changes)
        except ValidationError as error:
            add_service_error(form, error)
            agent.refresh_from_db()
        else:
            messages.success(request, f"Agent {agent.name} was saved.")
            return redirect(scope.url("agent", agent.pk))
    return _render(scope, "registry/agent_form.html", {"form": form, "agent": agent})


@dataclass(frozen=True)
class KeyReadiness:
    """Whether a key can be issued for an agent now, and if not, why."""

    edge: EdgeNode | None
    problem: str


def _key_readiness(scope: Scope, agent: Agent) -> KeyReadiness:
    if agent.status != Agent.Status.ACTIVE:
        return KeyReadiness(None, "The agent is disabled; enable it before issuing a key.")
    device = agent.device
    if device is None:
        return KeyReadiness(None, "Assign the agent to a device first: keys work only from it.")
    if device.revoked_at is not None:
        return KeyReadiness(None, f"The agent's device {device.name} is revoked.")
    edge = scope.rows(EdgeNode).filter(site_id=device.site_id).order_by("created_at").first()
    if edge is None:
        return KeyReadiness(None, "The device's site has no edge node yet; register one first.")
    return KeyReadiness(edge, "")


def _agent_page(scope: Scope, agent: Agent) -> HttpResponse:
    agent = (
        _with_last_activity(
            scope,
            scope.rows(Agent).select_related("department", "owner", "device", "device__site"),
        )
        .filter(pk=agent.pk)
        .get()
    )
    neighbours = (
        list(scope.rows(Agent).filter(device_id=agent.device_id).exclude(pk=agent.pk))
        if agent.device_id
        else []
    )
    context = {
        "agent": agent,
        "keys": list(scope.rows(AgentKey).filter(agent=agent).order_by("-created_at")),
        "readiness": _key_readiness(scope, agent),
        "neighbours": neighbours,
        "window_days": _window_days(agent.operating_window),
    }
    return _render(scope, "registry/agent.html", context)


def _window_days(window: Any) -> str:
    names = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    days = window.get("days", []) if isinstance(window, dict) else []
    return ", ".join(names[d] for d in days if isinstance(d, int) and 0 <= d < 7)


def agent(scope: Scope, pk: uuid.UUID) -> HttpResponse:
    return _agent_page(scope, scope.get(Agent, pk))


def env_lines(env: dict[str, str]) -> str:
    """``NAME=value`` lines, quoted for a shell and for .env files."""
    return "\n".join(f"{name}={shlex.quote(value)}" for name, value in env.items())


def agent_key_issue(scope: Scope, pk: uuid.UUID) -> HttpResponse:
    agent = scope.get(Agent, pk)
    readiness = _key_readiness(scope, agent)
    if readiness.edge is None:
        messages.error(scope.request, f"No key was issued: {readiness.problem}")
        return redirect(scope.url("agent", agent.pk))
    device = agent.device
    assert device is not None
    key, agent_key, device_key = services.agent_credentials_issue(actor=scope.actor, agent=agent)
    env = client_environment(
        agent=agent, edge=readiness.edge, agent_key=agent_key, device_key=device_key
    )
    others = [a.name for a in scope.rows(Agent).filter(device=device).exclude(pk=agent.pk)]
    warning = (
        f"These values are shown only this once. The device {device.name} got a new device "
        "key with this: its previous key stops working when the site's edge nodes get the "
        "new configuration, at their next pull (normally within seconds)."
    )
    if others:
        warning += f" Give the new device key to the other agents on it too: {', '.join(others)}."
    box = SecretBox(
        title=f"Key {key.key_id} was issued for {agent.name}",
        intro=(
            f"Set these variables where {agent.name} runs (on {device.name}). OpenTelemetry, "
            f"OpenAI and Anthropic clients then send through the edge node "
            f"{readiness.edge.name}."
        ),
        items=[
            Secret("Client environment", env_lines(env)),
            Secret("Device key alone", device_key, "For other agents on the same device."),
        ],
        warning=warning,
    )
    return show_once(scope, box, "agent", agent.pk)


def agent_key_revoke(scope: Scope, pk: uuid.UUID) -> HttpResponse:
    key = scope.get(AgentKey, pk)
    if key.revoked_at is not None:
        messages.info(scope.request, f"Key {key.key_id} was already revoked.")
    else:
        services.agent_key_revoke(actor=scope.actor, key=key)
        messages.success(scope.request, f"Key {key.key_id} was revoked.")
    return redirect(scope.url("agent", key.agent_id))


def agent_status(scope: Scope, pk: uuid.UUID) -> HttpResponse:
    agent = scope.get(Agent, pk)
    form = AgentStatusForm(data=scope.request.POST)
    if not form.is_valid():
        messages.error(scope.request, "Choose active or disabled.")
    elif form.cleaned_data["status"] == agent.status:
        messages.info(scope.request, f"{agent.name} is already {agent.status}.")
    else:
        try:
            services.agent_update(
                actor=scope.actor, agent=agent, status=form.cleaned_data["status"]
            )
        except ValidationError as error:
            messages.error(scope.request, f"{agent.name}: {' '.join(error.messages)}")
            return redirect(scope.url("agent", agent.pk))
        messages.success(
            scope.request,
            f"{agent.name} was enabled."
            if agent.status == Agent.Status.ACTIVE
            else f"{agent.name} was disabled: its keys stop working at the edge.",
        )
    return redirect(scope.url("agent", agent.pk))


# --- views: (portal, console) pairs, routed in urls.py ----------------------------------

SITES = tenant_views(sites, READ_WRITE)
SITE = tenant_views(site, READ)
EDGE_NODE_CREATE = tenant_views(edge_node_create, WRITE)
DEVICE_CREATE = tenant_views(device_create, WRITE)
DEVICE_ROTATE = tenant_views(device_rotate, WRITE)
DEVICE_REVOKE = tenant_views(device_revoke, WRITE)
AGENTS = tenant_views(agents, READ)
AGENT_CREATE = tenant_views(agent_create, READ_WRITE)
AGENT = tenant_views(agent, READ)
AGENT_UPDATE = tenant_views(agent_update, READ_WRITE)
AGENT_KEY_ISSUE = tenant_views(agent_key_issue, WRITE)
AGENT_KEY_REVOKE = tenant_views(agent_key_revoke, WRITE)
AGENT_STATUS = tenant_views(agent_status, WRITE)

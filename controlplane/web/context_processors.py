from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest
from django.urls import reverse

from tenants.models import Tenant


@dataclass(frozen=True)
class NavItem:
    """One entry of the side navigation. ``url_name`` takes the tenant slug in the portal.

    ``also_current`` lists other URL names (without namespace) under this entry, e.g.
    a detail page under its list. ``roles`` limits a portal entry to some tenant roles.
    """

    label: str
    url_name: str
    also_current: tuple[str, ...] = ()
    roles: frozenset[str] | None = None


_COMPLIANCE_NAMES = ("compliance_criterion", "compliance_evidence")
_COMPLIANCE_PAGES = tuple(f"console_{n}" for n in _COMPLIANCE_NAMES)

# A new section adds one entry here.
CONSOLE_NAV: tuple[NavItem, ...] = (
    NavItem("Fleet", "web:console_fleet"),
    NavItem("Security", "web:console_security_queue"),
    NavItem("Tenants", "web:console_tenants", also_current=("console_tenant",)),
    NavItem(
        "Gateway catalog",
        "web:console_msp_gateway",
        also_current=tuple(
            f"console_msp_gateway_{n}"
            for n in ("provider_create", "provider_key", "route_create", "price_create")
        ),
    ),
    NavItem("Staff", "web:console_staff"),
    NavItem("Audit log", "web:console_audit"),
    NavItem("Auditors", "web:console_auditors"),
    NavItem("Billing", "web:console_billing"),
    NavItem("Compliance", "web:console_compliance", also_current=_COMPLIANCE_PAGES),
    NavItem("Retention defaults", "web:console_privacy_defaults"),
)

_AGENT_PAGES = ("agent", "agent_create", "agent_update")
_DATAFLOW_PAGES = ("dataflow_snapshot",)
_SECURITY_PAGES = ("security_incident",)
# The privacy page's forms that show it again after an error, and its detail pages.
_PRIVACY_PAGES = (
    "privacy_run",
    "privacy_request",
    "privacy_policy",
    "privacy_hold_place",
    "privacy_request_create",
    "privacy_request_verify",
    "privacy_request_erase",
)
# The gateway's forms that show the page again after an error.
_GATEWAY_PAGES = (
    "gateway_policy",
    "gateway_role_default_set",
    "gateway_budget_create",
    "gateway_budget_update",
    "gateway_provider_create",
    "gateway_provider_key",
    "gateway_route_create",
)

# The pages of one tenant in the console, shown under the console entries while a
# tenant's page is open. Their URL names take the tenant slug.
CONSOLE_TENANT_NAV: tuple[NavItem, ...] = (
    NavItem("Overview", "web:console_tenant"),
    NavItem("Dashboards", "web:console_dashboards"),
    NavItem(
        "Agents", "web:console_agents", also_current=tuple(f"console_{n}" for n in _AGENT_PAGES)
    ),
    NavItem("Traces", "web:console_traces", also_current=("console_trace",)),
    NavItem(
        "Data flow",
        "web:console_dataflow",
        also_current=tuple(f"console_{n}" for n in _DATAFLOW_PAGES),
    ),
    NavItem(
        "Security",
        "web:console_security",
        also_current=tuple(f"console_{n}" for n in _SECURITY_PAGES),
    ),
    NavItem("Sites & edge nodes", "web:console_sites", also_current=("console_site",)),
    NavItem(
        "Gateway",
        "web:console_gateway",
        also_current=tuple(f"console_{n}" for n in _GATEWAY_PAGES),
    ),
    NavItem(
        "Privacy", "web:console_privacy", also_current=tuple(f"console_{n}" for n in _PRIVACY_PAGES)
    ),
    NavItem("Evidence packages", "web:console_evidence_packages"),
)

PORTAL_NAV: tuple[NavItem, ...] = (
    NavItem("Overview", "web:portal_home"),
    NavItem("Dashboards", "web:portal_dashboards"),
    NavItem("Agents", "web:portal_agents", also_current=tuple(f"portal_{n}" for n in _AGENT_PAGES)),
    NavItem("Traces", "web:portal_traces", also_current=("portal_trace",)),
    NavItem(
        "Data flow",
        "web:portal_dataflow",
        also_current=tuple(f"portal_{n}" for n in _DATAFLOW_PAGES),
    ),
    NavItem(
        "Security",
        "web:portal_security",
        also_current=tuple(f"portal_{n}" for n in _SECURITY_PAGES),
    ),
    NavItem("Sites & edge nodes", "web:portal_sites", also_current=("portal_site",)),
    NavItem(
        "Gateway", "web:portal_gateway", also_current=tuple(f"portal_{n}" for n in _GATEWAY_PAGES)
    ),
    NavItem("People", "web:portal_people"),
    NavItem("Departments", "web:portal_departments"),
    NavItem("Audit log", "web:portal_audit"),
    NavItem("Evidence packages", "web:portal_evidence_packages", roles=frozenset({"owner"})),
    NavItem(
        "Compliance",
        "web:portal_compliance",
        also_current=tuple(f"portal_{n}" for n in _COMPLIANCE_NAMES),
    ),
    NavItem(
        "Privacy",
        "web:portal_privacy",
        also_current=tuple(f"portal_{n}" for n in _PRIVACY_PAGES),
        roles=frozenset({"owner", "admin"}),
    ),
    NavItem(
        "Invoices",
        "web:portal_invoices",
        roles=frozenset({"owner", "admin", "billing"}),
    ),
    NavItem("Settings", "web:portal_settings"),
)


# The outside auditors' area: their home, and the pages of the tenant that is open.
AUDITOR_NAV: tuple[NavItem, ...] = (NavItem("Your audit", "web:auditor_home"),)
AUDITOR_TENANT_NAV: tuple[NavItem, ...] = (
    NavItem("Overview", "web:auditor_tenant"),
    NavItem(
        "Compliance",
        "web:auditor_compliance",
        also_current=("auditor_compliance_criterion", "auditor_compliance_evidence"),
    ),
    NavItem(
        "Evidence packages",
        "web:auditor_evidence_packages",
        also_current=("auditor_evidence_package_download",),
    ),
    NavItem("Traces", "web:auditor_traces", also_current=("auditor_trace",)),
    NavItem("Security alerts", "web:auditor_alerts"),
    NavItem("Audit log", "web:auditor_audit"),
    NavItem(
        "Data flow",
        "web:auditor_dataflow",
        also_current=("auditor_dataflow_snapshot",),
    ),
)


def _current(request: HttpRequest) -> tuple[str | None, dict[str, Any]]:
    match = getattr(request, "resolver_match", None)
    return (match.url_name, match.kwargs) if match else (None, {})


def _entries(
    entries: tuple[NavItem, ...], args: list[str], current: str | None, role: str | None
) -> list[dict[str, Any]]:
    items = []
    for entry in entries:
        if entry.roles is not None and role not in entry.roles:
            continue
        name = entry.url_name.split(":")[-1]
        is_current = current == name or current in entry.also_current
        items.append(
            {
                "label": entry.label,
                "url": reverse(entry.url_name, args=args),
                "current": is_current,
                "aria_current": "page" if is_current else "",
            }
        )
    return items


def _items(request: HttpRequest, area: str | None) -> list[dict[str, Any]]:
    current, _ = _current(request)
    if area == "console":
        return _entries(CONSOLE_NAV, [], current, None)
    if area == "portal":
        tenant, membership = request.tenant, request.membership  # type: ignore[attr-defined]
        return _entries(PORTAL_NAV, [tenant.slug], current, membership.role)
    if area == "auditor":
        return _entries(AUDITOR_NAV, [], current, None)
    return []


def _console_tenant(request: HttpRequest, area: str | None) -> Tenant | None:
    """The tenant whose console (or auditor's) page is open, if one is."""
    current, kwargs = _current(request)
    if area == "auditor":
        return getattr(request, "tenant", None)
    if area != "console" or not current or "slug" not in kwargs:
        return None
    return Tenant.objects.filter(slug=kwargs["slug"]).first()


def navigation(request: HttpRequest) -> dict[str, Any]:
    """What the layout needs to draw its navigation: the area, the tenant and the
    entries of the side navigation."""
    area = getattr(request, "nav_area", None)
    items = _items(request, area)
    console_tenant = _console_tenant(request, area)
    tenant_items = []
    if console_tenant is not None:
        current, _ = _current(request)
        tenant_nav = AUDITOR_TENANT_NAV if area == "auditor" else CONSOLE_TENANT_NAV
        tenant_items = _entries(tenant_nav, [console_tenant.slug], current, None)
        # The tenant's own entry below holds the page; "Tenants" is the section it is in.
        tenants_url = reverse("web:auditor_home" if area == "auditor" else "web:console_tenants")
        for item in items:
            if item["url"] == tenants_url:
                item.update(current=True, aria_current="true")
    return {
        "nav_area": area,
        "nav_tenant": getattr(request, "tenant", None),
        "nav_items": items,
        "nav_label": {"console": "Console", "auditor": "Audit"}.get(area or "", "Portal"),
        "nav_console_tenant": console_tenant,
        "nav_tenant_items": tenant_items,
    }

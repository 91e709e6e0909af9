from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest
from django.urls import reverse


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


# A new section adds one entry here. Planned: Dashboards, Traces, Alerts, Agents,
# Invoices (portal: e.g. roles=frozenset({"owner", "billing"})), Evidence.
CONSOLE_NAV: tuple[NavItem, ...] = (
    NavItem("Tenants", "web:console_tenants", also_current=("console_tenant",)),
    NavItem("Staff", "web:console_staff"),
    NavItem("Audit log", "web:console_audit"),
)

PORTAL_NAV: tuple[NavItem, ...] = (
    NavItem("Overview", "web:portal_home"),
    NavItem("People", "web:portal_people"),
    NavItem("Departments", "web:portal_departments"),
    NavItem("Audit log", "web:portal_audit"),
    NavItem("Settings", "web:portal_settings"),
)


def _items(request: HttpRequest, area: str | None) -> list[dict[str, Any]]:
    match = getattr(request, "resolver_match", None)
    current = match.url_name if match else None
    if area == "console":
        entries, args = CONSOLE_NAV, []
        role = None
    elif area == "portal":
        entries, args = PORTAL_NAV, [request.tenant.slug]  # type: ignore[attr-defined]
        role = request.membership.role  # type: ignore[attr-defined]
    else:
        return []
    items = []
    for entry in entries:
        if entry.roles is not None and role not in entry.roles:
            continue
        name = entry.url_name.split(":")[-1]
        items.append(
            {
                "label": entry.label,
                "url": reverse(entry.url_name, args=args),
                "current": current == name or current in entry.also_current,
            }
        )
    return items


def navigation(request: HttpRequest) -> dict[str, Any]:
    """What the layout needs to draw its navigation: the area, the tenant and the
    entries of the side navigation."""
    area = getattr(request, "nav_area", None)
    return {
        "nav_area": area,
        "nav_tenant": getattr(request, "tenant", None),
        "nav_items": _items(request, area),
        "nav_label": "Console" if area == "console" else "Portal",
    }

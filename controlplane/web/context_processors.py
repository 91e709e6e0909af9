from __future__ import annotations

from typing import Any

from django.http import HttpRequest


def navigation(request: HttpRequest) -> dict[str, Any]:
    """What the layout needs to draw its navigation: the area and the tenant."""
    return {
        "nav_area": getattr(request, "nav_area", None),
        "nav_tenant": getattr(request, "tenant", None),
    }

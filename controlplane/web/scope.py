"""One tenant's pages, served twice: in the customer portal (``/t/<slug>/...``) and in
the staff console (``/console/tenants/<slug>/...``); some a third time, read-only and
limited to an evidence period, to outside auditors (``/auditor/t/<slug>/...``,
``controlplane.web.auditor_area``).

A page handler takes a ``Scope`` instead of the request: it says which tenant, which
area, whether this person may change things, and reads that tenant's rows the way the
area must (the portal through the scoped managers, in the tenant's context; the console
through ``.unscoped`` filtered by the tenant in the URL). ``tenant_views`` wraps one
handler into the portal view and the console view, each behind its access decorator.
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from compliance.periods import Period
from controlplane.audit.services import Actor
from controlplane.telemetry.body_access import can_read_bodies
from controlplane.web.access import (
    TENANT_ADMINS,
    portal_membership,
    portal_tenant,
    portal_view,
    staff_can_write,
    staff_tenant,
    staff_view,
)
from tenants.models import Tenant

M = TypeVar("M", bound=Model)
Area = Literal["console", "portal", "auditor"]
Handler = Callable[..., HttpResponse]
View = Callable[..., HttpResponse]

READ = ("GET", "HEAD")
READ_WRITE = ("GET", "HEAD", "POST")
WRITE = ("POST",)


@dataclass(frozen=True)
class Scope:
    request: HttpRequest
    tenant: Tenant
    area: Area
    can_edit: bool
    period: Period | None = None
    """An auditor's evidence period: the data these pages show lies inside it."""

    @functools.cached_property
    def departments(self) -> frozenset[uuid.UUID] | None:
        """A department-scoped member's departments; None: every department of the
        tenant (staff, auditors, and members without a limit). Read on first use only."""
        if self.area != "portal":
            return None
        membership = portal_membership(self.request)
        return frozenset(membership.departments.values_list("pk", flat=True)) or None

    @functools.cached_property
    def can_read_bodies(self) -> bool:
        """Whether this person may read prompts and responses (telemetry.body_access);
        auditors read the evidence, not the conversations."""
        if self.area == "auditor":
            return False
        if self.area == "console":
            return can_read_bodies(staff_role=self.request.user.staff_role, tenant_role=None)  # type: ignore[union-attr]
        return can_read_bodies(staff_role=None, tenant_role=portal_membership(self.request).role)

    @property
    def actor(self) -> Actor:
        return Actor.from_request(self.request)

    def clamp(self, since: dt.datetime, until: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
        """``[since, until)`` within the period (an empty window at its start when they
        do not meet); unchanged without a period."""
        if self.period is None:
            return since, until
        since, until = max(since, self.period.since), min(until, self.period.until)
        return (since, until) if since < until else (self.period.since, self.period.since)

    def in_period(self, since: dt.datetime, until: dt.datetime) -> bool:
        """Whether ``[since, until)`` lies inside the period (always, without one)."""
        return self.period is None or (self.period.since <= since and until <= self.period.until)

    def rows(self, model: type[M]) -> QuerySet[M]:
        """``model``'s rows of this tenant."""
        if self.area != "console":
            return model.objects.all()  # type: ignore[attr-defined]
        return model.unscoped.filter(tenant=self.tenant)  # type: ignore[attr-defined]

    def in_departments(self, rows: QuerySet[M], field: str = "department_id") -> QuerySet[M]:
        """``rows`` of this person's departments (``field`` names the department), all of
        them when they see the whole tenant."""
        if self.departments is None:
            return rows
        return rows.filter(**{f"{field}__in": self.departments})

    def get(self, model: type[M], pk: uuid.UUID) -> M:
        """The object named in the URL, if it belongs to this tenant; 404 otherwise."""
        obj = self.rows(model).filter(pk=pk).first()
        if obj is None:
            raise Http404
        return obj

    def name(self, name: str) -> str:
        return f"web:{self.area}_{name}"

    def url(self, name: str, *args: object) -> str:
        return reverse(self.name(name), args=[self.tenant.slug, *args])

    @property
    def names(self) -> _Names:
        """For templates: ``{% url scope.names.agent scope.tenant.slug agent.pk %}``."""
        return _Names(self.area)


class _Names:
    def __init__(self, area: Area) -> None:
        self._area = area

    def __getitem__(self, name: str) -> str:
        return f"web:{self._area}_{name}"

    def __getattr__(self, name: str) -> str:
        if name.startswith("_"):
            raise AttributeError(name)
        return self[name]


def portal_scope(request: HttpRequest) -> Scope:
    return Scope(
        request=request,
        tenant=portal_tenant(request),
        area="portal",
        can_edit=portal_membership(request).role in TENANT_ADMINS,
    )


def console_scope(request: HttpRequest, slug: str) -> Scope:
    return Scope(
        request=request,
        tenant=staff_tenant(slug),
        area="console",
        can_edit=staff_can_write(request.user),
    )


def tenant_views(handler: Handler, methods: Iterable[str]) -> tuple[View, View]:
    """The portal view and the console view of ``handler(scope, **url_kwargs)``."""
    allowed = list(methods)

    @portal_view()
    @require_http_methods(allowed)
    @functools.wraps(handler)
    def in_portal(request: HttpRequest, slug: str, **kwargs: Any) -> HttpResponse:
        return handler(portal_scope(request), **kwargs)

    @staff_view()
    @require_http_methods(allowed)
    @functools.wraps(handler)
    def in_console(request: HttpRequest, slug: str, **kwargs: Any) -> HttpResponse:
        return handler(console_scope(request, slug), **kwargs)

    return in_portal, in_console

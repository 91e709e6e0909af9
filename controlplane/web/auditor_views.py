"""The outside auditor's own pages: their access and tenants, each tenant's overview,
and the audit log and security alerts of the period. The traces, the data-flow
diagram, the criterion pages and the packages are the tenant pages everyone has, in the
auditor's scope (``auditor_area.auditor_views``)."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from compliance.models import Category, EvidencePackage
from compliance.packages import selectors as package_selectors
from controlplane.accounts.auditors import auditor_tenants
from controlplane.audit.models import AuditEvent
from controlplane.core.tenancy import tenant_context
from controlplane.security.models import Alert
from controlplane.web.audit_log import audit_export, audit_page
from controlplane.web.auditor_area import (
    account_period,
    auditor_account,
    auditor_home_view,
    auditor_scope,
    auditor_view,
)
from controlplane.web.forms import AuditFilterForm
from tenants.models import Tenant

ALERT_LIMIT = 500


@auditor_home_view
def home(request: HttpRequest) -> HttpResponse:
    account = auditor_account(request)
    period = account_period(account)
    tenants = []
    for tenant in auditor_tenants(account):
        if tenant.status != Tenant.Status.ACTIVE:
            continue
        with tenant_context(tenant):
            ready = package_selectors.packages(EvidencePackage.objects.all(), period).filter(
                status=EvidencePackage.Status.READY
            )
            tenants.append((tenant, ready.count()))
    context = {"account": account, "period": period, "tenants": tenants}
    return render(request, "auditor/home.html", context)


@auditor_view
def tenant_home(request: HttpRequest, slug: str) -> HttpResponse:
    scope = auditor_scope(request)
    packages = package_selectors.packages(scope.rows(EvidencePackage), scope.period)
    context = {"scope": scope, "packages": packages[:5], "categories": Category.choices}
    return render(request, "auditor/tenant.html", context)


def _period_events(request: HttpRequest) -> QuerySet[AuditEvent]:
    period = account_period(auditor_account(request))
    return AuditEvent.objects.filter(occurred_at__gte=period.since, occurred_at__lt=period.until)


@auditor_view
def audit(request: HttpRequest, slug: str) -> HttpResponse:
    """The tenant's audit log, entries of the period only."""
    scope = auditor_scope(request)
    form = AuditFilterForm(data=request.GET)
    events = _period_events(request)
    if request.GET.get("export") == "csv" and form.is_valid():
        return audit_export(events, form, tenant=scope.tenant, name=scope.tenant.slug)
    page = audit_page(events, form, tenant=scope.tenant)
    return render(request, "auditor/audit.html", {"scope": scope, "page": page})


@auditor_view
def alerts(request: HttpRequest, slug: str) -> HttpResponse:
    """The tenant's behavioral alerts raised in the period, and how each was handled
    against its SLA."""
    scope = auditor_scope(request)
    period = account_period(auditor_account(request))
    found = Alert.objects.filter(raised_at__gte=period.since, raised_at__lt=period.until)
    rows = list(found.order_by("-raised_at")[: ALERT_LIMIT + 1])
    context = {
        "scope": scope,
        "alerts": rows[:ALERT_LIMIT],
        "more": len(rows) > ALERT_LIMIT,
        "limit": ALERT_LIMIT,
        "total": found.count(),
    }
    return render(request, "auditor/alerts.html", context)

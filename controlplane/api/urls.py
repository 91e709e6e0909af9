"""/api/v1/: the resources, each a viewset on one router. Tenant resources live under
/api/v1/tenants/{tenant_slug}/; a new one is one more ``register`` line."""

from django.urls import path, re_path
from rest_framework.routers import SimpleRouter

from controlplane.api.base import TENANT_SLUG
from controlplane.api.views import (
    accounts,
    auditors,
    billing,
    collectors,
    compliance,
    gateway,
    privacy,
    registry,
    security,
    telemetry,
    tenants,
)
from controlplane.api.views.fallback import NotFoundView

app_name = "api"

TENANT = f"tenants/<slug:{TENANT_SLUG}>"

router = SimpleRouter(trailing_slash=False, use_regex_path=False)
router.register("tokens", accounts.ApiTokenViewSet, basename="token")
router.register("model-prices", accounts.ModelPriceViewSet, basename="model-price")
router.register("tenants", tenants.TenantViewSet, basename="tenant")
router.register("auditors", auditors.AuditorViewSet, basename="auditor")
router.register("compliance/evidence", compliance.MspEvidenceViewSet, basename="msp-evidence")
router.register(f"{TENANT}/departments", tenants.DepartmentViewSet, basename="department")
router.register(f"{TENANT}/memberships", tenants.MembershipViewSet, basename="membership")
router.register(f"{TENANT}/invitations", tenants.InvitationViewSet, basename="invitation")
router.register(f"{TENANT}/sites", registry.SiteViewSet, basename="site")
router.register(f"{TENANT}/edge-nodes", registry.EdgeNodeViewSet, basename="edge-node")
router.register(f"{TENANT}/devices", registry.DeviceViewSet, basename="device")
router.register(f"{TENANT}/agents", registry.AgentViewSet, basename="agent")
router.register(
    f"{TENANT}/agents/<uuid:{registry.AGENT_ID}>/keys",
    registry.AgentKeyViewSet,
    basename="agent-key",
)
router.register(
    f"{TENANT}/sites/<uuid:{collectors.SITE_ID}>/collector-keys",
    collectors.CollectorKeyViewSet,
    basename="collector-key",
)
router.register(f"{TENANT}/providers", gateway.ProviderViewSet, basename="provider")
router.register(f"{TENANT}/routes", gateway.RouteViewSet, basename="route")
router.register(f"{TENANT}/role-defaults", gateway.RoleDefaultViewSet, basename="role-default")
router.register(f"{TENANT}/budgets", gateway.BudgetViewSet, basename="budget")
router.register(f"{TENANT}/config-changes", gateway.ConfigChangeViewSet, basename="config-change")
router.register(f"{TENANT}/usage", telemetry.UsageViewSet, basename="usage")
router.register(f"{TENANT}/traces", telemetry.TraceViewSet, basename="trace")
router.register(f"{TENANT}/plans", billing.PlanViewSet, basename="plan")
router.register(f"{TENANT}/invoices", billing.InvoiceViewSet, basename="invoice")
router.register(f"{TENANT}/credit-notes", billing.CreditNoteViewSet, basename="credit-note")
router.register(f"{TENANT}/rated-usage", billing.RatedUsageViewSet, basename="rated-usage")
router.register(f"{TENANT}/security/alerts", security.AlertViewSet, basename="security-alert")
router.register(
    f"{TENANT}/security/incidents", security.IncidentViewSet, basename="security-incident"
)
router.register(
    f"{TENANT}/security/maintenance-windows",
    security.MaintenanceWindowViewSet,
    basename="security-maintenance-window",
)
router.register(
    f"{TENANT}/security/quarantines", security.QuarantineViewSet, basename="security-quarantine"
)
router.register(
    f"{TENANT}/compliance/packages", auditors.EvidencePackageViewSet, basename="evidence-package"
)
router.register(f"{TENANT}/compliance/controls", compliance.ControlViewSet, basename="control")
router.register(
    f"{TENANT}/compliance/test-runs", compliance.TestRunViewSet, basename="compliance-test-run"
)
router.register(
    f"{TENANT}/compliance/evidence", compliance.EvidenceViewSet, basename="compliance-evidence"
)
router.register(
    f"{TENANT}/compliance/exceptions",
    compliance.ExceptionViewSet,
    basename="compliance-exception",
)
router.register(
    f"{TENANT}/privacy/legal-holds", privacy.LegalHoldViewSet, basename="privacy-legal-hold"
)
router.register(
    f"{TENANT}/privacy/retention-runs",
    privacy.RetentionRunViewSet,
    basename="privacy-retention-run",
)
router.register(
    f"{TENANT}/privacy/data-subject-requests",
    privacy.DataSubjectRequestViewSet,
    basename="privacy-data-subject-request",
)

urlpatterns = [
    path("me", accounts.MeView.as_view(), name="me"),
    path(
        "provider-reconciliation",
        billing.ProviderReconciliationView.as_view(),
        name="provider-reconciliation",
    ),
    # One policy per tenant: no collection, no id.
    path(
        f"{TENANT}/policy",
        gateway.PolicyViewSet.as_view({"get": "retrieve", "patch": "partial_update"}),
        name="policy",
    ),
    path(
        f"{TENANT}/security/settings",
        security.SecuritySettingsViewSet.as_view({"get": "retrieve", "patch": "partial_update"}),
        name="security-settings",
    ),
    path(
        f"{TENANT}/privacy/retention-policy",
        privacy.RetentionPolicyViewSet.as_view({"get": "retrieve", "post": "create"}),
        name="privacy-retention-policy",
    ),
    *router.urls,
    re_path(r"^.*$", NotFoundView.as_view(), name="not-found"),
]

from django.urls import URLPattern, path

from controlplane.web import (
    auditor_admin,
    auditor_compliance,
    auditor_views,
    billing_views,
    collector_views,
    compliance_views,
    console,
    dashboard_views,
    dataflow_views,
    evidence_packages,
    fleet,
    gateway_views,
    msp_gateway_views,
    portal,
    privacy_views,
    registry_views,
    security_console,
    security_views,
    trace_views,
    views,
)
from controlplane.web.auditor_area import auditor_views as in_auditor_area
from controlplane.web.scope import View

app_name = "web"


def tenant_paths(route: str, views_pair: tuple[View, View], name: str) -> list[URLPattern]:
    """One tenant page in both areas: ``portal_<name>`` at /t/<slug>/<route> and
    ``console_<name>`` at /console/tenants/<slug>/<route>."""
    in_portal, in_console = views_pair
    return [
        path(f"t/<slug:slug>/{route}", in_portal, name=f"portal_{name}"),
        path(f"console/tenants/<slug:slug>/{route}", in_console, name=f"console_{name}"),
    ]


def auditor_path(route: str, view: View, name: str) -> URLPattern:
    """One tenant page of the outside auditors' area: ``auditor_<name>`` at
    /auditor/t/<slug>/<route>."""
    return path(f"auditor/t/<slug:slug>/{route}", view, name=f"auditor_{name}")


# Pages both areas have: the tenant's fleet and its traces.
TENANT_PAGES = [
    *tenant_paths("sites/", registry_views.SITES, "sites"),
    *tenant_paths("sites/<uuid:pk>/", registry_views.SITE, "site"),
    *tenant_paths(
        "sites/<uuid:pk>/edge-nodes/new/", registry_views.EDGE_NODE_CREATE, "edge_node_create"
    ),
    *tenant_paths("sites/<uuid:pk>/devices/new/", registry_views.DEVICE_CREATE, "device_create"),
    *tenant_paths("devices/<uuid:pk>/new-key/", registry_views.DEVICE_ROTATE, "device_rotate"),
    *tenant_paths("devices/<uuid:pk>/revoke/", registry_views.DEVICE_REVOKE, "device_revoke"),
    *tenant_paths("agents/", registry_views.AGENTS, "agents"),
    *tenant_paths("agents/new/", registry_views.AGENT_CREATE, "agent_create"),
    *tenant_paths("agents/<uuid:pk>/", registry_views.AGENT, "agent"),
    *tenant_paths("agents/<uuid:pk>/edit/", registry_views.AGENT_UPDATE, "agent_update"),
    *tenant_paths("agents/<uuid:pk>/status/", registry_views.AGENT_STATUS, "agent_status"),
    *tenant_paths("agents/<uuid:pk>/keys/new/", registry_views.AGENT_KEY_ISSUE, "agent_key_issue"),
    *tenant_paths(
        "agent-keys/<uuid:pk>/revoke/", registry_views.AGENT_KEY_REVOKE, "agent_key_revoke"
    ),
    *tenant_paths(
        "sites/<uuid:pk>/collector-keys/new/",
        collector_views.COLLECTOR_KEY_ISSUE,
        "collector_key_issue",
    ),
    *tenant_paths(
        "collector-keys/<uuid:pk>/new-key/",
        collector_views.COLLECTOR_KEY_ROTATE,
        "collector_key_rotate",
    ),
    *tenant_paths(
        "collector-keys/<uuid:pk>/revoke/",
        collector_views.COLLECTOR_KEY_REVOKE,
        "collector_key_revoke",
    ),
    *tenant_paths(
        "sites/<uuid:pk>/collectors/", collector_views.SITE_COLLECTORS, "site_collectors"
    ),
    *tenant_paths("gateway/", gateway_views.GATEWAY, "gateway"),
    *tenant_paths("gateway/policy/", gateway_views.POLICY_UPDATE, "gateway_policy"),
    *tenant_paths(
        "gateway/role-defaults/", gateway_views.ROLE_DEFAULT_SET, "gateway_role_default_set"
    ),
    *tenant_paths(
        "gateway/role-defaults/<uuid:pk>/delete/",
        gateway_views.ROLE_DEFAULT_DELETE,
        "gateway_role_default_delete",
    ),
    *tenant_paths("gateway/budgets/", gateway_views.BUDGET_CREATE, "gateway_budget_create"),
    *tenant_paths(
        "gateway/budgets/<uuid:pk>/", gateway_views.BUDGET_UPDATE, "gateway_budget_update"
    ),
    *tenant_paths(
        "gateway/budgets/<uuid:pk>/delete/", gateway_views.BUDGET_DELETE, "gateway_budget_delete"
    ),
    *tenant_paths("gateway/providers/", gateway_views.PROVIDER_CREATE, "gateway_provider_create"),
    *tenant_paths(
        "gateway/providers/<uuid:pk>/enabled/",
        gateway_views.PROVIDER_ENABLED,
        "gateway_provider_enabled",
    ),
    *tenant_paths(
        "gateway/providers/<uuid:pk>/key/", gateway_views.PROVIDER_KEY, "gateway_provider_key"
    ),
    *tenant_paths(
        "gateway/providers/<uuid:pk>/delete/",
        gateway_views.PROVIDER_DELETE,
        "gateway_provider_delete",
    ),
    *tenant_paths("gateway/routes/", gateway_views.ROUTE_CREATE, "gateway_route_create"),
    *tenant_paths(
        "gateway/routes/<uuid:pk>/delete/", gateway_views.ROUTE_DELETE, "gateway_route_delete"
    ),
    *tenant_paths("dashboards/", dashboard_views.DASHBOARDS, "dashboards"),
    *tenant_paths("traces/", trace_views.TRACES, "traces"),
    *tenant_paths("traces/<str:trace_id>/", trace_views.TRACE, "trace"),
    *tenant_paths("dataflow/", dataflow_views.DATAFLOW, "dataflow"),
    *tenant_paths("dataflow/svg/", dataflow_views.DATAFLOW_SVG, "dataflow_svg"),
    *tenant_paths(
        "dataflow/snapshots/", dataflow_views.DATAFLOW_SNAPSHOT_CREATE, "dataflow_snapshot_create"
    ),
    *tenant_paths(
        "dataflow/snapshots/<uuid:pk>/", dataflow_views.DATAFLOW_SNAPSHOT, "dataflow_snapshot"
    ),
    *tenant_paths(
        "dataflow/snapshots/<uuid:pk>/svg/",
        dataflow_views.DATAFLOW_SNAPSHOT_SVG,
        "dataflow_snapshot_svg",
    ),
    *tenant_paths("security/", security_views.SECURITY, "security"),
    *tenant_paths("security/bulk/", security_views.SECURITY_BULK, "security_bulk"),
    *tenant_paths("security/incidents/<uuid:pk>/", security_views.INCIDENT, "security_incident"),
    *tenant_paths(
        "security/incidents/<uuid:pk>/state/",
        security_views.INCIDENT_STATE,
        "security_incident_state",
    ),
    *tenant_paths(
        "security/incidents/<uuid:pk>/assign/",
        security_views.INCIDENT_ASSIGN,
        "security_incident_assign",
    ),
    *tenant_paths(
        "security/incidents/<uuid:pk>/notes/",
        security_views.INCIDENT_NOTE,
        "security_incident_note",
    ),
    *tenant_paths(
        "security/alerts/<uuid:pk>/state/", security_views.ALERT_STATE, "security_alert_state"
    ),
    *tenant_paths(
        "security/quarantines/", security_views.QUARANTINE_START, "security_quarantine_start"
    ),
    *tenant_paths(
        "security/quarantines/<uuid:pk>/release/",
        security_views.QUARANTINE_RELEASE,
        "security_quarantine_release",
    ),
    *tenant_paths("evidence-packages/", evidence_packages.PACKAGES, "evidence_packages"),
    *tenant_paths(
        "evidence-packages/<uuid:pk>/download/",
        evidence_packages.PACKAGE_DOWNLOAD,
        "evidence_package_download",
    ),
]

# The outside auditors' area (read-only, their tenants, their period): its own pages and
# tenant pages everyone has, in the auditor's scope.
AUDITOR_PAGES = [
    path("auditor/", auditor_views.home, name="auditor_home"),
    auditor_path("", auditor_views.tenant_home, "tenant"),
    auditor_path("audit/", auditor_views.audit, "audit"),
    auditor_path("alerts/", auditor_views.alerts, "alerts"),
    auditor_path("traces/", in_auditor_area(trace_views.traces), "traces"),
    auditor_path("traces/<str:trace_id>/", in_auditor_area(trace_views.trace), "trace"),
    auditor_path("dataflow/", in_auditor_area(dataflow_views.dataflow), "dataflow"),
    auditor_path("dataflow/svg/", in_auditor_area(dataflow_views.dataflow_svg), "dataflow_svg"),
    auditor_path(
        "dataflow/snapshots/<uuid:pk>/",
        in_auditor_area(dataflow_views.dataflow_snapshot),
        "dataflow_snapshot",
    ),
    auditor_path(
        "dataflow/snapshots/<uuid:pk>/svg/",
        in_auditor_area(dataflow_views.dataflow_snapshot_svg),
        "dataflow_snapshot_svg",
    ),
    auditor_path("compliance/", auditor_compliance.OVERVIEW, "compliance"),
    auditor_path(
        "compliance/evidence/<uuid:pk>/", auditor_compliance.EVIDENCE, "compliance_evidence"
    ),
    auditor_path(
        "compliance/evidence/<uuid:pk>/download/",
        auditor_compliance.EVIDENCE_DOWNLOAD,
        "compliance_evidence_download",
    ),
    auditor_path(
        "compliance/<slug:category>/", auditor_compliance.CRITERION, "compliance_criterion"
    ),
    auditor_path("evidence-packages/", evidence_packages.AUDITOR_PACKAGES, "evidence_packages"),
    auditor_path(
        "evidence-packages/<uuid:pk>/download/",
        evidence_packages.AUDITOR_PACKAGE_DOWNLOAD,
        "evidence_package_download",
    ),
]


def compliance_paths(route: str, views_pair: tuple[View, View], name: str) -> list[URLPattern]:
    """A compliance page in both areas: ``console_<name>`` at /console/compliance/<route>
    (every tenant, or ``?tenant=``) and ``portal_<name>`` at /t/<slug>/compliance/<route>."""
    in_console, in_portal = views_pair
    return [
        path(f"console/compliance/{route}", in_console, name=f"console_{name}"),
        path(f"t/<slug:slug>/compliance/{route}", in_portal, name=f"portal_{name}"),
    ]


COMPLIANCE_PAGES = [
    *compliance_paths("", compliance_views.OVERVIEW, "compliance"),
    *compliance_paths("runs/", compliance_views.RUN, "compliance_run"),
    *compliance_paths(
        "exceptions/", compliance_views.EXCEPTION_CREATE, "compliance_exception_create"
    ),
    path(
        "console/compliance/exceptions/<uuid:pk>/decide/",
        compliance_views.exception_decide_view,
        name="console_compliance_exception_decide",
    ),
    *compliance_paths(
        "access-reviews/", compliance_views.ACCESS_REVIEW, "compliance_access_review"
    ),
    *compliance_paths("evidence/<uuid:pk>/", compliance_views.EVIDENCE, "compliance_evidence"),
    *compliance_paths(
        "evidence/<uuid:pk>/download/",
        compliance_views.EVIDENCE_DOWNLOAD,
        "compliance_evidence_download",
    ),
    *compliance_paths("<slug:category>/", compliance_views.CRITERION, "compliance_criterion"),
    *tenant_paths("privacy/", privacy_views.PRIVACY, "privacy"),
    *tenant_paths("privacy/policy/", privacy_views.POLICY_SET, "privacy_policy"),
    *tenant_paths("privacy/holds/", privacy_views.HOLD_PLACE, "privacy_hold_place"),
    *tenant_paths(
        "privacy/holds/<uuid:pk>/release/", privacy_views.HOLD_RELEASE, "privacy_hold_release"
    ),
    *tenant_paths("privacy/runs/", privacy_views.RUN_NOW, "privacy_run_now"),
    *tenant_paths("privacy/runs/<uuid:pk>/", privacy_views.RUN, "privacy_run"),
    *tenant_paths("privacy/requests/", privacy_views.REQUEST_CREATE, "privacy_request_create"),
    *tenant_paths("privacy/requests/<uuid:pk>/", privacy_views.REQUEST, "privacy_request"),
    *tenant_paths(
        "privacy/requests/<uuid:pk>/verify/",
        privacy_views.REQUEST_VERIFY,
        "privacy_request_verify",
    ),
    *tenant_paths(
        "privacy/requests/<uuid:pk>/erase/", privacy_views.REQUEST_ERASE, "privacy_request_erase"
    ),
    *tenant_paths(
        "privacy/requests/<uuid:pk>/retry/", privacy_views.REQUEST_RETRY, "privacy_request_retry"
    ),
    *tenant_paths(
        "privacy/requests/<uuid:pk>/export/",
        privacy_views.REQUEST_EXPORT,
        "privacy_request_export",
    ),
]

urlpatterns = [
    path("", views.home, name="home"),
    # MSP staff console
    path("console/", console.tenants, name="console_tenants"),
    path("console/fleet/", fleet.fleet, name="console_fleet"),
    path("console/staff/", console.staff, name="console_staff"),
    path("console/staff/<uuid:pk>/role/", console.staff_role, name="console_staff_role"),
    path("console/staff/<uuid:pk>/active/", console.staff_active, name="console_staff_active"),
    path("console/staff/<uuid:pk>/resend/", console.staff_resend, name="console_staff_resend"),
    path("console/audit/", console.audit, name="console_audit"),
    path("console/security/", security_console.queue, name="console_security_queue"),
    path("console/security/bulk/", security_console.bulk, name="console_security_bulk"),
    path("console/auditors/", auditor_admin.auditors, name="console_auditors"),
    path(
        "console/auditors/<uuid:pk>/extend/",
        auditor_admin.auditor_extend_view,
        name="console_auditor_extend",
    ),
    path(
        "console/auditors/<uuid:pk>/revoke/",
        auditor_admin.auditor_revoke_view,
        name="console_auditor_revoke",
    ),
    path("console/billing/", billing_views.console_billing, name="console_billing"),
    path("console/privacy/", privacy_views.console_defaults, name="console_privacy_defaults"),
    path(
        "console/billing/invoices/<uuid:invoice_id>/approve",
        billing_views.console_invoice_approve,
        name="console_invoice_approve",
    ),
    path("console/gateway/", msp_gateway_views.gateway, name="console_msp_gateway"),
    path(
        "console/gateway/providers/",
        msp_gateway_views.provider_create,
        name="console_msp_gateway_provider_create",
    ),
    path(
        "console/gateway/providers/<uuid:pk>/enabled/",
        msp_gateway_views.provider_enabled,
        name="console_msp_gateway_provider_enabled",
    ),
    path(
        "console/gateway/providers/<uuid:pk>/key/",
        msp_gateway_views.provider_key,
        name="console_msp_gateway_provider_key",
    ),
    path(
        "console/gateway/providers/<uuid:pk>/delete/",
        msp_gateway_views.provider_delete,
        name="console_msp_gateway_provider_delete",
    ),
    path(
        "console/gateway/routes/",
        msp_gateway_views.route_create,
        name="console_msp_gateway_route_create",
    ),
    path(
        "console/gateway/routes/<uuid:pk>/delete/",
        msp_gateway_views.route_delete,
        name="console_msp_gateway_route_delete",
    ),
    path(
        "console/gateway/prices/",
        msp_gateway_views.price_create,
        name="console_msp_gateway_price_create",
    ),
    path("console/tenants/<slug:slug>/", console.tenant_detail, name="console_tenant"),
    path(
        "console/tenants/<slug:slug>/settings/",
        console.tenant_settings,
        name="console_tenant_settings",
    ),
    path("console/tenants/<slug:slug>/people/invite/", console.invite, name="console_invite"),
    path(
        "console/tenants/<slug:slug>/people/<uuid:pk>/role/",
        console.member_role,
        name="console_member_role",
    ),
    path(
        "console/tenants/<slug:slug>/people/<uuid:pk>/remove/",
        console.member_remove,
        name="console_member_remove",
    ),
    path(
        "console/tenants/<slug:slug>/people/<uuid:pk>/mfa-reset/",
        console.member_mfa_reset,
        name="console_member_mfa_reset",
    ),
    path(
        "console/tenants/<slug:slug>/invitations/<uuid:pk>/revoke/",
        console.invitation_revoke,
        name="console_invitation_revoke",
    ),
    path(
        "console/tenants/<slug:slug>/departments/new/",
        console.department_create,
        name="console_department_create",
    ),
    path(
        "console/tenants/<slug:slug>/departments/<uuid:pk>/",
        console.department_update,
        name="console_department_update",
    ),
    path(
        "console/tenants/<slug:slug>/departments/<uuid:pk>/delete/",
        console.department_delete,
        name="console_department_delete",
    ),
    # Customer portal
    path("t/<slug:slug>/", portal.home, name="portal_home"),
    path("t/<slug:slug>/people/", portal.people, name="portal_people"),
    path("t/<slug:slug>/people/invite/", portal.invite, name="portal_invite"),
    path("t/<slug:slug>/people/<uuid:pk>/role/", portal.member_role, name="portal_member_role"),
    path(
        "t/<slug:slug>/people/<uuid:pk>/remove/",
        portal.member_remove,
        name="portal_member_remove",
    ),
    path(
        "t/<slug:slug>/people/<uuid:pk>/mfa-reset/",
        portal.member_mfa_reset,
        name="portal_member_mfa_reset",
    ),
    path(
        "t/<slug:slug>/invitations/<uuid:pk>/revoke/",
        portal.invitation_revoke,
        name="portal_invitation_revoke",
    ),
    path("t/<slug:slug>/departments/", portal.departments, name="portal_departments"),
    path(
        "t/<slug:slug>/departments/new/",
        portal.department_create,
        name="portal_department_create",
    ),
    path(
        "t/<slug:slug>/departments/<uuid:pk>/",
        portal.department_update,
        name="portal_department_update",
    ),
    path(
        "t/<slug:slug>/departments/<uuid:pk>/delete/",
        portal.department_delete,
        name="portal_department_delete",
    ),
    path("t/<slug:slug>/audit/", portal.audit, name="portal_audit"),
    path("t/<slug:slug>/invoices/", billing_views.portal_invoices, name="portal_invoices"),
    path(
        "t/<slug:slug>/invoices/<uuid:invoice_id>.<str:kind>",
        billing_views.portal_invoice_document,
        name="portal_invoice_document",
    ),
    path("t/<slug:slug>/settings/", portal.settings, name="portal_settings"),
    *TENANT_PAGES,
    *COMPLIANCE_PAGES,
    *AUDITOR_PAGES,
]

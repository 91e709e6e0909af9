from django.urls import path

from controlplane.web import console, portal, views

app_name = "web"

urlpatterns = [
    path("", views.home, name="home"),
    # MSP staff console
    path("console/", console.tenants, name="console_tenants"),
    path("console/staff/", console.staff, name="console_staff"),
    path("console/audit/", console.audit, name="console_audit"),
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
    path("t/<slug:slug>/settings/", portal.settings, name="portal_settings"),
]

"""The customer portal: each page with an owner, an admin, a member and an outsider."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.urls import reverse

from controlplane.core.tenancy import all_tenants_context, tenant_context
from tenants.models import Department, Invitation, Membership
from tenants.services import tenant_update
from tests.conftest import SYSTEM, enroll_totp, signed_in
from tests.web.conftest import Fleet, World

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


def url(name: str, world: World, *args: object) -> str:
    return reverse(f"web:portal_{name}", args=[world.a.slug, *args])


def departments_of(membership: Membership) -> list[Department]:
    with tenant_context(membership.tenant_id):
        return list(membership.departments.all())


def role_data(membership: Membership, role: str) -> dict[str, str]:
    return {f"m{membership.pk.hex}-role": role}


# --- home ------------------------------------------------------------------------------


def test_home_shows_tenant_role_departments_and_empty_state(world: World) -> None:
    response = signed_in(world.a_member).get(url("home", world))
    body = response.content.decode()
    assert response.status_code == 200
    assert "Acme Corp" in body
    assert "Member" in body
    assert "Finance" in body
    assert "Agents and traces appear here once an edge node reports" in body
    assert response.context["counts"].members == 3
    assert response.context["counts"].departments == 1
    assert "Globex" not in body


def test_home_leads_to_the_agents_pages_once_there_are_agents(world: World, fleet_a: Fleet) -> None:
    body = signed_in(world.a_member).get(url("home", world)).content.decode()
    assert "appear here once an edge node reports" not in body
    assert ">1 agent</a> behind" in body and ">1 edge node</a>" in body
    for page in ("dashboards", "traces", "dataflow"):
        assert reverse(f"web:portal_{page}", args=[world.a.slug]) in body


def test_portal_navigation_marks_the_current_page(world: World) -> None:
    response = signed_in(world.a_member).get(url("people", world))
    items = response.context["nav_items"]
    assert [i["label"] for i in items] == [
        "Overview",
        "Dashboards",
        "Agents",
        "Traces",
        "Data flow",
        "Sites & edge nodes",
        "Gateway",
        "People",
        "Departments",
        "Audit log",
        "Compliance",
        "Settings",
    ]
    assert [i["label"] for i in items if i["current"]] == ["People"]
    assert f'href="{url("people", world)}" aria-current="page"'.encode() in response.content


# --- people ----------------------------------------------------------------------------


def test_people_page_shows_forms_to_admins_only(world: World) -> None:
    admin_view = signed_in(world.a_admin).get(url("people", world)).content.decode()
    member_view = signed_in(world.a_member).get(url("people", world)).content.decode()
    for body in (admin_view, member_view):
        assert world.a_owner.email in body and world.a_member.email in body
        assert world.b_owner.email not in body
    assert "Send invitation" in admin_view and ">Save</button>" in admin_view
    assert "Send invitation" not in member_view and ">Save</button>" not in member_view
    assert "<select" not in member_view


def test_member_cannot_change_roles(world: World) -> None:
    target = world.membership(world.a_admin)
    response = signed_in(world.a_member).post(
        url("member_role", world, target.pk), role_data(target, "viewer")
    )
    assert response.status_code == 403
    assert world.membership(world.a_admin).role == "admin"


def test_admin_changes_a_role(world: World) -> None:
    target = world.membership(world.a_member)
    response = signed_in(world.a_admin).post(
        url("member_role", world, target.pk), role_data(target, "viewer"), follow=True
    )
    assert response.status_code == 200
    assert b"is now viewer" in response.content
    assert world.membership(world.a_member).role == "viewer"


def test_role_change_over_htmx_swaps_the_row(world: World) -> None:
    target = world.membership(world.a_member)
    response = signed_in(world.a_admin).post(
        url("member_role", world, target.pk), role_data(target, "billing"), **HTMX
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith(f'<tr id="member-{target.pk}">')
    assert "<html" not in body
    assert 'id="messages"' in body and 'hx-swap-oob="true"' in body
    assert "is now billing" in body
    assert world.membership(world.a_member).role == "billing"


def test_admin_limits_a_member_to_departments(world: World) -> None:
    target = world.membership(world.a_member)
    prefix = f"m{target.pk.hex}"
    client = signed_in(world.a_admin)
    response = client.post(
        url("member_role", world, target.pk),
        {f"{prefix}-role": "member", f"{prefix}-departments": [str(world.a_department.pk)]},
        **HTMX,
    )
    body = response.content.decode()
    assert f"sees {world.a_department.name} only" in body
    assert (
        f'data-departments="{world.a_member.email}">Limited to {world.a_department.name}<' in body
    )
    assert departments_of(world.membership(world.a_member)) == [world.a_department]

    # Another tenant's department is not a choice; nothing changes.
    refused = client.post(
        url("member_role", world, target.pk),
        {f"{prefix}-role": "member", f"{prefix}-departments": [str(world.b_department.pk)]},
        **HTMX,
    )
    assert b"Select a valid choice" in refused.content
    assert departments_of(world.membership(world.a_member)) == [world.a_department]

    # None chosen: every department again.
    client.post(url("member_role", world, target.pk), {f"{prefix}-role": "member"})
    assert departments_of(world.membership(world.a_member)) == []


def test_admin_cannot_touch_owners_or_make_owners(world: World) -> None:
    client = signed_in(world.a_admin)
    owner = world.membership(world.a_owner)
    member = world.membership(world.a_member)
    assert (
        client.post(url("member_role", world, owner.pk), role_data(owner, "member")).status_code
        == 403
    )
    assert client.post(url("member_remove", world, owner.pk)).status_code == 403

    promote = client.post(url("member_role", world, member.pk), role_data(member, "owner"), **HTMX)
    assert b"Select a valid choice" in promote.content
    assert world.membership(world.a_member).role == "member"

    invite = client.post(url("invite", world), {"email": "x@acme.example", "role": "owner"})
    assert invite.status_code == 200
    assert b"Select a valid choice" in invite.content


def test_removing_the_last_owner_is_refused_with_a_visible_error(world: World) -> None:
    owner = world.membership(world.a_owner)
    client = signed_in(world.a_owner)

    response = client.post(url("member_remove", world, owner.pk), follow=True)
    assert response.status_code == 200
    assert b"A tenant must keep at least one owner." in response.content
    assert world.membership(world.a_owner).role == "owner"

    demote = client.post(url("member_role", world, owner.pk), role_data(owner, "admin"), **HTMX)
    assert demote.status_code == 200
    assert b"A tenant must keep at least one owner." in demote.content
    assert b'role="alert"' in demote.content
    assert world.membership(world.a_owner).role == "owner"


def test_owner_removes_a_member(world: World) -> None:
    member = world.membership(world.a_member)
    response = signed_in(world.a_owner).post(url("member_remove", world, member.pk), **HTMX)
    assert response.status_code == 200
    assert b"<tr" not in response.content
    assert b"can no longer sign in" in response.content
    with all_tenants_context():
        assert not Membership.unscoped.filter(pk=member.pk).exists()
    world.a_member.refresh_from_db()
    assert not world.a_member.is_active


def test_invitation_shows_the_link_once_and_sends_an_email(
    world: World, mailoutbox: list, django_capture_on_commit_callbacks: Callable
) -> None:
    client = signed_in(world.a_admin)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            url("invite", world),
            {"email": "New.Person@Acme.example", "role": "member"},
            follow=True,
        )
    body = response.content.decode()
    assert "Invitation sent to new.person@acme.example" in body
    assert len(mailoutbox) == 1
    mail = mailoutbox[0]
    assert mail.to == ["new.person@acme.example"]
    link = next(word for word in mail.body.split() if "/invitations/" in word)
    assert link in body
    assert link not in client.get(url("people", world)).content.decode()
    with all_tenants_context():
        invitation = Invitation.unscoped.get(email="new.person@acme.example")
    assert invitation.tenant_id == world.a.pk
    assert "new.person@acme.example" in client.get(url("people", world)).content.decode()


def test_inviting_an_existing_account_is_shown_on_the_form(world: World) -> None:
    response = signed_in(world.a_admin).post(
        url("invite", world), {"email": world.b_member.email, "role": "member"}
    )
    assert response.status_code == 200
    assert b"This email already has an account." in response.content
    assert b'aria-invalid="true"' in response.content


def test_admin_revokes_an_invitation(world: World) -> None:
    client = signed_in(world.a_admin)
    client.post(url("invite", world), {"email": "later@acme.example", "role": "viewer"})
    with all_tenants_context():
        invitation = Invitation.unscoped.get(email="later@acme.example")
    response = client.post(url("invitation_revoke", world, invitation.pk), **HTMX)
    assert response.status_code == 200
    with all_tenants_context():
        invitation.refresh_from_db()
    assert invitation.revoked_at is not None
    assert "later@acme.example" not in client.get(url("people", world)).content.decode()


# --- departments -----------------------------------------------------------------------


def test_admin_manages_departments(world: World) -> None:
    client = signed_in(world.a_admin)
    response = client.post(url("department_create", world), {"name": "Legal", "code": "L-7"})
    assert response.status_code == 302

    duplicate = client.post(url("department_create", world), {"name": "Legal"})
    assert duplicate.status_code == 200
    assert b"already exists" in duplicate.content

    finance = world.a_department
    prefix = f"d{finance.pk.hex}"
    renamed = client.post(
        url("department_update", world, finance.pk),
        {f"{prefix}-name": "Finance & Control", f"{prefix}-code": "FC"},
        **HTMX,
    )
    assert renamed.content.decode().lstrip().startswith(f'<tr id="department-{finance.pk}">')
    clash = client.post(
        url("department_update", world, finance.pk),
        {f"{prefix}-name": "Legal", f"{prefix}-code": ""},
        **HTMX,
    )
    assert b"already exists" in clash.content

    assert client.post(url("department_delete", world, finance.pk)).status_code == 302
    with all_tenants_context():
        names = list(Department.unscoped.filter(tenant=world.a).values_list("name", flat=True))
    assert names == ["Legal"]


def test_member_sees_departments_read_only(world: World) -> None:
    client = signed_in(world.a_member)
    body = client.get(url("departments", world)).content.decode()
    assert "Finance" in body and "Add department" not in body and "Globex R&amp;D" not in body
    assert client.post(url("department_create", world), {"name": "X"}).status_code == 403


# --- audit -----------------------------------------------------------------------------


def test_portal_audit_log_never_shows_another_tenants_entries(world: World) -> None:
    tenant_update(actor=SYSTEM, tenant=world.b, name="Globex Secret Rename")
    client = signed_in(world.a_member)
    response = client.get(url("audit", world))
    entries = response.context["page"].entries
    assert entries
    assert {e.event.tenant_id for e in entries} == {world.a.pk}
    body = response.content.decode()
    assert "Globex" not in body and "newcomer@globex.example" not in body

    unfiltered = client.get(url("audit", world), {"tenant": world.b.slug, "action": "tenant"})
    assert {e.event.tenant_id for e in unfiltered.context["page"].entries} <= {world.a.pk}


def test_portal_audit_filters_and_diff(world: World) -> None:
    client = signed_in(world.a_owner)
    member = world.membership(world.a_member)
    client.post(url("member_role", world, member.pk), role_data(member, "viewer"))
    response = client.get(url("audit", world), {"action": "membership.role"})
    body = response.content.decode()
    assert [e.event.action for e in response.context["page"].entries] == ["membership.role_changed"]
    assert '<th scope="row">role</th>' in body
    assert '<td class="diff-before"><code>member</code></td>' in body
    assert '<td class="diff-after"><code>viewer</code></td>' in body


# --- settings --------------------------------------------------------------------------


def test_only_the_owner_can_require_two_factor(world: World) -> None:
    admin = signed_in(world.a_admin)
    admin_page = admin.get(url("settings", world))
    assert (
        admin_page.status_code == 200
        and b'<form method="post" action="/t/' not in admin_page.content
    )
    assert b"Only an owner can change this." in admin_page.content
    assert admin.post(url("settings", world), {"mfa_required": "on"}).status_code == 403

    enroll_totp(world.a_owner)  # once required, the MFA middleware wants one
    owner = signed_in(world.a_owner)
    response = owner.post(url("settings", world), {"mfa_required": "on"}, follow=True)
    assert b"now required for everyone" in response.content
    world.a.refresh_from_db()
    assert world.a.mfa_required

    owner.post(url("settings", world), {})
    world.a.refresh_from_db()
    assert not world.a.mfa_required


def test_portal_audit_shows_names_instead_of_ids_and_exports_csv(world: World) -> None:
    client = signed_in(world.a_owner)
    member = world.membership(world.a_member)
    departments = {f"m{member.pk.hex}-departments": [str(world.a_department.pk)]}
    client.post(
        url("member_role", world, member.pk), {**role_data(member, "member"), **departments}
    )
    response = client.get(url("audit", world), {"action": "membership.departments"})
    body = response.content.decode()
    row = response.context["page"].entries[0]
    assert row.object_name == world.a_member.email
    assert f'<td class="diff-after"><span title="{world.a_department.pk}">Finance</span>' in body

    export = client.get(url("audit", world), {"export": "csv"})
    assert export["Content-Type"].startswith("text/csv")
    lines = export.content.decode().splitlines()
    assert lines[0].startswith("seq,occurred_at,tenant,actor_kind,actor")
    seqs = [int(line.split(",")[0]) for line in lines[1:]]
    assert seqs == sorted(seqs) and len(seqs) >= 4
    assert all(",acme," in line for line in lines[1:])
    assert "globex" not in export.content.decode()
    assert world.a_member.email in export.content.decode()

    # a member of another tenant gets the same 404 for the export as for the page
    assert signed_in(world.b_owner).get(url("audit", world), {"export": "csv"}).status_code == 404

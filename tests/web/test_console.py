"""The MSP staff console: tenants, their people and departments, staff, audit log."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable

import pytest
from django.urls import reverse

from controlplane.accounts.models import User
from controlplane.audit.models import AuditEvent
from controlplane.core.tenancy import all_tenants_context
from tenants.models import Department, Tenant
from tenants.services import department_create
from tests.conftest import SYSTEM, signed_in
from tests.web.conftest import World

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "tenant-results"}


@pytest.fixture
def operator(make_staff: Callable[..., User]) -> User:
    return make_staff("operator")


def test_operator_creates_a_tenant_that_appears_in_list_and_audit_log(
    world: World, operator: User
) -> None:
    client = signed_in(operator)
    response = client.post(
        reverse("web:console_tenants"),
        {"name": "Initech", "slug": "initech", "mfa_required": "on"},
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("web:console_tenant", args=["initech"])
    assert Tenant.objects.get(slug="initech").mfa_required

    listing = client.get(reverse("web:console_tenants"))
    assert b"Initech" in listing.content

    log = client.get(reverse("web:console_audit"), {"action": "tenant.created"})
    assert b"Initech" in log.content
    with all_tenants_context():
        event = AuditEvent.unscoped.filter(action="tenant.created").order_by("-seq").first()
    assert event.actor_label == operator.email


def test_duplicate_slug_is_shown_on_the_form(world: World, operator: User) -> None:
    response = signed_in(operator).post(
        reverse("web:console_tenants"), {"name": "Another Acme", "slug": world.a.slug}
    )
    assert response.status_code == 200
    assert b"already exists" in response.content
    assert Tenant.objects.filter(slug=world.a.slug).count() == 1


def test_tenant_list_shows_status_and_member_counts(world: World, operator: User) -> None:
    response = signed_in(operator).get(reverse("web:console_tenants"))
    tenants = {t.slug: t for t in response.context["tenants"]}
    assert tenants["acme"].member_count == 3
    assert tenants["globex"].member_count == 2
    assert b"Active" in response.content


def test_search_filters_the_list(world: World, operator: User) -> None:
    client = signed_in(operator)
    response = client.get(reverse("web:console_tenants"), {"q": "glob"})
    assert b"Globex" in response.content
    assert b"Acme Corp" not in response.content
    assert b"<html" in response.content

    by_slug = client.get(reverse("web:console_tenants"), {"q": "ACME"})
    assert [t.slug for t in by_slug.context["tenants"]] == ["acme"]


def test_htmx_search_returns_only_the_results_partial(world: World, operator: User) -> None:
    response = signed_in(operator).get(reverse("web:console_tenants"), {"q": "acme"}, **HTMX)
    assert response.status_code == 200
    body = response.content.decode()
    assert "<html" not in body
    assert "<table" in body
    assert "Acme Corp" in body
    assert "Globex" not in body
    assert "HX-Request" in response["Vary"]


def test_htmx_history_restore_gets_the_whole_page(world: World, operator: User) -> None:
    response = signed_in(operator).get(
        reverse("web:console_tenants"),
        {"q": "acme"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_HISTORY_RESTORE_REQUEST="true",
    )
    assert b"<html" in response.content


def test_tenant_detail_shows_settings_people_departments_and_activity(
    world: World, operator: User
) -> None:
    response = signed_in(operator).get(reverse("web:console_tenant", args=[world.b.slug]))
    body = response.content.decode()
    assert "Globex R&amp;D" in body
    assert world.b_owner.email in body
    assert "newcomer@globex.example" in body
    assert "department.created" in body
    assert world.a_owner.email not in body
    assert "Finance" not in body


def test_settings_update_is_audited_with_a_diff(world: World, operator: User) -> None:
    client = signed_in(operator)
    response = client.post(
        reverse("web:console_tenant_settings", args=[world.b.slug]),
        {"name": "Globex Corporation", "status": "active", "retention_days": "90"},
    )
    assert response.status_code == 302
    world.b.refresh_from_db()
    assert (world.b.name, world.b.retention_days) == ("Globex Corporation", 90)

    log = client.get(reverse("web:console_audit"), {"tenant": world.b.slug, "action": "tenant.up"})
    body = log.content.decode()
    assert "tenant.updated" in body
    assert "2 fields" in body
    assert "retention_days" in body
    assert '<td class="diff-before"><code>395</code></td>' in body
    assert '<td class="diff-after"><code>90</code></td>' in body


def test_invalid_settings_are_shown_on_the_form(world: World, operator: User) -> None:
    response = signed_in(operator).post(
        reverse("web:console_tenant_settings", args=[world.b.slug]),
        {"name": "", "status": "active", "retention_days": "0"},
    )
    assert response.status_code == 200
    assert b"This field is required." in response.content
    world.b.refresh_from_db()
    assert world.b.name == "Globex"


def test_staff_manage_departments_of_a_tenant(world: World, operator: User) -> None:
    client = signed_in(operator)
    create = reverse("web:console_department_create", args=[world.b.slug])
    assert client.post(create, {"name": "Sales", "code": "S1"}).status_code == 302

    duplicate = client.post(create, {"name": "Sales"})
    assert duplicate.status_code == 200
    assert b"already exists" in duplicate.content

    with all_tenants_context():
        sales = Department.unscoped.get(tenant=world.b, name="Sales")
    prefix = f"d{sales.pk.hex}"
    client.post(
        reverse("web:console_department_update", args=[world.b.slug, sales.pk]),
        {f"{prefix}-name": "Sales EMEA", f"{prefix}-code": "S2"},
    )
    client.post(
        reverse("web:console_department_delete", args=[world.b.slug, world.b_department.pk])
    )
    with all_tenants_context():
        names = list(Department.unscoped.filter(tenant=world.b).values_list("name", flat=True))
    assert names == ["Sales EMEA"]


def test_staff_invite_and_revoke(
    world: World, operator: User, mailoutbox, django_capture_on_commit_callbacks
) -> None:
    client = signed_in(operator)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("web:console_invite", args=[world.a.slug]),
            {"email": "first.owner@acme.example", "role": "owner"},
            follow=True,
        )
    assert b"/invitations/" in response.content
    assert mailoutbox[0].to == ["first.owner@acme.example"]
    invitation = response.context["invitations"][0]

    revoke = client.post(
        reverse("web:console_invitation_revoke", args=[world.a.slug, invitation.pk]), follow=True
    )
    assert b"was revoked" in revoke.content
    assert revoke.context["invitations"] == []


def test_staff_list(world: World, make_staff: Callable[..., User]) -> None:
    admin = make_staff("admin")
    auditor = make_staff("auditor", with_mfa=False)
    response = signed_in(admin).get(reverse("web:console_staff"))
    body = response.content.decode()
    assert admin.email in body and auditor.email in body
    assert "Not enrolled" in body
    assert world.a_owner.email not in body


def test_audit_log_filters_and_keyset_pages(world: World, operator: User) -> None:
    client = signed_in(operator)
    url = reverse("web:console_audit")
    first = client.get(url)
    entries = first.context["page"].entries
    seqs = [e.event.seq for e in entries]
    assert seqs == sorted(seqs, reverse=True)
    assert len({e.event.tenant_id for e in entries}) >= 2  # both tenants (and MSP-level) show

    by_tenant = client.get(url, {"tenant": world.b.slug})
    assert {e.event.tenant_id for e in by_tenant.context["page"].entries} == {world.b.pk}

    msp_only = client.get(url, {"tenant": "-"})
    assert msp_only.context["page"].entries
    assert all(e.event.tenant_id is None for e in msp_only.context["page"].entries)

    by_actor = client.get(url, {"actor": world.b_owner.email})
    assert [e.event.action for e in by_actor.context["page"].entries] == ["invitation.created"]

    older = client.get(url, {"before": seqs[2]})
    assert older.context["page"].entries[0].event.seq == seqs[3]

    future = client.get(url, {"since": "2999-01-01"})
    assert future.context["page"].entries == []
    assert b"No entries match these filters" in future.content


def test_audit_log_pagination_links(world: World, operator: User) -> None:
    from controlplane.web.audit_log import PAGE_SIZE

    for number in range(PAGE_SIZE):
        department_create(actor=SYSTEM, tenant=world.a, name=f"Team {number}")
    client = signed_in(operator)
    page = client.get(reverse("web:console_audit"), {"action": "department"})
    entries = page.context["page"].entries
    assert len(entries) == PAGE_SIZE
    assert f"before={entries[-1].event.seq}".encode() in page.content
    assert b"action=department" in page.content
    assert b"Older entries" in page.content


def test_staff_export_the_filtered_audit_log_with_its_hashes(
    world: World, make_staff: Callable[..., User]
) -> None:
    client = signed_in(make_staff("auditor"))
    export = client.get(reverse("web:console_audit"), {"tenant": world.b.slug, "export": "csv"})
    assert export.status_code == 200
    rows = list(csv.DictReader(io.StringIO(export.content.decode())))
    assert rows and {row["tenant"] for row in rows} == {world.b.slug}
    assert all(len(row["hash"]) == 64 and len(row["prev_hash"]) == 64 for row in rows)
    invitation = next(row for row in rows if row["action"] == "invitation.created")
    assert invitation["target_name"] == "newcomer@globex.example"

"""Self-service flows: API tokens page, an administrator resetting a second factor,
re-invitations, and the static files every page loads."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from django.test import Client
from django.urls import reverse

from controlplane.accounts.models import RecoveryCode, TOTPDevice, User
from controlplane.api.models import ApiToken
from controlplane.api.tokens import api_token_authenticate
from controlplane.audit.models import AuditEvent
from controlplane.core.tenancy import all_tenants_context, tenant_context
from tests.conftest import enroll_totp, signed_in
from tests.web.conftest import World

pytestmark = pytest.mark.django_db
API_TOKEN = re.compile(r"acp_[0-9a-f]{12}_[A-Za-z0-9_-]{20,}")
TOKENS = reverse("accounts:tokens")


def create_token(client: Client, **data: str) -> str:
    """POST the form, follow the redirect, return the token the page showed once."""
    form = {"name": "deploy script", "read_only": "false", "expires_in_days": "30", **data}
    created = client.post(TOKENS, form)
    assert created.status_code == 302 and created["Location"].startswith(TOKENS + "?shown=")
    page = client.get(created["Location"])
    assert "no-store" in page["Cache-Control"] or "max-age=0" in page["Cache-Control"]
    found = API_TOKEN.search(page.content.decode())
    assert found is not None
    return found.group()


# --- API tokens page -------------------------------------------------------------------


def test_a_customer_creates_a_token_that_works_and_is_limited_to_their_tenant(
    world: World,
) -> None:
    client = signed_in(world.a_member)
    plaintext = create_token(client, read_only="true", expires_in_days="7")
    token = api_token_authenticate(plaintext)
    assert token is not None and token.user == world.a_member
    assert token.read_only and token.tenant_id == world.a.pk
    assert token.expires_at is not None
    listing = client.get(TOKENS).content.decode()
    assert "deploy script" in listing and f"acp_{token.prefix}_…" in listing
    assert plaintext not in listing
    assert "Read only" in listing


def test_reloading_the_page_after_creating_a_token_shows_it_no_more(world: World) -> None:
    client = signed_in(world.a_owner)
    created = client.post(TOKENS, {"name": "ci", "read_only": "false", "expires_in_days": "90"})
    shown_at = created["Location"]
    assert API_TOKEN.search(client.get(shown_at).content.decode())
    again = client.get(shown_at).content.decode()
    assert not API_TOKEN.search(again)
    assert "shown once and is not shown again" in again
    assert ApiToken.objects.filter(user=world.a_owner).count() == 1


def test_bad_token_form_input_is_named_next_to_the_field(world: World) -> None:
    response = signed_in(world.a_member).post(
        TOKENS, {"name": "", "read_only": "false", "expires_in_days": "9999"}
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert 'id="id_name_error"' in body and 'id="id_expires_in_days_error"' in body
    assert not ApiToken.objects.exists()


def test_revoking_a_token_stops_it_and_only_its_owner_can(world: World) -> None:
    owner = signed_in(world.a_owner)
    plaintext = create_token(owner)
    token = api_token_authenticate(plaintext)
    assert token is not None
    revoke = reverse("accounts:token_revoke", args=[token.pk])
    # someone else, of the same tenant or another, gets the same 404 as for no token
    assert signed_in(world.a_admin).post(revoke).status_code == 404
    assert signed_in(world.b_owner).post(revoke).status_code == 404
    assert api_token_authenticate(plaintext) is not None
    response = owner.post(revoke, follow=True)
    assert "was revoked" in response.content.decode()
    assert api_token_authenticate(plaintext) is None
    assert owner.get(revoke).status_code == 405


def test_staff_manage_their_tokens_too(make_staff: Callable[..., User]) -> None:
    staff = make_staff("operator")
    client = signed_in(staff)
    plaintext = create_token(client)
    token = api_token_authenticate(plaintext)
    assert token is not None and token.tenant_id is None


def test_every_page_links_the_api_docs_and_the_tokens_page(world: World) -> None:
    body = signed_in(world.a_member).get(reverse("web:portal_home", args=["acme"])).content
    assert reverse("api-docs").encode() in body and TOKENS.encode() in body
    gateway = signed_in(world.a_owner).get(reverse("web:portal_gateway", args=["acme"]))
    assert b"docs/api.md" not in gateway.content


# --- second-factor reset by an administrator -------------------------------------------


def reset_url(area: str, world: World, user: User) -> str:
    membership = world.membership(user)
    if area == "portal":
        return reverse("web:portal_member_mfa_reset", args=[world.a.slug, membership.pk])
    return reverse("web:console_member_mfa_reset", args=[world.a.slug, membership.pk])


def test_an_admin_resets_a_members_lost_second_factor(
    world: World, mailoutbox: list, django_capture_on_commit_callbacks: Callable
) -> None:
    enroll_totp(world.a_member)
    RecoveryCode.objects.create(user=world.a_member, code_hash="x" * 64)
    client = signed_in(world.a_admin)
    people = client.get(reverse("web:portal_people", args=["acme"])).content.decode()
    assert reset_url("portal", world, world.a_member) in people
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reset_url("portal", world, world.a_member), follow=True)
    assert "second factor was reset" in response.content.decode()
    assert not TOTPDevice.objects.filter(user=world.a_member).exists()
    assert not RecoveryCode.objects.filter(user=world.a_member).exists()
    assert [m.to for m in mailoutbox] == [[world.a_member.email]]
    assert world.a_admin.email in mailoutbox[0].body
    with tenant_context(world.a):
        event = AuditEvent.objects.filter(action="mfa.reset").get()
    assert event.actor_label == world.a_admin.email


def test_who_may_reset_a_second_factor(world: World, make_staff: Callable[..., User]) -> None:
    enroll_totp(world.a_owner)
    enroll_totp(world.a_member)
    # a member may not; an admin may not reset an owner's; an outsider sees a 404
    assert (
        signed_in(world.a_member).post(reset_url("portal", world, world.a_owner)).status_code == 403
    )
    assert (
        signed_in(world.a_admin).post(reset_url("portal", world, world.a_owner)).status_code == 403
    )
    assert (
        signed_in(world.b_owner).post(reset_url("portal", world, world.a_member)).status_code == 404
    )
    assert (
        signed_in(make_staff("auditor"))
        .post(reset_url("console", world, world.a_member))
        .status_code
        == 403
    )
    assert TOTPDevice.objects.filter(user__in=[world.a_owner, world.a_member]).count() == 2
    # MSP staff may, from the console
    signed_in(make_staff("operator")).post(reset_url("console", world, world.a_owner))
    assert not TOTPDevice.objects.filter(user=world.a_owner).exists()


# --- invitations -------------------------------------------------------------------------


def test_reinviting_says_that_the_earlier_link_stopped_working(world: World) -> None:
    client = signed_in(world.a_admin)
    data = {"email": "twice@acme.example", "role": "member"}
    first = client.post(reverse("web:portal_invite", args=["acme"]), data, follow=True)
    assert "replaces the earlier invitation" not in first.content.decode()
    second = client.post(reverse("web:portal_invite", args=["acme"]), data, follow=True)
    assert "It replaces the earlier invitation: that link no longer works." in (
        second.content.decode()
    )
    with all_tenants_context():
        from tenants.models import Invitation

        open_ones = Invitation.unscoped.filter(email="twice@acme.example", revoked_at=None)
        assert open_ones.count() == 1


# --- static files --------------------------------------------------------------------------


def test_favicon_is_served(client: Client) -> None:
    response = client.get("/favicon.ico", follow=True)
    assert response.status_code == 200
    assert response.redirect_chain[0][0] == "/static/favicon.svg"

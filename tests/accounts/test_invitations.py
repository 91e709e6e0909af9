"""Accepting an invitation: a new account in the inviting tenant, once."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from controlplane.accounts.models import User
from controlplane.audit.services import Actor
from controlplane.core.tenancy import all_tenants_context
from tenants.models import Invitation, Membership
from tenants.services import invitation_create, invitation_revoke, tenant_update
from tests.accounts.conftest import audit_actions, is_signed_in
from tests.conftest import SYSTEM

pytestmark = pytest.mark.django_db

PASSWORD = "a fine long passphrase 31"
FORM = {"full_name": "Ada Lovelace", "password1": PASSWORD, "password2": PASSWORD}


@pytest.fixture
def inviter(make_customer, tenant_a) -> Actor:
    return Actor.for_user(make_customer(tenant_a, role="owner"))


def _invite(inviter: Actor, tenant, email="ada@acme.example", role="admin") -> str:
    _, link = invitation_create(actor=inviter, tenant=tenant, email=email, role=role)
    return link.split("/invitations/")[1].rstrip("/")


def test_page_shows_tenant_and_role(inviter, tenant_a):
    token = _invite(inviter, tenant_a)

    response = Client().get(f"/invitations/{token}/")

    html = response.content.decode()
    assert response.status_code == 200
    assert "Acme Corp" in html and "Admin" in html and "ada@acme.example" in html
    assert 'autocomplete="new-password"' in html


def test_accepting_creates_the_account_in_that_tenant_and_signs_in(inviter, tenant_a, tenant_b):
    token = _invite(inviter, tenant_a)
    client = Client()

    response = client.post(f"/invitations/{token}/", FORM)

    assert response.status_code == 302
    user = User.objects.get(email="ada@acme.example")
    assert user.full_name == "Ada Lovelace" and user.check_password(PASSWORD)
    with all_tenants_context():
        membership = Membership.unscoped.get(user=user)
    assert (membership.tenant_id, membership.role) == (tenant_a.pk, "admin")
    assert client.session["_auth_user_id"] == str(user.pk)
    assert client.get("/account/").status_code == 200
    assert audit_actions(user)[-1] == "auth.login"


def test_an_invitation_works_once(inviter, tenant_a):
    token = _invite(inviter, tenant_a)
    Client().post(f"/invitations/{token}/", FORM)

    again = Client().get(f"/invitations/{token}/")
    post_again = Client().post(f"/invitations/{token}/", {**FORM, "full_name": "Mallory"})

    assert again.status_code == post_again.status_code == 404
    assert "This invitation is not valid" in again.content.decode()
    assert User.objects.get(email="ada@acme.example").full_name == "Ada Lovelace"


def test_expired_revoked_and_unknown_invitations_are_refused(inviter, tenant_a):
    expired = _invite(inviter, tenant_a, email="old@acme.example")
    revoked = _invite(inviter, tenant_a, email="gone@acme.example")
    with all_tenants_context():
        Invitation.unscoped.filter(email="old@acme.example").update(
            expires_at=timezone.now() - dt.timedelta(minutes=1)
        )
        invitation_revoke(
            actor=SYSTEM, invitation=Invitation.unscoped.get(email="gone@acme.example")
        )

    for token in (expired, revoked, "made-up-token"):
        response = Client().post(f"/invitations/{token}/", FORM)
        assert response.status_code == 404, token
    assert not User.objects.filter(email__in=["old@acme.example", "gone@acme.example"]).exists()


def test_passwords_are_validated(inviter, tenant_a):
    token = _invite(inviter, tenant_a)
    client = Client()

    mismatch = client.post(f"/invitations/{token}/", {**FORM, "password2": "something else 99"})
    similar = "ada@acme.example"
    weak = client.post(
        f"/invitations/{token}/", {**FORM, "password1": similar, "password2": similar}
    )

    assert "do not match" in mismatch.content.decode()
    assert "too similar" in weak.content.decode()
    assert 'aria-invalid="true"' in weak.content.decode()
    assert not User.objects.filter(email="ada@acme.example").exists()
    assert not is_signed_in(client)


def test_tenant_requiring_mfa_sends_the_new_member_to_setup(inviter, tenant_a):
    tenant_update(actor=SYSTEM, tenant=tenant_a, mfa_required=True)
    token = _invite(inviter, tenant_a)
    client = Client()

    client.post(f"/invitations/{token}/", FORM)

    assert client.get("/account/")["Location"].startswith("/account/mfa/setup/")

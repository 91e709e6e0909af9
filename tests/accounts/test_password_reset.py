"""Forgotten passwords: the emailed link, and no hint whether an account exists."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client

from tests.accounts.conftest import audit_actions, is_signed_in, sign_in

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a brand new passphrase 2024"


def _link_in(message: mail.EmailMessage) -> str:
    match = re.search(r"https?://[^/\s]+(/password-reset/[^\s]+/)", message.body)
    assert match, message.body
    return match.group(1)


def test_reset_link_sets_a_new_password(tenant_a, make_customer, settings):
    settings.PUBLIC_URL = "https://cp.msp.example"
    user = make_customer(tenant_a)
    client = Client()

    response = client.post("/password-reset/", {"email": user.email.upper()})

    assert response["Location"] == "/password-reset/sent/"
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [user.email]
    assert "https://cp.msp.example/password-reset/" in mail.outbox[0].body
    form = client.get(_link_in(mail.outbox[0]), follow=True)
    assert form.status_code == 200 and form.context["validlink"]
    done = client.post(
        form.redirect_chain[-1][0],
        {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert done["Location"] == "/password-reset/complete/"
    assert not is_signed_in(client)  # the reset does not sign in: the second factor still applies

    assert sign_in(Client(), user.email).status_code == 200  # the old password is refused
    assert sign_in(Client(), user.email, NEW_PASSWORD)["Location"] == "/"
    assert {"password.reset_requested", "password.reset"} <= set(audit_actions(user))


def test_reset_link_works_only_once(tenant_a, make_customer):
    user = make_customer(tenant_a)
    client = Client()
    client.post("/password-reset/", {"email": user.email})
    link = _link_in(mail.outbox[0])
    form = client.get(link, follow=True)
    client.post(
        form.redirect_chain[-1][0],
        {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )

    again = Client().get(link, follow=True)

    assert not again.context["validlink"]
    assert "This link is not valid" in again.content.decode()


def test_unknown_email_gets_the_same_page_and_no_email(tenant_a, make_customer):
    user = make_customer(tenant_a)

    known = Client().post("/password-reset/", {"email": user.email}, follow=True)
    unknown = Client().post("/password-reset/", {"email": "nobody@acme.example"}, follow=True)

    assert len(mail.outbox) == 1
    assert known.redirect_chain == unknown.redirect_chain == [("/password-reset/sent/", 302)]
    assert known.content == unknown.content


def test_reset_lifts_the_lockout_of_the_account(settings, tenant_a, make_customer):
    settings.LOGIN_MAX_FAILURES = 2
    user = make_customer(tenant_a)
    for _ in range(2):
        sign_in(Client(), user.email, "wrong")
    assert sign_in(Client(), user.email).status_code == 429

    client = Client()
    client.post("/password-reset/", {"email": user.email})
    form = client.get(_link_in(mail.outbox[0]), follow=True)
    client.post(
        form.redirect_chain[-1][0],
        {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )

    assert sign_in(Client(), user.email, NEW_PASSWORD).status_code == 302


def test_weak_new_password_is_refused_with_the_reason(tenant_a, make_customer):
    user = make_customer(tenant_a)
    client = Client()
    client.post("/password-reset/", {"email": user.email})
    form = client.get(_link_in(mail.outbox[0]), follow=True)

    response = client.post(
        form.redirect_chain[-1][0], {"new_password1": "short", "new_password2": "short"}
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert "too short" in html
    assert 'id="id_new_password2_error"' in html

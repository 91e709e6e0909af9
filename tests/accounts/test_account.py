"""The account page: name and password."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.accounts.conftest import audit_actions, sign_in
from tests.conftest import PASSWORD, signed_in

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "another long passphrase 77"


def test_account_page_needs_sign_in(client):
    assert client.get("/account/")["Location"] == "/login/?next=/account/"


def test_change_name(tenant_a, make_customer):
    user = make_customer(tenant_a)
    client = signed_in(user)

    response = client.post("/account/", {"full_name": "  Dana Scully "})

    assert response["Location"] == "/account/"
    user.refresh_from_db()
    assert user.full_name == "Dana Scully"
    assert audit_actions(user)[-1] == "user.updated"


def test_change_password_keeps_this_session_and_ends_the_others(tenant_a, make_customer):
    user = make_customer(tenant_a)
    client = signed_in(user)
    other = signed_in(user)

    response = client.post(
        "/account/password/",
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )

    assert response["Location"] == "/account/"
    assert client.get("/account/").status_code == 200
    assert other.get("/account/")["Location"].startswith("/login/")
    assert sign_in(Client(), user.email, NEW_PASSWORD).status_code == 302
    assert audit_actions(user)[-2] == "password.changed"


def test_change_password_needs_the_current_one(tenant_a, make_customer):
    user = make_customer(tenant_a)
    client = signed_in(user)

    response = client.post(
        "/account/password/",
        {"old_password": "wrong", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="id_old_password_error"' in html
    assert 'aria-describedby="id_old_password_error"' in html
    user.refresh_from_db()
    assert user.check_password(PASSWORD)

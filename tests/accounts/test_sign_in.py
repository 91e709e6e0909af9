"""Signing in with email and password, lockouts, and the audit trail of it all."""

from __future__ import annotations

import json
import re
import time

import pytest
from django.test import Client

from tests.accounts.conftest import audit_actions, audit_events, is_signed_in, sign_in
from tests.conftest import PASSWORD, signed_in

pytestmark = pytest.mark.django_db


def test_sign_in_with_email_in_any_case_then_sign_out(tenant_a, make_customer):
    user = make_customer(tenant_a, email="Dana@Acme.example")
    client = Client()

    response = sign_in(client, "  DANA@acme.EXAMPLE ")

    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.session["_auth_user_id"] == str(user.pk)

    assert client.get("/logout/").status_code == 405  # only POST signs out
    response = client.post("/logout/")
    assert response["Location"] == "/login/"
    assert not is_signed_in(client)


def test_signing_in_rotates_the_session_key(tenant_a, make_customer):
    user = make_customer(tenant_a)
    client = Client()
    client.get("/login/")
    client.session.save()
    before = client.session.session_key

    sign_in(client, user.email)

    assert client.session.session_key != before


def test_wrong_password_is_refused(tenant_a, make_customer):
    user = make_customer(tenant_a)
    client = Client()

    response = sign_in(client, user.email, "not the password")

    assert response.status_code == 200
    assert "do not match an account" in response.content.decode()
    assert not is_signed_in(client)


def test_deactivated_account_cannot_sign_in(tenant_a, make_customer):
    user = make_customer(tenant_a)
    user.is_active = False
    user.save()

    response = sign_in(Client(), user.email)

    assert response.status_code == 200
    assert "do not match an account" in response.content.decode()


def _normalized(html: str, email: str) -> str:
    html = html.replace(email, "EMAIL")
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "CSRF", html)


def test_unknown_email_and_wrong_password_get_the_same_answer(tenant_a, make_customer):
    user = make_customer(tenant_a)
    unknown = "nobody@acme.example"

    wrong = sign_in(Client(), user.email, "not the password")
    missing = sign_in(Client(), unknown, "not the password")

    assert wrong.status_code == missing.status_code == 200
    assert _normalized(wrong.content.decode(), user.email) == _normalized(
        missing.content.decode(), unknown
    )


def test_next_is_followed_only_within_the_site(tenant_a, make_customer):
    user = make_customer(tenant_a)

    inside = sign_in(Client(), user.email, next="/account/?tab=mfa")
    outside = sign_in(Client(), user.email, next="https://evil.example/phish")
    scheme_relative = sign_in(Client(), user.email, next="//evil.example/")

    assert inside["Location"] == "/account/?tab=mfa"
    assert outside["Location"] == "/"
    assert scheme_relative["Location"] == "/"


def test_login_page_keeps_a_safe_next_in_the_form(client):
    page = client.get("/login/?next=/account/").content.decode()
    hostile = client.get("/login/?next=https://evil.example/").content.decode()

    assert 'name="next" value="/account/"' in page
    assert "evil.example" not in hostile


class TestLockout:
    @pytest.fixture(autouse=True)
    def _three_tries(self, settings):
        settings.LOGIN_MAX_FAILURES = 3
        settings.LOGIN_LOCKOUT_SECONDS = 900

    def test_locked_after_n_failures_even_with_the_right_password(self, tenant_a, make_customer):
        user = make_customer(tenant_a)
        client = Client()

        statuses = [sign_in(client, user.email, "wrong").status_code for _ in range(3)]
        right = sign_in(client, user.email)
        from_elsewhere = sign_in(Client(REMOTE_ADDR="10.9.9.9"), user.email)

        assert statuses == [200, 200, 429]
        assert right.status_code == 429
        assert "Too many failed attempts. Try again in 15 minutes." in right.content.decode()
        assert not is_signed_in(client)
        # The account lock holds whatever address the next attempt comes from.
        assert from_elsewhere.status_code == 429

    def test_unknown_emails_lock_the_same_way(self, tenant_a, make_customer):
        make_customer(tenant_a)
        client = Client()

        statuses = [sign_in(client, "ghost@acme.example", "x").status_code for _ in range(4)]

        assert statuses == [200, 200, 429, 429]

    def test_unlocked_once_the_window_has_passed(self, settings, tenant_a, make_customer):
        settings.LOGIN_LOCKOUT_SECONDS = 1
        user = make_customer(tenant_a)
        client = Client()
        for _ in range(3):
            sign_in(client, user.email, "wrong")
        assert sign_in(client, user.email).status_code == 429

        time.sleep(1.2)

        response = sign_in(client, user.email)
        assert response.status_code == 302
        assert is_signed_in(client)

    def test_success_resets_the_account_counter(self, tenant_a, make_customer):
        user = make_customer(tenant_a)
        client = Client()
        for _ in range(2):
            sign_in(client, user.email, "wrong")
        assert sign_in(client, user.email).status_code == 302
        client.post("/logout/")

        statuses = [sign_in(client, user.email, "wrong").status_code for _ in range(2)]

        assert statuses == [200, 200]  # counting starts again from zero

    def test_one_address_trying_many_accounts_is_locked(self, settings, tenant_a, make_customer):
        settings.LOGIN_MAX_FAILURES = 100
        settings.LOGIN_MAX_FAILURES_PER_IP = 3
        user = make_customer(tenant_a)
        attacker = Client(REMOTE_ADDR="203.0.113.7")
        for number in range(3):
            sign_in(attacker, f"guess{number}@acme.example", "wrong")

        assert sign_in(attacker, user.email).status_code == 429
        assert sign_in(Client(REMOTE_ADDR="198.51.100.1"), user.email).status_code == 302


def test_sign_in_events_are_audited_without_secrets(tenant_a, make_customer, make_staff, settings):
    settings.LOGIN_MAX_FAILURES = 2
    customer = make_customer(tenant_a)
    staff = make_staff(with_mfa=False)

    sign_in(Client(), customer.email)
    sign_in(Client(), staff.email)
    sign_in(Client(), customer.email, "wrong-password-1")
    sign_in(Client(), customer.email, "wrong-password-2")

    assert audit_actions(customer)[-4:] == [
        "auth.login",
        "auth.login_failed",
        "auth.login_failed",
        "auth.locked_out",
    ]
    events = audit_events(customer)
    assert {event.tenant_id for event in events[-4:]} == {tenant_a.pk}
    assert events[-1].after == {"scope": "account", "seconds": 900}
    assert events[-4].actor_id == customer.pk and events[-4].ip == "127.0.0.1"
    staff_login = audit_events(staff)[-1]
    assert staff_login.action == "auth.login" and staff_login.tenant_id is None
    dumped = json.dumps([[e.before, e.after] for e in events])
    assert "wrong-password" not in dumped and PASSWORD not in dumped


def test_sign_out_is_audited(tenant_a, make_customer):
    user = make_customer(tenant_a)
    client = signed_in(user)

    client.post("/logout/")

    assert audit_actions(user)[-1] == "auth.logout"

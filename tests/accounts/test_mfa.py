"""Two-factor sign-in: who must use it, the code step, setup, recovery codes."""

from __future__ import annotations

import pyotp
import pytest
from django.test import Client

from controlplane.accounts.models import RecoveryCode, TOTPDevice
from controlplane.core.crypto import key_ring
from tenants.services import tenant_update
from tests.accounts.conftest import audit_actions, audit_events, is_signed_in, sign_in, wrong_code
from tests.conftest import SYSTEM, enroll_totp, signed_in

pytestmark = pytest.mark.django_db

SETUP = "/account/mfa/setup/"


def _set_up_through_the_page(client: Client) -> tuple[pyotp.TOTP, list[str]]:
    page = client.get(SETUP)
    assert page.status_code == 200
    totp = pyotp.TOTP(page.context["setup"].secret)
    done = client.post(SETUP, {"code": totp.now()})
    assert done.status_code == 200, done.content
    return totp, done.context["codes"]


class TestEnforcement:
    def test_staff_without_mfa_are_sent_to_setup_from_every_page(self, make_staff):
        staff = make_staff(with_mfa=False)
        client = signed_in(staff)

        for path in ("/console/", "/console/tenants/acme/", "/", "/account/"):
            response = client.get(path)
            assert response.status_code == 302, path
            assert response["Location"].startswith(SETUP), path
        assert client.get("/console/")["Location"] == f"{SETUP}?next=%2Fconsole%2F"
        assert client.post("/console/tenants/", {"name": "x"})["Location"] == SETUP

    def test_staff_password_sign_in_leads_to_setup_not_the_console(self, make_staff):
        staff = make_staff(with_mfa=False)
        client = Client()

        sign_in(client, staff.email, next="/console/")
        response = client.get("/console/", follow=True)

        assert response.redirect_chain[-1][0] == f"{SETUP}?next=%2Fconsole%2F"
        assert response.status_code == 200
        assert "Set up two-factor sign-in" in response.content.decode()

    def test_htmx_requests_get_a_client_redirect(self, make_staff):
        client = signed_in(make_staff(with_mfa=False))

        response = client.get("/console/tenants/", headers={"HX-Request": "true"})

        assert response["HX-Redirect"] == SETUP
        assert response.status_code == 200

    def test_exempt_pages_stay_reachable(self, make_staff):
        client = signed_in(make_staff(with_mfa=False))

        assert client.get(SETUP).status_code == 200
        assert client.get("/password-reset/").status_code == 200
        assert client.get("/invitations/no-such-token/").status_code == 404
        assert client.get("/api/v1/me").status_code == 401  # tokens only, not the session
        assert client.post("/logout/")["Location"] == "/login/"

    def test_enrolled_user_without_a_verified_session_is_asked_for_a_code(
        self, tenant_a, make_customer
    ):
        user = make_customer(tenant_a)
        totp = enroll_totp(user)
        client = signed_in(user, mfa_passed=False)

        response = client.get("/account/")
        assert response["Location"] == "/login/mfa/?next=%2Faccount%2F"

        page = client.get(response["Location"])
        assert page.status_code == 200
        assert user.email in page.content.decode()
        verified = client.post("/login/mfa/", {"code": totp.now(), "next": "/account/"})
        assert verified["Location"] == "/account/"
        assert client.get("/account/").status_code == 200

    def test_tenant_requiring_mfa_sends_its_members_to_setup(
        self, tenant_a, tenant_b, make_customer
    ):
        tenant_update(actor=SYSTEM, tenant=tenant_a, mfa_required=True)
        member = make_customer(tenant_a)
        elsewhere = make_customer(tenant_b)

        assert signed_in(member).get("/")["Location"].startswith(SETUP)
        assert signed_in(elsewhere).get("/account/").status_code == 200

    def test_mfa_verified_session_without_a_device_is_still_sent_to_setup(self, make_staff):
        # e.g. an administrator reset the second factor while the session was open
        staff = make_staff()
        client = signed_in(staff)
        assert client.get("/account/").status_code == 200

        TOTPDevice.objects.filter(user=staff).delete()

        assert client.get("/account/")["Location"].startswith(SETUP)


class TestCodeStep:
    def test_password_alone_does_not_sign_an_enrolled_user_in(self, tenant_a, make_customer):
        user = make_customer(tenant_a)
        enroll_totp(user)
        client = Client()

        response = sign_in(client, user.email, next="/account/")

        assert response["Location"] == "/login/mfa/"
        assert not is_signed_in(client)
        assert client.get("/account/")["Location"].startswith("/login/?next=")

    def test_correct_code_signs_in_and_goes_to_next(self, tenant_a, make_customer):
        user = make_customer(tenant_a)
        totp = enroll_totp(user)
        client = Client()
        sign_in(client, user.email, next="/account/")

        response = client.post("/login/mfa/", {"code": totp.now()})

        assert response["Location"] == "/account/"
        assert client.session["_auth_user_id"] == str(user.pk)
        assert client.get("/account/").status_code == 200
        login = audit_events(user)[-1]
        assert login.action == "auth.login"
        assert login.after == {"via": "password", "second_factor": "totp"}

    def test_replayed_code_is_refused(self, tenant_a, make_customer):
        user = make_customer(tenant_a)
        totp = enroll_totp(user)
        first = Client()
        sign_in(first, user.email)
        code = totp.now()
        assert first.post("/login/mfa/", {"code": code}).status_code == 302

        second = Client()
        sign_in(second, user.email)
        response = second.post("/login/mfa/", {"code": code})

        assert response.status_code == 200
        assert "already been used" in response.content.decode()
        assert not is_signed_in(second)

    def test_wrong_code_is_refused_and_audited(self, tenant_a, make_customer):
        user = make_customer(tenant_a)
        totp = enroll_totp(user)
        client = Client()
        sign_in(client, user.email)

        response = client.post("/login/mfa/", {"code": wrong_code(totp)})

        assert response.status_code == 200
        assert 'aria-describedby="id_code_helptext id_code_error"' in response.content.decode()
        assert not is_signed_in(client)
        assert audit_actions(user)[-1] == "auth.mfa_failed"

    def test_codes_are_throttled(self, settings, tenant_a, make_customer):
        settings.LOGIN_MAX_FAILURES = 3
        user = make_customer(tenant_a)
        totp = enroll_totp(user)
        client = Client()
        sign_in(client, user.email)

        statuses = [
            client.post("/login/mfa/", {"code": wrong_code(totp)}).status_code for _ in range(3)
        ]
        right = client.post("/login/mfa/", {"code": totp.now()})

        assert statuses == [200, 200, 429]
        assert right.status_code == 429
        assert not is_signed_in(client)
        assert "auth.mfa_locked_out" in audit_actions(user)

    def test_code_page_without_a_password_step_sends_back_to_sign_in(self, client):
        assert client.get("/login/mfa/")["Location"] == "/login/"
        assert client.post("/login/mfa/", {"code": "123456"})["Location"] == "/login/"

    def test_expired_pending_sign_in_is_refused(self, tenant_a, make_customer):
        user = make_customer(tenant_a)
        totp = enroll_totp(user)
        client = Client()
        sign_in(client, user.email)
        session = client.session
        session["mfa_pending_sign_in"]["expires"] = 0
        session.save()

        response = client.post("/login/mfa/", {"code": totp.now()})

        assert response["Location"] == "/login/"
        assert not is_signed_in(client)

    def test_password_change_cancels_a_pending_sign_in(self, tenant_a, make_customer):
        user = make_customer(tenant_a)
        totp = enroll_totp(user)
        client = Client()
        sign_in(client, user.email)

        user.set_password("a whole new passphrase 42")
        user.save()

        assert client.post("/login/mfa/", {"code": totp.now()})["Location"] == "/login/"


class TestSetupAndRecoveryCodes:
    def test_setup_confirms_the_device_and_shows_ten_codes_once(self, tenant_a, make_customer):
        tenant_update(actor=SYSTEM, tenant=tenant_a, mfa_required=True)
        user = make_customer(tenant_a)
        client = Client()
        assert sign_in(client, user.email)["Location"] == "/"
        assert client.get("/")["Location"].startswith(SETUP)

        page = client.get(SETUP)
        html = page.content.decode()
        assert 'src="data:image/svg+xml' in html
        assert page.context["setup"].secret in html
        again = client.get(SETUP)
        assert again.context["setup"].secret == page.context["setup"].secret
        elsewhere = signed_in(user, mfa_passed=False).get(SETUP)
        assert elsewhere.context["setup"].secret != page.context["setup"].secret
        assert not TOTPDevice.objects.filter(user=user).exists()  # nothing stored yet

        totp = pyotp.TOTP(page.context["setup"].secret)
        done = client.post(SETUP, {"code": totp.now()})

        codes = done.context["codes"]
        assert len(codes) == 10 and len(set(codes)) == 10
        assert all(code in done.content.decode() for code in codes)
        assert "no-store" in done["Cache-Control"]
        device = TOTPDevice.objects.get(user=user)
        assert device.confirmed_at is not None
        assert totp.secret not in device.encrypted_secret
        assert key_ring().decrypt(device.encrypted_secret) == totp.secret
        stored = set(RecoveryCode.objects.filter(user=user).values_list("code_hash", flat=True))
        assert len(stored) == 10 and not stored & set(codes)
        assert client.get("/account/").status_code == 200  # this session passed the new factor
        assert client.get(SETUP)["Location"] == "/account/"  # and cannot set up twice
        assert "mfa.enrolled" in audit_actions(user)

    def test_wrong_setup_code_leaves_mfa_off(self, tenant_a, make_customer):
        user = make_customer(tenant_a)
        client = signed_in(user)
        totp = pyotp.TOTP(client.get(SETUP).context["setup"].secret)

        response = client.post(SETUP, {"code": wrong_code(totp)})

        assert response.status_code == 200
        assert "That code is not right" in response.content.decode()
        assert not TOTPDevice.objects.filter(user=user).exists()

    def test_recovery_code_works_once(self, tenant_a, make_customer):
        user = make_customer(tenant_a)
        _, codes = _set_up_through_the_page(signed_in(user))

        first = Client()
        sign_in(first, user.email)
        response = first.post("/login/mfa/", {"code": codes[0].upper().replace("-", " ")})
        assert response.status_code == 302
        assert is_signed_in(first)
        assert "mfa.recovery_code_used" in audit_actions(user)
        assert audit_events(user)[-1].after == {"via": "password", "second_factor": "recovery_code"}

        second = Client()
        sign_in(second, user.email)
        again = second.post("/login/mfa/", {"code": codes[0]})
        assert again.status_code == 200
        assert not is_signed_in(second)
        assert second.post("/login/mfa/", {"code": codes[1]}).status_code == 302

    def test_new_recovery_codes_replace_the_old_ones(self, tenant_a, make_customer):
        user = make_customer(tenant_a)
        client = signed_in(user)
        _, old_codes = _set_up_through_the_page(client)

        response = client.post("/account/mfa/recovery-codes/", {"regenerate-code": old_codes[0]})

        new_codes = response.context["codes"]
        assert len(new_codes) == 10
        other = Client()
        sign_in(other, user.email)
        assert other.post("/login/mfa/", {"code": old_codes[1]}).status_code == 200
        assert other.post("/login/mfa/", {"code": new_codes[0]}).status_code == 302


class TestDisable:
    def test_disabling_needs_a_current_code(self, tenant_a, make_customer):
        user = make_customer(tenant_a)
        totp = enroll_totp(user)
        client = signed_in(user)

        refused = client.post("/account/mfa/disable/", {"disable-code": wrong_code(totp)})
        assert refused.status_code == 200
        assert TOTPDevice.objects.filter(user=user).exists()

        done = client.post("/account/mfa/disable/", {"disable-code": totp.now()})
        assert done["Location"] == "/account/"
        assert not TOTPDevice.objects.filter(user=user).exists()
        assert audit_actions(user)[-1] == "mfa.disabled"
        assert client.get("/account/").status_code == 200

    @pytest.mark.parametrize("who", ["staff", "tenant_requires"])
    def test_disabling_is_refused_when_mfa_is_required(
        self, who, tenant_a, make_customer, make_staff
    ):
        if who == "staff":
            user = make_staff()
        else:
            tenant_update(actor=SYSTEM, tenant=tenant_a, mfa_required=True)
            user = make_customer(tenant_a)
        totp = enroll_totp(user)
        client = signed_in(user)

        page = client.get("/account/").content.decode()
        response = client.post("/account/mfa/disable/", {"disable-code": totp.now()}, follow=True)

        assert "cannot be turned off" in page
        assert "cannot be turned off" in response.content.decode()
        assert TOTPDevice.objects.filter(user=user, confirmed_at__isnull=False).exists()

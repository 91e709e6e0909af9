"""Staff management in the console: invite, change role, deactivate; admins only."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from controlplane.accounts.models import User
from controlplane.accounts.staff import staff_role_change, staff_set_active
from controlplane.api.tokens import api_token_authenticate, api_token_create
from controlplane.audit.models import AuditEvent
from controlplane.core.tenancy import all_tenants_context
from tests.conftest import SYSTEM, signed_in
from tests.web.conftest import World

pytestmark = pytest.mark.django_db
STAFF = reverse("web:console_staff")


def role_url(person: User) -> str:
    return reverse("web:console_staff_role", args=[person.pk])


def active_url(person: User) -> str:
    return reverse("web:console_staff_active", args=[person.pk])


def test_an_admin_invites_staff_who_set_a_password_from_the_email(
    make_staff: Callable[..., User],
    mailoutbox: list,
    django_capture_on_commit_callbacks: Callable,
) -> None:
    admin = signed_in(make_staff("admin"))
    with django_capture_on_commit_callbacks(execute=True):
        response = admin.post(
            STAFF, {"email": "New.Op@MSP.example", "full_name": "New Op", "role": "operator"}
        )
    assert response.status_code == 302
    person = User.objects.get(email="new.op@msp.example")
    assert person.staff_role == "operator" and not person.has_usable_password()
    assert [m.to for m in mailoutbox] == [["new.op@msp.example"]]
    link = next(word for word in mailoutbox[0].body.split() if "/password-reset/" in word)
    path = link.split("127.0.0.1:8000", 1)[-1]
    browser = Client()
    form_page = browser.get(path, follow=True)
    assert form_page.status_code == 200
    new = "a long new staff password 2026"
    browser.post(form_page.redirect_chain[-1][0], {"new_password1": new, "new_password2": new})
    person.refresh_from_db()
    assert person.check_password(new)
    with all_tenants_context():
        invited = AuditEvent.unscoped.filter(action="staff.invited", target_id=str(person.pk))
        assert invited.exists()
    page = admin.get(STAFF).content.decode()
    assert "new.op@msp.example" in page


def test_inviting_an_existing_email_is_shown_next_to_the_field(
    make_staff: Callable[..., User],
) -> None:
    admin_user = make_staff("admin")
    response = signed_in(admin_user).post(STAFF, {"email": admin_user.email, "role": "auditor"})
    assert response.status_code == 400
    assert 'id="id_email_error"' in response.content.decode()
    assert "already has an account" in response.content.decode()


def test_only_admins_manage_staff(world: World, make_staff: Callable[..., User]) -> None:
    target = make_staff("auditor")
    for role in ("operator", "auditor"):
        client = signed_in(make_staff(role))
        assert client.get(STAFF).status_code == 200
        assert "Invite staff" not in client.get(STAFF).content.decode()
        assert client.post(STAFF, {"email": "x@msp.example", "role": "admin"}).status_code == 403
        assert client.post(role_url(target), {f"{target.pk.hex}-role": "admin"}).status_code == 403
        assert client.post(active_url(target), {"active": "false"}).status_code == 403
    customer = signed_in(world.a_owner)
    assert customer.get(STAFF).status_code == 404
    assert customer.post(active_url(target), {"active": "false"}).status_code == 404
    target.refresh_from_db()
    assert target.staff_role == "auditor" and target.is_active


def test_an_admin_changes_roles_and_deactivates_staff(make_staff: Callable[..., User]) -> None:
    admin = signed_in(make_staff("admin"))
    operator = make_staff("operator")
    _, plaintext = api_token_create(actor=SYSTEM, user=operator, name="ops")
    admin.post(role_url(operator), {f"{operator.pk.hex}-role": "auditor"})
    operator.refresh_from_db()
    assert operator.staff_role == "auditor"

    response = admin.post(active_url(operator), {"active": "false"}, follow=True)
    assert "was deactivated" in response.content.decode()
    operator.refresh_from_db()
    assert not operator.is_active
    assert api_token_authenticate(plaintext) is None
    assert signed_in(operator).get(STAFF).status_code == 302  # signed out: to the sign-in

    admin.post(active_url(operator), {"active": "true"})
    operator.refresh_from_db()
    assert operator.is_active


def test_the_last_admin_and_ones_own_account_are_protected(
    make_staff: Callable[..., User],
) -> None:
    User.objects.filter(staff_role="admin").update(is_active=False)
    me = make_staff("admin")
    client = signed_in(me)
    own = client.post(role_url(me), {f"{me.pk.hex}-role": "auditor"}, follow=True)
    assert "cannot change your own staff account" in own.content.decode()
    own = client.post(active_url(me), {"active": "false"}, follow=True)
    assert "cannot change your own staff account" in own.content.decode()
    me.refresh_from_db()
    assert me.staff_role == "admin" and me.is_active
    # nor can anything else (a script, a command) leave the MSP without an admin
    for change in (
        lambda: staff_role_change(actor=SYSTEM, user=me, role="operator"),
        lambda: staff_set_active(actor=SYSTEM, user=me, active=False),
    ):
        with pytest.raises(ValidationError, match="last active admin"):
            change()

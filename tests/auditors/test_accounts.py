"""Auditor accounts: created by staff admins, signing in with two factors only while
their access lasts, ended by expiry or revocation, every step audited."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

import pyotp
import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from compliance.models import EvidencePackage
from controlplane.accounts.models import AuditorAccount, User
from controlplane.accounts.tasks import expire_auditors
from controlplane.api.tokens import api_token_create
from controlplane.audit.models import AuditEvent
from controlplane.core.tenancy import all_tenants_context
from tests.accounts.conftest import is_signed_in, sign_in
from tests.auditors.conftest import last_quarter
from tests.conftest import PASSWORD, SYSTEM, enroll_totp, signed_in
from tests.web.conftest import World

pytestmark = pytest.mark.django_db


def actions(target: AuditorAccount) -> list[tuple[str, str | None]]:
    """(action, tenant slug) of the entries about ``target``, oldest first."""
    with all_tenants_context():
        events = AuditEvent.unscoped.filter(target_id=str(target.pk)).select_related("tenant")
        return [(e.action, e.tenant.slug if e.tenant else None) for e in events.order_by("seq")]


def sign_in_with_code(client: Client, user: User, totp: pyotp.TOTP) -> None:
    response = sign_in(client, user.email)
    assert response["Location"].startswith("/login/mfa/"), response
    client.post("/login/mfa/", {"code": totp.now()})


def test_an_admin_gives_an_auditor_access_to_some_tenants(
    world: World,
    make_staff: Callable[..., User],
    mailoutbox: list,
    django_capture_on_commit_callbacks: Callable,
) -> None:
    admin = signed_in(make_staff("admin"))
    quarter = last_quarter()
    with django_capture_on_commit_callbacks(execute=True):
        response = admin.post(
            reverse("web:console_auditors"),
            {
                "email": "Jane@CPA.example",
                "full_name": "Jane Auditor",
                "organization": "Example CPA LLP",
                "tenants": [str(world.a.pk)],
                "quarter": quarter.label,
                "expires_at": (timezone.now() + dt.timedelta(days=14)).date().isoformat(),
            },
        )

    assert response.status_code == 302
    account = AuditorAccount.objects.select_related("user").get(user__email="jane@cpa.example")
    assert (account.period_start, account.period_end) == (quarter.start, quarter.end)
    assert not account.user.is_msp_staff and account.user.is_external_auditor
    assert not account.user.has_usable_password()
    [email] = mailoutbox
    assert "Acme Corp" in email.body and "/password-reset/" in email.body
    assert actions(account) == [("auditor.created", None), ("auditor.granted", "acme")]
    with all_tenants_context():  # the evidence is organized when the auditor arrives
        [package] = EvidencePackage.unscoped.filter(tenant=world.a)
    assert (package.period_start, package.period_end) == (quarter.start, quarter.end)
    assert package.status == EvidencePackage.Status.READY
    page = admin.get(reverse("web:console_auditors")).content.decode()
    assert "jane@cpa.example" in page and "Acme Corp" in page


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"tenants": []}, "tenants", "This field is required."),
        ({"expires_at": "2001-01-01"}, "expires_at", "The access must end in the future."),
        ({"expires_at": "2999-01-01"}, "expires_at", "Access lasts at most 366 days."),
        (
            {"quarter": "", "period_start": "2025-01-01", "period_end": "2026-06-30"},
            "period_end",
            "A period is at most 366 days.",
        ),
        ({"email": "owner@acme.example"}, "email", "This email already has an account."),
    ],
)
def test_bad_input_is_named_on_its_field(
    world: World,
    make_staff: Callable[..., User],
    make_customer: Callable[..., User],
    changes: dict[str, object],
    field: str,
    message: str,
) -> None:
    make_customer(world.a, "member", email="owner@acme.example")
    admin = signed_in(make_staff("admin"))
    data = {
        "email": "jane@cpa.example",
        "tenants": [str(world.a.pk)],
        "quarter": last_quarter().label,
        "expires_at": (timezone.now() + dt.timedelta(days=14)).date().isoformat(),
        **changes,
    }

    response = admin.post(reverse("web:console_auditors"), data)

    assert response.status_code == 200
    assert message in response.context["form"].errors[field]
    assert not AuditorAccount.objects.exists()


def test_only_admins_manage_auditors(world: World, make_staff: Callable[..., User]) -> None:
    for role in ("operator", "auditor"):
        client = signed_in(make_staff(role))
        assert client.get(reverse("web:console_auditors")).status_code == 200
        response = client.post(reverse("web:console_auditors"), {"email": "x@cpa.example"})
        assert response.status_code == 403
    assert signed_in(world.a_owner).get(reverse("web:console_auditors")).status_code == 404


def test_an_auditor_must_set_up_two_factor_sign_in(
    world: World, make_auditor: Callable[..., User]
) -> None:
    auditor = make_auditor(world.a, with_mfa=False)
    client = Client()

    sign_in(client, auditor.email)
    response = client.get(reverse("web:auditor_home"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:mfa_setup"))


def test_an_auditor_signs_in_with_two_factors_until_the_access_ends(
    world: World, make_auditor: Callable[..., User]
) -> None:
    auditor = make_auditor(world.a, with_mfa=False)
    totp = enroll_totp(auditor)
    client = Client()
    sign_in_with_code(client, auditor, totp)
    assert client.get("/")["Location"] == reverse("web:auditor_home")
    assert client.get(reverse("web:auditor_home")).status_code == 200

    AuditorAccount.objects.filter(user=auditor).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )

    response = client.get(reverse("web:auditor_home"))
    assert response.status_code == 302  # the session ended with the access
    assert response["Location"].startswith(reverse("accounts:login"))
    assert not is_signed_in(Client()) and "do not match an account" in (
        sign_in(Client(), auditor.email).content.decode()
    )


def test_revoking_ends_the_open_session_and_the_account(
    world: World, make_auditor: Callable[..., User], make_staff: Callable[..., User]
) -> None:
    auditor = make_auditor(world.a)
    session = signed_in(auditor)
    assert session.get(reverse("web:auditor_home")).status_code == 200
    account = auditor.auditor_account

    admin = signed_in(make_staff("admin"))
    admin.post(reverse("web:console_auditor_revoke", args=[account.pk]), {"revoke": "yes"})

    assert session.get(reverse("web:auditor_home")).status_code == 302
    assert "do not match an account" in sign_in(Client(), auditor.email).content.decode()
    assert actions(account)[-2:] == [("auditor.revoked", None), ("auditor.revoked", "acme")]


def test_an_admin_extends_the_access(
    world: World, make_auditor: Callable[..., User], make_staff: Callable[..., User]
) -> None:
    auditor = make_auditor(world.a)
    account = auditor.auditor_account
    admin = signed_in(make_staff("admin"))
    new_end = (timezone.now() + dt.timedelta(days=60)).date()

    admin.post(
        reverse("web:console_auditor_extend", args=[account.pk]),
        {f"{account.pk.hex}-expires_at": new_end.isoformat()},
    )

    account.refresh_from_db()
    assert account.expires_at.date() == new_end
    assert ("auditor.updated", None) in actions(account)


def test_expiry_deactivates_and_records_once(
    world: World, make_auditor: Callable[..., User]
) -> None:
    auditor = make_auditor(world.a, world.b)
    AuditorAccount.objects.filter(user=auditor).update(
        expires_at=timezone.now() - dt.timedelta(minutes=1)
    )

    assert expire_auditors.delay().get() == 1
    assert expire_auditors.delay().get() == 0

    auditor.refresh_from_db()
    assert not auditor.is_active
    expired = [a for a in actions(auditor.auditor_account) if a[0] == "auditor.expired"]
    assert expired == [
        ("auditor.expired", None),
        ("auditor.expired", "acme"),
        ("auditor.expired", "globex"),
    ]


def test_an_auditor_has_no_api_tokens(world: World, make_auditor: Callable[..., User]) -> None:
    auditor = make_auditor(world.a)
    with pytest.raises(ValidationError, match="no API tokens"):
        api_token_create(actor=SYSTEM, user=auditor, name="mine")
    response = signed_in(auditor).post(reverse("accounts:tokens"), {"name": "mine"})
    assert response.status_code == 403
    page = signed_in(auditor).get(reverse("web:auditor_home")).content.decode()
    assert not re.search(r'href="/account/tokens/"', page)
    assert PASSWORD not in page

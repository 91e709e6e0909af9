"""The first staff account of a deployment, from the command line."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from controlplane.accounts.models import User

pytestmark = pytest.mark.django_db


def test_creates_a_staff_account_that_must_set_up_two_factor(
    monkeypatch: pytest.MonkeyPatch, client: object
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough passphrase 42\n"))
    call_command(
        "create_staff_user",
        "--email",
        "Root@MSP.example",
        "--role",
        "admin",
        "--password-stdin",
        stdout=io.StringIO(),
    )
    user = User.objects.get(email="root@msp.example")
    assert user.staff_role == "admin" and user.check_password("a long enough passphrase 42")
    response = client.post(  # type: ignore[attr-defined]
        "/login/", {"email": "root@msp.example", "password": "a long enough passphrase 42"}
    )
    assert client.get("/console/").url.startswith("/account/mfa/setup/")  # type: ignore[attr-defined]
    assert response.status_code == 302


def test_a_weak_password_is_refused_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    with pytest.raises(CommandError, match="password:"):
        call_command(
            "create_staff_user",
            "--email",
            "x@msp.example",
            "--role",
            "operator",
            "--password-stdin",
        )
    assert not User.objects.filter(email="x@msp.example").exists()

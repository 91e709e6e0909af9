"""manage.py create_api_token: the printed token works against the API."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from controlplane.api.models import ApiToken

pytestmark = pytest.mark.django_db


def _create(*args: str) -> str:
    out = StringIO()
    call_command("create_api_token", *args, stdout=out)
    return out.getvalue()


def _me(token: str):  # type: ignore[no-untyped-def]
    return Client().get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})


def test_printed_token_authenticates_as_the_user(make_staff):
    staff = make_staff("operator")

    output = _create("--email", staff.email.upper(), "--name", "ci", "--read-only")

    token = output.strip()
    assert output == token + "\n"  # nothing else on stdout
    response = _me(token)
    assert response.status_code == 200
    body = response.json()
    assert body["email"] == staff.email
    assert body["token"]["name"] == "ci" and body["token"]["read_only"] is True
    stored = ApiToken.objects.get(user=staff)
    assert token not in stored.secret_hash
    days = (stored.expires_at - timezone.now()).days
    assert 88 <= days <= 90


def test_expired_token_is_refused(make_staff):
    staff = make_staff()
    token = _create("--email", staff.email, "--expires-days", "1").strip()
    assert _me(token).status_code == 200

    ApiToken.objects.filter(user=staff).update(expires_at=timezone.now() - dt.timedelta(seconds=1))

    assert _me(token).status_code == 401


def test_tenant_restriction(make_staff, make_customer, tenant_a, tenant_b):
    staff = make_staff()
    customer = make_customer(tenant_a)

    _create("--email", staff.email, "--tenant", "globex")
    _create("--email", customer.email)

    assert ApiToken.objects.get(user=staff).tenant_id == tenant_b.pk
    assert ApiToken.objects.get(user=customer).tenant_id == tenant_a.pk
    with pytest.raises(CommandError, match="--tenant"):
        _create("--email", customer.email, "--tenant", "globex")
    with pytest.raises(CommandError, match="--tenant"):
        _create("--email", staff.email, "--tenant", "no-such-tenant")


def test_unknown_or_deactivated_users_are_refused(make_staff):
    staff = make_staff()
    staff.is_active = False
    staff.save()

    with pytest.raises(CommandError, match="--email: no user"):
        _create("--email", "nobody@msp.example")
    with pytest.raises(CommandError, match=r"--email: .* deactivated"):
        _create("--email", staff.email)
    assert not ApiToken.objects.exists()

"""Outbound safety when a provider is saved: base URLs that lead to loopback,
link-local, cloud metadata or (unless the provider is the MSP's or marked on-premises by
staff) private addresses are refused, naming the field. The API and the portal's form:
tests/api/test_gateway.py, tests/web/test_gateway_pages.py; the edge checks again when
it connects: tests/edge/gateway/test_outbound.py."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError

from controlplane.core.tenancy import all_tenants_context
from controlplane.gateway.models import Provider
from controlplane.gateway.services import provider_create, provider_update
from tenants.models import Tenant
from tests.conftest import SYSTEM

pytestmark = pytest.mark.django_db

REFUSED = [
    ("http://169.254.169.254/latest/meta-data", "a cloud metadata address"),
    ("http://[fd00:ec2::254]/v1", "a cloud metadata address"),
    ("http://metadata.google.internal/v1", "a cloud metadata address"),
    ("http://169.254.1.1:8000/v1", "a link-local address"),
    ("http://127.0.0.1:4400/v1", "a loopback address"),
    ("http://localhost:4400/v1", "a loopback address"),
    ("http://[::1]:4400/v1", "a loopback address"),
    ("http://10.1.2.3/v1", "a private address"),
    ("https://192.168.0.10/v1", "a private address"),
]


def create(tenant: Tenant | None, base_url: str, **extra: Any) -> Provider:
    return provider_create(
        actor=SYSTEM, tenant=tenant, name="p-under-test", kind="openai", base_url=base_url, **extra
    )


@pytest.mark.parametrize(("base_url", "reason"), REFUSED)
def test_a_tenants_provider_is_refused_where_no_provider_may_be(
    tenant_a: Tenant, base_url: str, reason: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        create(tenant_a, base_url)
    (message,) = raised.value.message_dict["base_url"]
    assert reason in message
    with all_tenants_context():
        assert not Provider.unscoped.filter(name="p-under-test").exists()


@pytest.mark.parametrize(
    ("base_url", "on_premises", "msp", "allowed"),
    [
        ("http://10.1.2.3/v1", True, False, True),
        ("http://127.0.0.1:4400/v1", True, False, True),
        ("http://127.0.0.1:4400/v1", False, True, True),  # the MSP's own (the simulator)
        ("http://169.254.169.254/v1", True, False, False),
        ("http://169.254.169.254/v1", False, True, False),
        ("https://api.openai.example/v1", False, False, True),  # does not resolve here
        ("https://93.184.216.34/v1", False, False, True),
    ],
)
def test_on_premises_and_msp_providers_may_use_private_networks_never_metadata(
    tenant_a: Tenant, base_url: str, on_premises: bool, msp: bool, allowed: bool
) -> None:
    tenant = None if msp else tenant_a
    if allowed:
        assert create(tenant, base_url, on_premises=on_premises).base_url == base_url
    else:
        with pytest.raises(ValidationError, match="metadata"):
            create(tenant, base_url, on_premises=on_premises)


def test_a_change_is_checked_too_and_unmarking_on_premises_needs_a_public_url(
    tenant_a: Tenant,
) -> None:
    provider = create(tenant_a, "http://10.1.2.3/v1", on_premises=True)
    with all_tenants_context():
        with pytest.raises(ValidationError, match="a private address"):
            provider_update(actor=SYSTEM, provider=provider, on_premises=False)
        with pytest.raises(ValidationError, match="a link-local address"):
            provider_update(actor=SYSTEM, provider=provider, base_url="http://169.254.3.3/v1")
        provider.refresh_from_db()
    assert provider.on_premises and provider.base_url == "http://10.1.2.3/v1"

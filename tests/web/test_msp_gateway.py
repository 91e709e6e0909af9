"""The MSP-wide gateway catalog in the console: MSP-wide providers (with their API keys)
and routes, and the model price list. Staff writers change it, auditors read it,
customers do not find it."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from billing.models import ModelPrice
from billing.services import model_price_create
from controlplane.accounts.models import User
from controlplane.audit.models import AuditEvent
from controlplane.core.tenancy import all_tenants_context
from controlplane.gateway import services as gateway
from controlplane.gateway.models import Provider, Route
from tests.conftest import SYSTEM, signed_in
from tests.web.conftest import World
from tests.web.test_gateway_pages import key, new_provider, new_route, shown_messages

pytestmark = pytest.mark.django_db

SECRET = "sk-msp-very-secret-key-4b2e"


def url(name: str = "", *args: object) -> str:
    return reverse(f"web:console_msp_gateway{'_' + name if name else ''}", args=args)


def msp_providers() -> dict[str, Provider]:
    with all_tenants_context():
        return {p.name: p for p in Provider.unscoped.filter(tenant__isnull=True)}


def msp_routes() -> dict[str, Route]:
    with all_tenants_context():
        return {r.name: r for r in Route.unscoped.filter(tenant__isnull=True)}


def msp_actions() -> list[str]:
    with all_tenants_context():
        return list(
            AuditEvent.objects.filter(tenant_id__isnull=True)
            .filter(action__regex=r"^(provider|route|model_price)")
            .order_by("seq")
            .values_list("action", flat=True)
        )


def new_price(**fields: Any) -> dict[str, Any]:
    return {
        "provider": "msp-openai",
        "model": "gpt-4o-mini",
        "input_per_million": "0.15",
        "output_per_million": "0.6",
        "effective_from": "2026-01-01T00:00",
    } | fields


def _provider(tenant: object, name: str, secret: str | None = None) -> Provider:
    provider = gateway.provider_create(
        actor=SYSTEM,
        tenant=tenant,  # type: ignore[arg-type]
        name=name,
        kind="openai",
        base_url=f"https://{name}.example.com/v1",
    )
    if secret:
        gateway.credential_set(actor=SYSTEM, provider=provider, secret=secret)
    return provider


@pytest.mark.parametrize("role", ["admin", "operator"])
def test_staff_writers_manage_msp_wide_providers_and_their_keys(
    world: World, make_staff: Callable[..., User], role: str
) -> None:
    client = signed_in(make_staff(role))
    page = client.get(url())
    assert page.status_code == 200
    assert [i["label"] for i in page.context["nav_items"] if i["current"]] == ["Gateway catalog"]
    assert "Add provider" in page.content.decode()

    added = client.post(url("provider_create"), new_provider(name="msp-openai"))
    provider = msp_providers()["msp-openai"]
    assert added.status_code == 302
    assert added["Location"] == url() + f"#provider-{provider.pk}"
    assert provider.model_names == ["gpt-4o", "gpt-4o-mini", "o3-mini"]

    bodies = []
    for secret in (SECRET, SECRET + "-2"):
        response = client.post(url("provider_key", provider.pk), key(provider, secret), follow=True)
        bodies += [response.content.decode(), *shown_messages(response)]
    assert any("was set: …4b2e, version 1." in text for text in bodies)
    assert any("was rotated: now …2e-2, version 2." in text for text in bodies)
    short = client.post(url("provider_key", provider.pk), key(provider, "short"))
    assert short.status_code == 200 and "8+ characters" in short.content.decode()
    bodies.append(short.content.decode())
    assert all(SECRET not in text and "very-secret" not in text for text in bodies)
    assert gateway.credential_secret(provider.pk) == SECRET + "-2"

    client.post(url("provider_enabled", provider.pk), {"enabled": "false"})
    assert not msp_providers()["msp-openai"].enabled
    deleted = client.post(url("provider_delete", provider.pk), follow=True)
    assert "The provider msp-openai was deleted." in shown_messages(deleted)
    assert msp_providers() == {}
    assert msp_actions() == [
        "provider.created",
        "provider_credential.set",
        "provider_credential.rotated",
        "provider.updated",
        "provider.deleted",
    ]


def test_staff_add_and_delete_msp_wide_routes(
    world: World, make_staff: Callable[..., User]
) -> None:
    shared = _provider(None, "msp-openai")
    own = _provider(world.a, "acme-azure")
    client = signed_in(make_staff("operator"))
    form = client.get(url()).context["route_form"]
    offered = dict(form.fields["candidate_1_provider"].choices)
    assert offered == {"": "—", str(shared.pk): "msp-openai (MSP-wide)"}

    refused = client.post(url("route_create"), new_route((own, "*")))
    assert refused.status_code == 200
    assert list(refused.context["route_form"].errors) == ["candidate_1_provider"]
    empty = client.post(url("route_create"), new_route())
    assert "Choose at least one candidate provider." in empty.content.decode()

    added = client.post(url("route_create"), new_route((shared, "gpt-4o-mini")))
    route = msp_routes()["complex first"]
    assert added.status_code == 302 and added["Location"] == url() + f"#route-{route.pk}"
    assert route.candidates == [
        {"provider_id": str(shared.pk), "model": "gpt-4o-mini", "weight": 1}
    ]
    in_use = client.post(url("provider_delete", shared.pk), follow=True)
    assert (
        "msp-openai was not deleted: Routes still use this provider: complex first."
        in shown_messages(in_use)
    )
    assert client.post(url("route_delete", route.pk)).status_code == 302
    assert msp_routes() == {}


def test_the_price_list_shows_current_and_upcoming_prices_and_staff_add_one(
    world: World, make_staff: Callable[..., User]
) -> None:
    now = timezone.now()
    for days, price in ((-60, "1"), (-10, "0.5"), (30, "0.25")):
        model_price_create(
            actor=SYSTEM,
            provider="msp-openai",
            model="gpt-4o-mini",
            input_per_million=Decimal(price),
            output_per_million=Decimal(price) * 4,
            effective_from=now + dt.timedelta(days=days),
        )
    client = signed_in(make_staff("admin"))
    page = client.get(url())
    rows = [(r.price.model, r.input, r.output, r.upcoming) for r in page.context["prices"]]
    assert rows == [("gpt-4o-mini", "0.5", "2", False), ("gpt-4o-mini", "0.25", "1", True)]
    assert "upcoming" in page.content.decode()

    added = client.post(url("price_create"), new_price(model="o3-mini"))
    assert added.status_code == 302 and added["Location"] == url() + "#prices"
    price = ModelPrice.objects.get(model="o3-mini")
    assert (price.input_per_million, price.output_per_million) == (
        Decimal("0.15"),
        Decimal("0.6"),
    )
    assert price.effective_from == dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    page = client.get(url())
    assert "The price of msp-openai/o3-mini from 2026-01-01 00:00 UTC was added." in (
        shown_messages(page)
    )

    for bad, field in (
        ({"input_per_million": "-1"}, "input_per_million"),
        ({"model": ""}, "model"),
    ):
        response = client.post(url("price_create"), new_price(**bad))
        assert response.status_code == 200
        assert list(response.context["price_form"].errors) == [field]
    duplicate = client.post(url("price_create"), new_price(model="o3-mini"))
    assert duplicate.status_code == 200 and duplicate.context["price_form"].errors
    assert ModelPrice.objects.filter(model="o3-mini").count() == 1
    assert msp_actions().count("model_price.created") == 4


def test_auditors_read_the_catalog_without_forms_and_cannot_change_it(
    world: World, make_staff: Callable[..., User]
) -> None:
    provider = _provider(None, "msp-openai", SECRET)
    route = gateway.route_create(
        actor=SYSTEM, tenant=None, name="msp default", candidates=[{"provider_id": provider.pk}]
    )
    client = signed_in(make_staff("auditor"))
    page = client.get(url())
    assert page.status_code == 200
    body = page.content.decode()
    main = body.split('<main id="main"')[1].split("</main>")[0]
    assert "<form" not in main and "msp-openai" in main and "msp default" in main
    assert "…" + SECRET[-4:] in main and SECRET not in body
    for name, args, data in (
        ("provider_create", (), new_provider(name="other")),
        ("provider_enabled", (provider.pk,), {"enabled": "false"}),
        ("provider_key", (provider.pk,), key(provider, SECRET + "-new")),
        ("provider_delete", (provider.pk,), {}),
        ("route_create", (), new_route((provider, "*"), name="x", tier="simple")),
        ("route_delete", (route.pk,), {}),
        ("price_create", (), new_price()),
    ):
        assert client.post(url(name, *args), data).status_code == 403, name
    assert list(msp_providers()) == ["msp-openai"] and list(msp_routes()) == ["msp default"]
    assert msp_providers()["msp-openai"].enabled
    assert gateway.credential_secret(provider.pk) == SECRET
    assert not ModelPrice.objects.exists()


def test_a_tenants_own_provider_or_route_is_404_here(
    world: World, make_staff: Callable[..., User]
) -> None:
    own = _provider(world.a, "acme-azure", SECRET)
    route = gateway.route_create(
        actor=SYSTEM, tenant=world.a, name="to azure", candidates=[{"provider_id": own.pk}]
    )
    client = signed_in(make_staff("admin"))
    assert "acme-azure" not in client.get(url()).content.decode()
    for name, args, data in (
        ("provider_enabled", (own.pk,), {"enabled": "false"}),
        ("provider_key", (own.pk,), key(own, "sk-taken-over-1234")),
        ("provider_delete", (own.pk,), {}),
        ("provider_delete", (uuid.uuid4(),), {}),
        ("route_delete", (route.pk,), {}),
    ):
        assert client.post(url(name, *args), data).status_code == 404, name
    with all_tenants_context():
        assert Provider.unscoped.get(pk=own.pk).enabled
        assert Route.unscoped.filter(pk=route.pk).exists()
    assert gateway.credential_secret(own.pk) == SECRET


@pytest.mark.parametrize("method", ["get", "post"])
def test_customers_do_not_find_the_catalog(world: World, method: str) -> None:
    provider = _provider(None, "msp-openai")
    for user in (world.a_owner, world.a_member):
        client = signed_in(user)
        for address in (url(), url("provider_create"), url("provider_delete", provider.pk)):
            assert getattr(client, method)(address).status_code in (404, 405), address
        assert client.post(url("provider_delete", provider.pk)).status_code == 404
    assert list(msp_providers()) == ["msp-openai"]

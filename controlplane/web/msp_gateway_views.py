"""The MSP-wide gateway catalog in the console (/console/gateway/): the providers and
routes offered to every tenant, their API keys, and the model price list the ledger and
the edges price calls with (billing.ModelPrice).

Staff writers change it, auditors read it. The rows are the MSP-wide ones only (tenant
NULL): a tenant's own provider or route is changed on that tenant's gateway page, and
its id is 404 here. The forms and the provider helpers are the tenant page's
(gateway_views); API keys are write-only there as here.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TypeVar

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST, require_safe

from billing import services as billing
from billing.models import ModelPrice
from billing.pricing import price_list
from controlplane.audit.services import Actor
from controlplane.gateway import services
from controlplane.gateway.models import Provider, Route
from controlplane.gateway.tenancy import SharedOrTenantModel
from controlplane.web.access import staff_can_write, staff_view
from controlplane.web.forms import add_service_error
from controlplane.web.gateway_forms import (
    CredentialForm,
    ModelPriceForm,
    ProviderEnabledForm,
    ProviderForm,
    RouteForm,
)
from controlplane.web.gateway_views import (
    provider_remove,
    provider_rows,
    provider_set_enabled,
    provider_set_key,
    route_rows,
)

S = TypeVar("S", bound=SharedOrTenantModel)


def _msp_wide(model: type[S]) -> QuerySet[S]:
    return model.unscoped.filter(tenant__isnull=True)


def _msp(model: type[S], pk: uuid.UUID) -> S:
    """The MSP-wide row named in the URL; 404 for a tenant's own and for none."""
    row = _msp_wide(model).filter(pk=pk).first()
    if row is None:
        raise Http404
    return row


@dataclass(frozen=True)
class PriceRow:
    price: ModelPrice
    upcoming: bool

    @property
    def input(self) -> str:
        return f"{self.price.input_per_million.normalize():f}"

    @property
    def output(self) -> str:
        return f"{self.price.output_per_million.normalize():f}"


def _prices() -> list[PriceRow]:
    current, upcoming = price_list(timezone.now())
    return [PriceRow(p, upcoming=False) for p in current] + [
        PriceRow(p, upcoming=True) for p in upcoming
    ]


def _page(
    request: HttpRequest,
    *,
    provider_form: ProviderForm | None = None,
    key_form: tuple[uuid.UUID, CredentialForm] | None = None,
    route_form: RouteForm | None = None,
    price_form: ModelPriceForm | None = None,
) -> HttpResponse:
    can_write = staff_can_write(request.user)
    providers = list(_msp_wide(Provider))

    def action_url(row: Provider | Route, action: str) -> str | None:
        if not can_write:
            return None
        kind = "provider" if isinstance(row, Provider) else "route"
        return reverse(f"web:console_msp_gateway_{kind}_{action}", args=[row.pk])

    context = {
        "can_write": can_write,
        "providers": provider_rows(providers, action_url=action_url, key_form=key_form),
        "routes": route_rows(_msp_wide(Route), providers, action_url=action_url),
        "provider_form": provider_form or ProviderForm(),
        "route_form": route_form or RouteForm(providers=providers),
        "price_form": price_form or ModelPriceForm(),
        "prices": _prices(),
    }
    return render(request, "console/gateway.html", context)


def _back(anchor: str) -> HttpResponse:
    return redirect(f"{reverse('web:console_msp_gateway')}#{anchor}")


@staff_view()
@require_safe
def gateway(request: HttpRequest) -> HttpResponse:
    return _page(request)


@staff_view()
@require_POST
def provider_create(request: HttpRequest) -> HttpResponse:
    form = ProviderForm(data=request.POST)
    if form.is_valid():
        try:
            provider = services.provider_create(
                actor=Actor.from_request(request), tenant=None, **form.cleaned_data
            )
        except ValidationError as error:
            add_service_error(form, error)
        else:
            messages.success(
                request,
                f"The MSP-wide provider {provider.name} was added. Set its API key below.",
            )
            return _back(f"provider-{provider.pk}")
    return _page(request, provider_form=form)


@staff_view()
@require_POST
def provider_enabled(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    provider = _msp(Provider, pk)
    form = ProviderEnabledForm(data=request.POST)
    if not form.is_valid():
        messages.error(request, "Choose enabled or disabled.")
        return _back("providers")
    messages.success(request, provider_set_enabled(request, provider, form))
    return _back(f"provider-{provider.pk}")


@staff_view()
@require_POST
def provider_key(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    provider = _msp(Provider, pk)
    form = CredentialForm.for_provider(provider, data=request.POST)
    message = provider_set_key(request, provider, form)
    if message is None:
        return _page(request, key_form=(provider.pk, form))
    messages.success(request, message)
    return _back(f"provider-{provider.pk}")


@staff_view()
@require_POST
def provider_delete(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    provider = _msp(Provider, pk)
    message = provider_remove(request, provider)
    if message is None:
        return _back(f"provider-{provider.pk}")
    messages.success(request, message)
    return _back("providers")


@staff_view()
@require_POST
def route_create(request: HttpRequest) -> HttpResponse:
    form = RouteForm(data=request.POST, providers=list(_msp_wide(Provider)))
    if form.is_valid():
        try:
            route = services.route_create(
                actor=Actor.from_request(request), tenant=None, **form.service_fields()
            )
        except ValidationError as error:
            add_service_error(form, error)
        else:
            messages.success(request, f"The MSP-wide route {route.name} was added.")
            return _back(f"route-{route.pk}")
    return _page(request, route_form=form)


@staff_view()
@require_POST
def route_delete(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    route = _msp(Route, pk)
    name = route.name
    services.route_delete(actor=Actor.from_request(request), route=route)
    messages.success(request, f"The MSP-wide route {name} was deleted.")
    return _back("routes")


@staff_view()
@require_POST
def price_create(request: HttpRequest) -> HttpResponse:
    form = ModelPriceForm(data=request.POST)
    if form.is_valid():
        try:
            price = billing.model_price_create(
                actor=Actor.from_request(request), **form.cleaned_data
            )
        except ValidationError as error:
            add_service_error(form, error)
        else:
            messages.success(
                request,
                f"The price of {price.provider}/{price.model} from "
                f"{price.effective_from:%Y-%m-%d %H:%M} UTC was added.",
            )
            return _back("prices")
    return _page(request, price_form=form)

"""Changes made elsewhere that edges must learn about."""

from __future__ import annotations

from typing import Any

from billing.models import ModelPrice


def price_saved(*, sender: type[ModelPrice], instance: ModelPrice, **kwargs: Any) -> None:
    """A bundle carries the prices of its providers: a new price of a provider raises
    the config version of the sites that can use it, in the transaction that adds it."""
    if kwargs.get("raw"):
        return
    from controlplane.core.tenancy import all_tenants_context
    from controlplane.gateway.models import Provider
    from controlplane.gateway.services import bump_sites

    with all_tenants_context():
        owners = list(
            Provider.unscoped.filter(name=instance.provider).values_list("tenant_id", flat=True)
        )
    for tenant_id in owners:
        bump_sites(tenant_id=tenant_id)

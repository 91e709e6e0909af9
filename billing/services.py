"""Changes to the price list. Each one is audited."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db import transaction

from billing.models import ModelPrice
from controlplane.audit.services import Actor, audit_record, snapshot
from controlplane.gateway.services import prices_changed


def model_price_create(
    *,
    actor: Actor,
    provider: str,
    model: str,
    input_per_million: Decimal,
    output_per_million: Decimal,
    effective_from: dt.datetime,
) -> ModelPrice:
    """Add a price of ``provider``/``model`` from ``effective_from`` on.

    Prices are never edited or deleted: the ledger's costs were computed with them. A
    correction is a new price from a later moment.
    """
    price = ModelPrice(
        provider=provider.strip(),
        model=model.strip(),
        input_per_million=input_per_million,
        output_per_million=output_per_million,
        effective_from=effective_from,
    )
    price.full_clean()
    with transaction.atomic():
        price.save(force_insert=True)
        prices_changed(provider=price.provider)
        audit_record(
            actor=actor,
            action="model_price.created",
            target=price,
            tenant_id=None,
            after=snapshot(price),
        )
    return price

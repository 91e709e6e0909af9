"""Changes to the price list. Each one is audited."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from billing.models import BillingAccount, Issuer, ModelPrice, Plan
from controlplane.audit.services import Actor, audit_record, snapshot
from controlplane.core.tenancy import tenant_context
from controlplane.gateway.services import prices_changed


def model_price_create(
    *,
    actor: Actor,
    provider: str,
    model: str,
    input_per_million: Decimal,
    output_per_million: Decimal,
    effective_from: dt.datetime,
    cached_input_per_million: Decimal | None = None,
    cache_write_per_million: Decimal | None = None,
    reasoning_per_million: Decimal | None = None,
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
        cached_input_per_million=cached_input_per_million,
        cache_write_per_million=cache_write_per_million,
        reasoning_per_million=reasoning_per_million,
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


ACCOUNT_FIELDS = ("legal_name", "address", "tax_id", "currency", "tax_rate", "email")


def issuer_create(
    *,
    actor: Actor,
    name: str,
    invoice_prefix: str,
    credit_note_prefix: str,
    address: str = "",
    tax_id: str = "",
    review_threshold: Decimal = Decimal("10000"),
) -> Issuer:
    """The MSP's invoicing entity with its two number sequences (starting at 1)."""
    issuer = Issuer(
        name=name.strip(),
        invoice_prefix=invoice_prefix.strip(),
        credit_note_prefix=credit_note_prefix.strip(),
        address=address,
        tax_id=tax_id.strip(),
        review_threshold=review_threshold,
    )
    issuer.full_clean()
    with transaction.atomic():
        issuer.save(force_insert=True)
        audit_record(
            actor=actor,
            action="issuer.created",
            target=issuer,
            tenant_id=None,
            after=snapshot(issuer, ("name", "invoice_prefix", "credit_note_prefix", "tax_id")),
        )
    return issuer


def billing_account_set(
    *, actor: Actor, tenant_id: uuid.UUID, issuer: Issuer, **details: Any
) -> BillingAccount:
    """Create or change a tenant's billing details (legal name, address, tax id,
    currency, tax rate, email). Final invoices keep the details they were issued with."""
    with transaction.atomic(), tenant_context(tenant_id):
        account = BillingAccount.objects.select_for_update().filter(tenant_id=tenant_id).first()
        before = snapshot(account, ACCOUNT_FIELDS) if account else None
        account = account or BillingAccount(tenant_id=tenant_id)
        account.issuer = issuer
        for name, value in details.items():
            if name not in ACCOUNT_FIELDS:
                raise ValidationError({name: "is not a billing detail"})
            setattr(account, name, value)
        account.currency = account.currency.upper()
        account.full_clean(exclude=["tenant"])
        account.save()
        audit_record(
            actor=actor,
            action="billing_account.changed" if before else "billing_account.created",
            target=account,
            tenant_id=tenant_id,
            before=before,
            after=snapshot(account, ACCOUNT_FIELDS),
        )
    return account


def plan_create(*, actor: Actor, tenant_id: uuid.UUID, **fields: Any) -> Plan:
    """A tenant's plan from ``effective_from`` on. Plans are not edited: a change is a
    new plan from a later day (a change mid-month is prorated on the invoice)."""
    rates = fields.get("token_rates") or {}
    for model, rate in rates.items():
        try:
            valid = Decimal(str(rate)) >= 0
        except ArithmeticError:
            valid = False
        if not valid:
            raise ValidationError({"token_rates": f"{model}: not a non-negative decimal"})
    with transaction.atomic(), tenant_context(tenant_id):
        plan = Plan(tenant_id=tenant_id, **fields)
        plan.token_rates = {model: str(rate) for model, rate in rates.items()}
        plan.full_clean(exclude=["tenant"])
        plan.save(force_insert=True)
        audit_record(
            actor=actor,
            action="plan.created",
            target=plan,
            tenant_id=tenant_id,
            after=snapshot(plan, Plan.AUDIT_FIELDS),
        )
    return plan

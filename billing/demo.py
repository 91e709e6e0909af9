"""The demo's billing: the MSP's invoicing entity, each demo tenant's billing details and
plan, last month closed from the demo history (Acme's and Globex's invoices issued, with
their PDF; Initech's above the review threshold, waiting for a staff member's approval)
and this month rated so far, so the portal's Invoices page and the console's Billing page
have a month to show the moment the demo starts."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from billing.closing import month_close, month_rate
from billing.drafts import draft_refresh, month_start
from billing.models import Invoice, Issuer
from billing.services import billing_account_set, issuer_create, plan_create
from controlplane.audit.services import Actor
from tenants.demo import demo_tenants

ACTOR = Actor.system("seed_demo")
# Per tenant: billing details and plan. Initech's minimum commitment takes its invoice
# above the issuer's review threshold.
ACCOUNTS: dict[str, dict[str, Any]] = {
    "acme": {
        "account": {
            "legal_name": "Acme Corporation Ltd",
            "address": "12 Foundry Lane\nManchester M4 6AG\nUnited Kingdom",
            "tax_id": "GB248771304",
            "tax_rate": Decimal("20"),
            "email": "accounts.payable@acme.example",
        },
        "plan": {
            "name": "Managed Growth",
            "platform_fee": Decimal("1200"),
            "per_agent_fee": Decimal("45"),
            "markup_percent": Decimal("25"),
        },
    },
    "globex": {
        "account": {
            "legal_name": "Globex Corporation Inc.",
            "address": "400 Cypress Creek Road\nSpringfield OR 97477\nUSA",
            "tax_id": "US-47-1234567",
            "tax_rate": Decimal("7.25"),
            "email": "ap@globex.example",
        },
        "plan": {
            "name": "Managed Essentials",
            "platform_fee": Decimal("800"),
            "per_agent_fee": Decimal("30"),
            "token_rates": {"*": "4.00"},  # per million tokens, any model
            "included_usage": Decimal("50"),
        },
    },
    "initech": {
        "account": {
            "legal_name": "Initech LLC",
            "address": "4120 Freidrich Lane\nAustin TX 78744\nUSA",
            "tax_id": "US-74-7654321",
            "tax_rate": Decimal("8.25"),
            "email": "billing@initech.example",
        },
        "plan": {
            "name": "Managed Enterprise",
            "platform_fee": Decimal("900"),
            "markup_percent": Decimal("30"),
            "minimum_commitment": Decimal("3000"),
        },
    },
}


def seed_demo_billing(*, now: dt.datetime | None = None) -> list[Invoice] | None:
    """Everything above, once: last month's invoices, or None when the issuer exists."""
    if settings.IS_PRODUCTION:
        raise ImproperlyConfigured("The demo data is never loaded in production.")
    if Issuer.objects.exists():
        return None
    today = (now or timezone.now()).date()
    this_month = month_start(today)
    last_month = month_start(this_month - dt.timedelta(days=1))
    issuer = issuer_create(
        actor=ACTOR,
        name="Northwind Managed AI Ltd",
        address="1 Harbour Street\nBristol BS1 4RN\nUnited Kingdom",
        tax_id="GB123456789",
        invoice_prefix="NW-",
        credit_note_prefix="NW-CN-",
        review_threshold=Decimal("3000"),
    )
    invoices = []
    for tenant in demo_tenants():
        details = ACCOUNTS[tenant.slug]
        billing_account_set(
            actor=ACTOR, tenant_id=tenant.pk, issuer=issuer, currency="USD", **details["account"]
        )
        plan_create(actor=ACTOR, tenant_id=tenant.pk, effective_from=last_month, **details["plan"])
        invoice = month_close(tenant_id=tenant.pk, month=last_month)
        if invoice is not None:
            invoices.append(invoice)
        month_rate(tenant_id=tenant.pk, month=this_month)
        draft_refresh(tenant_id=tenant.pk, month=this_month)
    return invoices

from django.apps import AppConfig


class BillingConfig(AppConfig):
    """Token-metered billing: monthly invoices from the Postgres ledger (billing issue)."""

    name = "billing"

from django.db import migrations

from controlplane.core.tenancy import EnableRowLevelSecurity


class Migration(migrations.Migration):
    dependencies = [("billing", "0003_invoicing")]

    operations = [
        EnableRowLevelSecurity(name)
        for name in (
            "BillingAccount",
            "Plan",
            "RatedUsage",
            "Invoice",
            "InvoiceLine",
            "CreditNote",
        )
    ]

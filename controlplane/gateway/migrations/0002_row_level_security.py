from django.db import migrations

from controlplane.core.tenancy import EnableRowLevelSecurity
from controlplane.gateway.tenancy import EnableSharedRowLevelSecurity


class Migration(migrations.Migration):
    dependencies = [("gateway", "0001_initial")]

    operations = [
        # MSP-wide rows (tenant NULL) readable from every tenant scope, written only
        # under all_tenants_context; a tenant's rows as everywhere else.
        EnableSharedRowLevelSecurity("Provider"),
        EnableSharedRowLevelSecurity("Route"),
        # The standard policy: a NULL tenant (an MSP-wide provider's credential) matches
        # no tenant, so it is read only under all_tenants_context.
        EnableRowLevelSecurity("ProviderCredential"),
        EnableRowLevelSecurity("Policy"),
        EnableRowLevelSecurity("RoleDefault"),
        EnableRowLevelSecurity("Budget"),
        EnableRowLevelSecurity("BudgetAllowance"),
        EnableRowLevelSecurity("ConfigChange"),
    ]

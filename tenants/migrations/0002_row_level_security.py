from django.db import migrations

from controlplane.core.tenancy import EnableRowLevelSecurity


class Migration(migrations.Migration):
    dependencies = [("tenants", "0001_initial")]

    operations = [
        EnableRowLevelSecurity("Department"),
        EnableRowLevelSecurity("Membership"),
        EnableRowLevelSecurity("Invitation"),
    ]

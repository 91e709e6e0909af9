from django.db import migrations

from controlplane.core.tenancy import EnableRowLevelSecurity


class Migration(migrations.Migration):
    dependencies = [("agents", "0001_initial")]

    operations = [
        EnableRowLevelSecurity("Site"),
        EnableRowLevelSecurity("EdgeNode"),
        EnableRowLevelSecurity("Device"),
        EnableRowLevelSecurity("Agent"),
        EnableRowLevelSecurity("AgentKey"),
    ]

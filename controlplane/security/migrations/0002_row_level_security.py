from django.db import migrations

from controlplane.core.tenancy import EnableRowLevelSecurity


class Migration(migrations.Migration):
    dependencies = [("security", "0001_initial")]

    operations = [
        EnableRowLevelSecurity("SecuritySettings"),
        EnableRowLevelSecurity("DetectionCursor"),
        EnableRowLevelSecurity("Incident"),
        EnableRowLevelSecurity("Alert"),
        EnableRowLevelSecurity("Note"),
        EnableRowLevelSecurity("MaintenanceWindow"),
        EnableRowLevelSecurity("AcceptedBehaviour"),
        EnableRowLevelSecurity("Quarantine"),
        EnableRowLevelSecurity("Notification"),
    ]

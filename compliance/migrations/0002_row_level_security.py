from django.db import migrations

from controlplane.core.tenancy import EnableRowLevelSecurity


class Migration(migrations.Migration):
    dependencies = [("compliance", "0001_initial")]

    operations = [EnableRowLevelSecurity("DataFlowSnapshot")]

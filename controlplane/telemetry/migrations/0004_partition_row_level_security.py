"""Forced RLS on every monthly partition of the ledger that exists: a partition queried by
name does not go through its parent's policy. ``ensure_partitions`` does the same for each
partition it creates from now on."""

from typing import Any

from django.db import migrations

from controlplane.telemetry.partitions import existing_partitions, partition_name, protect


def forwards(apps: Any, schema_editor: Any) -> None:
    for month in existing_partitions():
        protect(partition_name(month))


class Migration(migrations.Migration):
    dependencies = [("telemetry", "0003_deadletter")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]

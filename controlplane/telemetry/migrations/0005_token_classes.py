from django.db import migrations

# Parts of input_tokens and output_tokens priced apart (docs/decisions/0019-token-classes.md).
# Adding a column with a constant default is a catalogue change in PostgreSQL 11+, so
# this does not rewrite the partitions.
TOKEN_CLASSES = """
ALTER TABLE telemetry_usageevent
    ADD COLUMN cached_input_tokens integer NOT NULL DEFAULT 0
        CHECK (cached_input_tokens >= 0),
    ADD COLUMN cache_write_tokens integer NOT NULL DEFAULT 0
        CHECK (cache_write_tokens >= 0),
    ADD COLUMN reasoning_tokens integer NOT NULL DEFAULT 0
        CHECK (reasoning_tokens >= 0);
"""
DROP = """
ALTER TABLE telemetry_usageevent
    DROP COLUMN cached_input_tokens,
    DROP COLUMN cache_write_tokens,
    DROP COLUMN reasoning_tokens;
"""


class Migration(migrations.Migration):
    dependencies = [("telemetry", "0004_partition_row_level_security")]

    operations = [migrations.RunSQL(TOKEN_CLASSES, DROP)]

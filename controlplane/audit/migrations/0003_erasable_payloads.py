from django.db import migrations, models

# Decision 0036: the personal fields of an entry that has a payload digest may be
# blanked once, by a recorded erasure; everything the chain hashes must stay as it was.
# Anything else is still refused, as in 0002.
ERASABLE = """
CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.payload_sha256 <> '' AND OLD.erasure IS NULL
       AND NEW.erasure IS NOT NULL
       AND NEW.id = OLD.id AND NEW.seq = OLD.seq
       AND NEW.tenant_id IS NOT DISTINCT FROM OLD.tenant_id
       AND NEW.occurred_at = OLD.occurred_at AND NEW.actor_kind = OLD.actor_kind
       AND NEW.actor_id IS NOT DISTINCT FROM OLD.actor_id AND NEW.action = OLD.action
       AND NEW.target_type = OLD.target_type AND NEW.target_id = OLD.target_id
       AND NEW.payload_sha256 = OLD.payload_sha256 AND NEW.prev_hash = OLD.prev_hash
       AND NEW.hash = OLD.hash
       AND NEW.actor_label = '[erased]' AND NEW.target_label = '[erased]'
       AND NEW.ip IS NULL AND NEW.before IS NULL AND NEW.after IS NULL THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'the audit trail is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""

APPEND_ONLY = """
CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_append_only")]

    operations = [
        migrations.AddField(
            model_name="auditevent",
            name="erasure",
            field=models.JSONField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="payload_sha256",
            field=models.CharField(blank=True, default="", max_length=64),
        ),
        migrations.RunSQL(ERASABLE, APPEND_ONLY),
    ]

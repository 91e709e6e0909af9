from django.db import migrations, models

# Decision 0045: records of format 2 hash their personal parts apart, so a data
# subject's erasure may rewrite them: one UPDATE shape, inside
# compliance.subjects.evidence_erase (which sets ``controlplane.evidence_erasure`` for its
# transaction), that changes only summary, metrics, failing_entities, population and
# erasure. Every other UPDATE is still refused; DELETE and TRUNCATE as in 0006.
# Records written before keep format 1 (the column's default while it is added).
ERASABLE = """
CREATE OR REPLACE FUNCTION evidence_refuse_change() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE'
       AND current_setting('controlplane.evidence_disposal', true) = 'on'
       AND OLD.seq <= (
           SELECT floor_seq FROM compliance_evidencechainhead
           WHERE tenant_id IS NOT DISTINCT FROM OLD.tenant_id
       ) THEN
        RETURN OLD;
    END IF;
    IF TG_OP = 'UPDATE'
       AND current_setting('controlplane.evidence_erasure', true) = 'on'
       AND OLD.format_version >= 2
       AND NEW.erasure IS NOT NULL AND NEW.erasure IS DISTINCT FROM OLD.erasure
       AND (NEW.id, NEW.tenant_id, NEW.seq, NEW.control_id, NEW.control_test_id,
            NEW.test_run_id, NEW.control_code, NEW.test_key, NEW.test_version,
            NEW.catalog_version, NEW.recorded_at, NEW.period_start, NEW.period_end,
            NEW.valid_until, NEW.result, NEW.query_text, NEW.query_params,
            NEW.population_count, NEW.failing_count, NEW.data_sha256, NEW.exception_id,
            NEW.format_version, NEW.personal_sha256, NEW.prev_hash, NEW.hash)
           IS NOT DISTINCT FROM
           (OLD.id, OLD.tenant_id, OLD.seq, OLD.control_id, OLD.control_test_id,
            OLD.test_run_id, OLD.control_code, OLD.test_key, OLD.test_version,
            OLD.catalog_version, OLD.recorded_at, OLD.period_start, OLD.period_end,
            OLD.valid_until, OLD.result, OLD.query_text, OLD.query_params,
            OLD.population_count, OLD.failing_count, OLD.data_sha256, OLD.exception_id,
            OLD.format_version, OLD.personal_sha256, OLD.prev_hash, OLD.hash) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'evidence records are immutable (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""

UNDER_FLOOR = """
CREATE OR REPLACE FUNCTION evidence_refuse_change() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE'
       AND current_setting('controlplane.evidence_disposal', true) = 'on'
       AND OLD.seq <= (
           SELECT floor_seq FROM compliance_evidencechainhead
           WHERE tenant_id IS NOT DISTINCT FROM OLD.tenant_id
       ) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'evidence records are immutable (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""


class Migration(migrations.Migration):
    dependencies = [("compliance", "0006_evidence_delete_under_floor")]

    operations = [
        migrations.AddField(
            model_name="evidencerecord",
            name="format_version",
            field=models.PositiveSmallIntegerField(default=1),
        ),
        migrations.AlterField(
            model_name="evidencerecord",
            name="format_version",
            field=models.PositiveSmallIntegerField(default=2),
        ),
        migrations.AddField(
            model_name="evidencerecord",
            name="personal_sha256",
            field=models.CharField(blank=True, default="", max_length=64),
        ),
        migrations.AddField(
            model_name="evidencerecord",
            name="erasure",
            field=models.JSONField(blank=True, null=True),
        ),
        migrations.RunSQL(ERASABLE, UNDER_FLOOR),
    ]

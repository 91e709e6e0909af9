from django.db import migrations

# Evidence is immutable: no UPDATE ever, no TRUNCATE outside the test runner's
# throw-away databases, and DELETE only by a retention disposal, which sets
# ``controlplane.evidence_disposal`` for its transaction and moves the chain's floor
# (EvidenceChainHead.floor_seq / floor_hash) in the same transaction.
APPEND_ONLY = """
CREATE OR REPLACE FUNCTION evidence_refuse_change() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE'
       AND current_setting('controlplane.evidence_disposal', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'evidence records are immutable (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION evidence_refuse_truncate() RETURNS trigger AS $$
BEGIN
    IF to_regclass('disposable_test_database') IS NOT NULL THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'evidence records are immutable (TRUNCATE refused)'
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER evidence_record_immutable
    BEFORE UPDATE OR DELETE ON compliance_evidencerecord
    FOR EACH ROW EXECUTE FUNCTION evidence_refuse_change();
CREATE TRIGGER evidence_record_no_truncate
    BEFORE TRUNCATE ON compliance_evidencerecord
    FOR EACH STATEMENT EXECUTE FUNCTION evidence_refuse_truncate();
"""

DROP_APPEND_ONLY = """
DROP TRIGGER IF EXISTS evidence_record_immutable ON compliance_evidencerecord;
DROP TRIGGER IF EXISTS evidence_record_no_truncate ON compliance_evidencerecord;
DROP FUNCTION IF EXISTS evidence_refuse_change();
DROP FUNCTION IF EXISTS evidence_refuse_truncate();
"""


class Migration(migrations.Migration):
    dependencies = [("compliance", "0003_controls_and_evidence")]

    operations = [migrations.RunSQL(APPEND_ONLY, DROP_APPEND_ONLY)]

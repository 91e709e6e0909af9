from django.db import migrations

# A disposal (compliance.evidence.evidence_dispose) first moves its chain's floor, then
# deletes with ``controlplane.evidence_disposal`` on; the trigger now also requires the
# row to be at or under its chain's floor, so the setting alone cannot cut a record out
# of the middle of a chain (the verifier would name it, but the row would be gone).
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

SETTING_ONLY = """
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
"""


class Migration(migrations.Migration):
    dependencies = [("compliance", "0005_evidence_packages")]

    operations = [migrations.RunSQL(UNDER_FLOOR, SETTING_ONLY)]

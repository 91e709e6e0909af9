from django.db import migrations

from controlplane.core.tenancy import EnableRowLevelSecurity

LEDGER = """
CREATE TABLE telemetry_usageevent (
    event_id uuid NOT NULL,
    occurred_at timestamptz NOT NULL,
    tenant_id uuid NOT NULL,
    department_id uuid,
    agent_id uuid NOT NULL,
    device_id uuid,
    site_id uuid,
    edge_node_id uuid NOT NULL,
    trace_id varchar(32) NOT NULL,
    span_id varchar(16) NOT NULL,
    parent_span_id varchar(16) NOT NULL DEFAULT '',
    kind varchar(10) NOT NULL,
    name varchar(200) NOT NULL DEFAULT '',
    provider varchar(100) NOT NULL DEFAULT '',
    model varchar(200) NOT NULL DEFAULT '',
    tool varchar(200) NOT NULL DEFAULT '',
    input_tokens integer NOT NULL DEFAULT 0 CHECK (input_tokens >= 0),
    output_tokens integer NOT NULL DEFAULT 0 CHECK (output_tokens >= 0),
    cost numeric(18, 9) NOT NULL DEFAULT 0,
    status varchar(10) NOT NULL,
    latency_ms double precision NOT NULL DEFAULT 0,
    content_hash char(64) NOT NULL,
    ingested_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, occurred_at)
) PARTITION BY RANGE (occurred_at);

CREATE INDEX telemetry_usageevent_tenant_time
    ON telemetry_usageevent (tenant_id, occurred_at);
CREATE INDEX telemetry_usageevent_agent_time
    ON telemetry_usageevent (tenant_id, agent_id, occurred_at);
"""


class Migration(migrations.Migration):
    dependencies = [("telemetry", "0001_initial")]

    operations = [
        migrations.RunSQL(LEDGER, "DROP TABLE telemetry_usageevent;"),
        EnableRowLevelSecurity("UsageEvent"),
        EnableRowLevelSecurity("ReconciliationRun"),
    ]

-- spans_minute made again with granules of 1,024 rows instead of ClickHouse's 8,192
-- (docs/decisions/0061-minute-rollup-finer-granules.md). Every fleet read of the open
-- hour (every tenant's last minutes: the staff fleet view's usage and sparklines) takes
-- at least one granule of each tenant in each part, since the table is ordered by tenant
-- first: with 8,192-row granules that is most of a month's part for a few thousand
-- rows wanted. index_granularity cannot be altered, so the table is rebuilt and swapped.
--
-- Written so that running it again after a failure at any statement is safe: the views
-- that write into spans_minute go first (inserts until they are made again miss
-- spans_minute and the tables chained from it, as in 0009 and 0013: migrate before the
-- pull workers start); a leftover spans_minute_0014 (a partial copy, or the old table
-- after the swap) is dropped; spans_minute, complete whichever it is, is copied again.
DROP VIEW IF EXISTS spans_minute_mv $ON_CLUSTER;
DROP VIEW IF EXISTS tenants_hour_mv $ON_CLUSTER;
DROP VIEW IF EXISTS tenants_quarter_hour_mv $ON_CLUSTER;
DROP VIEW IF EXISTS spans_hour_mv $ON_CLUSTER;
DROP VIEW IF EXISTS agents_hour_mv $ON_CLUSTER;
DROP VIEW IF EXISTS agent_models_hour_mv $ON_CLUSTER;

DROP TABLE IF EXISTS spans_minute_0014 $ON_CLUSTER SYNC;

CREATE TABLE IF NOT EXISTS spans_minute_0014 $ON_CLUSTER AS spans_minute
ENGINE = $ENGINE(AggregatingMergeTree, spans_minute_0014)
PARTITION BY toYYYYMM(minute)
ORDER BY (tenant_id, minute, agent_id, department_id, kind, provider, model, tool, status)
SETTINGS index_granularity = 1024,
    non_replicated_deduplication_window = 10000,
    replicated_deduplication_window = 10000;

INSERT INTO spans_minute_0014 SELECT * FROM spans_minute;

EXCHANGE TABLES spans_minute AND spans_minute_0014 $ON_CLUSTER;

DROP TABLE IF EXISTS spans_minute_0014 $ON_CLUSTER SYNC;

-- The views as 0013 (spans_minute_mv) and 0009 (the tables chained from it) made them.
CREATE MATERIALIZED VIEW IF NOT EXISTS spans_minute_mv $ON_CLUSTER TO spans_minute AS
SELECT
    tenant_id,
    toStartOfMinute(toDateTime(start_time, 'UTC')) AS minute,
    department_id,
    agent_id,
    kind,
    provider,
    model,
    tool,
    status,
    toUInt64(count()) AS requests,
    toUInt64(countIf(status != 'ok')) AS errors,
    toUInt64(sum(input_tokens)) AS input_tokens,
    toUInt64(sum(output_tokens)) AS output_tokens,
    toDecimal128(sum(cost), 9) AS cost,
    sum(duration_ms) AS duration_ms_sum,
    max(duration_ms) AS duration_ms_max,
    quantileTimingState(duration_ms) AS duration_ms_timing
FROM spans
GROUP BY tenant_id, minute, department_id, agent_id, kind, provider, model, tool, status;

CREATE MATERIALIZED VIEW IF NOT EXISTS tenants_hour_mv $ON_CLUSTER TO tenants_hour AS
SELECT
    tenant_id,
    toStartOfHour(minute) AS hour,
    status,
    sum(requests) AS requests,
    sum(errors) AS errors,
    sum(input_tokens) AS input_tokens,
    sum(output_tokens) AS output_tokens,
    sum(cost) AS cost,
    sum(duration_ms_sum) AS duration_ms_sum,
    max(duration_ms_max) AS duration_ms_max,
    quantileTimingMergeState(duration_ms_timing) AS duration_ms_timing
FROM spans_minute
GROUP BY tenant_id, hour, status;

CREATE MATERIALIZED VIEW IF NOT EXISTS tenants_quarter_hour_mv $ON_CLUSTER TO tenants_quarter_hour AS
SELECT
    tenant_id,
    toStartOfFifteenMinutes(minute) AS quarter_hour,
    status,
    sum(requests) AS requests,
    sum(errors) AS errors,
    sum(input_tokens) AS input_tokens,
    sum(output_tokens) AS output_tokens,
    sum(cost) AS cost,
    sum(duration_ms_sum) AS duration_ms_sum,
    max(duration_ms_max) AS duration_ms_max,
    quantileTimingMergeState(duration_ms_timing) AS duration_ms_timing
FROM spans_minute
GROUP BY tenant_id, quarter_hour, status;

CREATE MATERIALIZED VIEW IF NOT EXISTS spans_hour_mv $ON_CLUSTER TO spans_hour AS
SELECT
    tenant_id,
    toStartOfHour(minute) AS hour,
    department_id,
    kind,
    provider,
    model,
    tool,
    status,
    sum(requests) AS requests,
    sum(errors) AS errors,
    sum(input_tokens) AS input_tokens,
    sum(output_tokens) AS output_tokens,
    sum(cost) AS cost,
    sum(duration_ms_sum) AS duration_ms_sum,
    max(duration_ms_max) AS duration_ms_max,
    quantileTimingMergeState(duration_ms_timing) AS duration_ms_timing
FROM spans_minute
GROUP BY tenant_id, hour, department_id, kind, provider, model, tool, status;

CREATE MATERIALIZED VIEW IF NOT EXISTS agents_hour_mv $ON_CLUSTER TO agents_hour AS
SELECT
    tenant_id,
    toStartOfHour(minute) AS hour,
    agent_id,
    department_id,
    status,
    sum(requests) AS requests,
    sum(errors) AS errors,
    sum(input_tokens) AS input_tokens,
    sum(output_tokens) AS output_tokens,
    sum(cost) AS cost,
    sum(duration_ms_sum) AS duration_ms_sum,
    max(duration_ms_max) AS duration_ms_max,
    quantileTimingMergeState(duration_ms_timing) AS duration_ms_timing
FROM spans_minute
GROUP BY tenant_id, hour, agent_id, department_id, status;

CREATE MATERIALIZED VIEW IF NOT EXISTS agent_models_hour_mv $ON_CLUSTER TO agent_models_hour AS
SELECT
    tenant_id,
    toStartOfHour(minute) AS hour,
    agent_id,
    department_id,
    kind,
    provider,
    model,
    status,
    sum(requests) AS requests,
    sum(errors) AS errors,
    sum(input_tokens) AS input_tokens,
    sum(output_tokens) AS output_tokens,
    sum(cost) AS cost,
    sum(duration_ms_sum) AS duration_ms_sum,
    max(duration_ms_max) AS duration_ms_max,
    quantileTimingMergeState(duration_ms_timing) AS duration_ms_timing
FROM spans_minute
GROUP BY tenant_id, hour, agent_id, department_id, kind, provider, model, status;

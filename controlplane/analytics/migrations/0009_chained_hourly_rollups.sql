-- The hourly and quarter-hour rollups of 0002 chained from the minute rollup
-- (docs/decisions/0042-ingest-fewer-larger-inserts.md): their views read the blocks spans_minute_mv
-- writes, a few hundred rows per 5,000-span insert, instead of every span again. Each
-- of the five was a full aggregation of the inserted spans, with a quantileTiming
-- state per group; now only spans_minute_mv aggregates the spans, and the others
-- merge its states.
--
-- spans_minute keeps a quantileTiming state of the latency next to its t-digest (which
-- the minute dashboards read): merging quantileTiming states gives the state of all
-- their values, so the hourly tables hold the same states as before, and the same sums
-- and maxima (duration_ms_sum is a sum of per-minute sums, equal up to the rounding of
-- floating-point addition). Rows of spans_minute from before this file have an empty
-- state in the new column; nothing reads it but the views, on new inserts.
--
-- The deduplication of retried inserts carries through the chain as it does for the
-- daily views of 0007 (a block dropped in spans feeds no view). Views are replaced, not
-- altered: inserts between a DROP and its CREATE are missing from that table, so migrate
-- before the pull workers start, as for 0002 and 0007.
ALTER TABLE spans_minute $ON_CLUSTER
    ADD COLUMN IF NOT EXISTS duration_ms_timing AggregateFunction(quantileTiming, Float64);

DROP VIEW IF EXISTS spans_minute_mv $ON_CLUSTER;

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
    quantileTDigestState(duration_ms) AS duration_ms_digest,
    quantileTimingState(duration_ms) AS duration_ms_timing
FROM spans
GROUP BY tenant_id, minute, department_id, agent_id, kind, provider, model, tool, status;

DROP VIEW IF EXISTS tenants_hour_mv $ON_CLUSTER;

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

DROP VIEW IF EXISTS tenants_quarter_hour_mv $ON_CLUSTER;

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

DROP VIEW IF EXISTS spans_hour_mv $ON_CLUSTER;

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

DROP VIEW IF EXISTS agents_hour_mv $ON_CLUSTER;

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

DROP VIEW IF EXISTS agent_models_hour_mv $ON_CLUSTER;

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

-- Daily rollups for the dashboards' 7- and 30-day windows
-- (docs/decisions/0038-dashboard-panels.md), each fed by a materialized view on an
-- hourly rollup (a chained view: it sees the blocks the hourly view writes, a few
-- thousand rows per insert, not the spans):
--
--   spans_day        <- spans_hour       breakdowns with a filter (provider, model,
--                                        department, a person's departments)
--   agents_day       <- agents_hour      agent breakdowns and hotspots
--   breakdowns_hour  <- spans_hour       unfiltered breakdowns by provider, model,
--   breakdowns_day   <- breakdowns_hour  department and tool, and the providers'
--                                        availability
--
-- spans_day and agents_day are their hourly tables with the hour truncated to its UTC
-- day. breakdowns_hour holds each row of spans_hour once per breakdown (`dimension`
-- provider, model, department, tool; `served`: a provider's model calls the gateway let
-- through, its availability), the breakdown's value as `key` (a department's id as
-- text): one query reads every breakdown and merges each latency state once, where
-- grouping spans_hour by each breakdown in turn merged it once per breakdown.
--
-- A window of whole hours reads its whole UTC days from a daily table and the hours
-- before and after them from the hourly one, in one query (UNION ALL): the same sums and
-- the same quantileTiming states (controlplane/dashboards/rollups.py).
--
-- Backfill: from the hourly table, before the view exists and only while the table is
-- empty, as in 0002 (rows inserted in between are missing: migrate before the workers
-- start).

CREATE TABLE IF NOT EXISTS spans_day $ON_CLUSTER
(
    tenant_id UUID,
    day DateTime('UTC') CODEC(DoubleDelta, ZSTD(1)),
    department_id UUID,
    kind LowCardinality(String),
    provider LowCardinality(String),
    model LowCardinality(String),
    tool LowCardinality(String),
    status LowCardinality(String),
    requests SimpleAggregateFunction(sum, UInt64),
    errors SimpleAggregateFunction(sum, UInt64),
    input_tokens SimpleAggregateFunction(sum, UInt64),
    output_tokens SimpleAggregateFunction(sum, UInt64),
    cost SimpleAggregateFunction(sum, Decimal(38, 9)),
    duration_ms_sum SimpleAggregateFunction(sum, Float64),
    duration_ms_max SimpleAggregateFunction(max, Float64),
    duration_ms_timing AggregateFunction(quantileTiming, Float64)
)
ENGINE = $ENGINE(AggregatingMergeTree, spans_day)
PARTITION BY toYYYYMM(day)
ORDER BY (tenant_id, day, department_id, kind, provider, model, tool, status)
SETTINGS non_replicated_deduplication_window = 10000, replicated_deduplication_window = 10000;

INSERT INTO spans_day
SELECT
    tenant_id,
    toStartOfDay(hour) AS day,
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
FROM spans_hour
WHERE (SELECT count() FROM spans_day) = 0
GROUP BY tenant_id, day, department_id, kind, provider, model, tool, status;

CREATE MATERIALIZED VIEW IF NOT EXISTS spans_day_mv $ON_CLUSTER TO spans_day AS
SELECT
    tenant_id,
    toStartOfDay(hour) AS day,
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
FROM spans_hour
GROUP BY tenant_id, day, department_id, kind, provider, model, tool, status;

CREATE TABLE IF NOT EXISTS agents_day $ON_CLUSTER
(
    tenant_id UUID,
    day DateTime('UTC') CODEC(DoubleDelta, ZSTD(1)),
    agent_id UUID,
    department_id UUID,
    status LowCardinality(String),
    requests SimpleAggregateFunction(sum, UInt64),
    errors SimpleAggregateFunction(sum, UInt64),
    input_tokens SimpleAggregateFunction(sum, UInt64),
    output_tokens SimpleAggregateFunction(sum, UInt64),
    cost SimpleAggregateFunction(sum, Decimal(38, 9)),
    duration_ms_sum SimpleAggregateFunction(sum, Float64),
    duration_ms_max SimpleAggregateFunction(max, Float64),
    duration_ms_timing AggregateFunction(quantileTiming, Float64)
)
ENGINE = $ENGINE(AggregatingMergeTree, agents_day)
PARTITION BY toYYYYMM(day)
ORDER BY (tenant_id, day, agent_id, department_id, status)
SETTINGS non_replicated_deduplication_window = 10000, replicated_deduplication_window = 10000;

INSERT INTO agents_day
SELECT
    tenant_id,
    toStartOfDay(hour) AS day,
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
FROM agents_hour
WHERE (SELECT count() FROM agents_day) = 0
GROUP BY tenant_id, day, agent_id, department_id, status;

CREATE MATERIALIZED VIEW IF NOT EXISTS agents_day_mv $ON_CLUSTER TO agents_day AS
SELECT
    tenant_id,
    toStartOfDay(hour) AS day,
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
FROM agents_hour
GROUP BY tenant_id, day, agent_id, department_id, status;


CREATE TABLE IF NOT EXISTS breakdowns_hour $ON_CLUSTER
(
    tenant_id UUID,
    hour DateTime('UTC') CODEC(DoubleDelta, ZSTD(1)),
    dimension LowCardinality(String),
    key String,
    status LowCardinality(String),
    requests SimpleAggregateFunction(sum, UInt64),
    input_tokens SimpleAggregateFunction(sum, UInt64),
    output_tokens SimpleAggregateFunction(sum, UInt64),
    cost SimpleAggregateFunction(sum, Decimal(38, 9)),
    duration_ms_timing AggregateFunction(quantileTiming, Float64)
)
ENGINE = $ENGINE(AggregatingMergeTree, breakdowns_hour)
PARTITION BY toYYYYMM(hour)
ORDER BY (tenant_id, hour, dimension, key, status)
SETTINGS non_replicated_deduplication_window = 10000, replicated_deduplication_window = 10000;

INSERT INTO breakdowns_hour
SELECT
    tenant_id,
    hour,
    breakdown.1 AS dimension,
    breakdown.2 AS key,
    status,
    sum(requests) AS requests,
    sum(input_tokens) AS input_tokens,
    sum(output_tokens) AS output_tokens,
    sum(cost) AS cost,
    quantileTimingMergeState(duration_ms_timing) AS duration_ms_timing
FROM spans_hour
ARRAY JOIN arrayConcat(
    [('provider', provider), ('model', model), ('department', toString(department_id)), ('tool', tool)],
    if(kind = 'model' AND status != 'refused', [('served', provider)], [])
) AS breakdown
WHERE (SELECT count() FROM breakdowns_hour) = 0
GROUP BY tenant_id, hour, dimension, key, status;

CREATE MATERIALIZED VIEW IF NOT EXISTS breakdowns_hour_mv $ON_CLUSTER TO breakdowns_hour AS
SELECT
    tenant_id,
    hour,
    breakdown.1 AS dimension,
    breakdown.2 AS key,
    status,
    sum(requests) AS requests,
    sum(input_tokens) AS input_tokens,
    sum(output_tokens) AS output_tokens,
    sum(cost) AS cost,
    quantileTimingMergeState(duration_ms_timing) AS duration_ms_timing
FROM spans_hour
ARRAY JOIN arrayConcat(
    [('provider', provider), ('model', model), ('department', toString(department_id)), ('tool', tool)],
    if(kind = 'model' AND status != 'refused', [('served', provider)], [])
) AS breakdown
GROUP BY tenant_id, hour, dimension, key, status;

CREATE TABLE IF NOT EXISTS breakdowns_day $ON_CLUSTER
(
    tenant_id UUID,
    day DateTime('UTC') CODEC(DoubleDelta, ZSTD(1)),
    dimension LowCardinality(String),
    key String,
    status LowCardinality(String),
    requests SimpleAggregateFunction(sum, UInt64),
    input_tokens SimpleAggregateFunction(sum, UInt64),
    output_tokens SimpleAggregateFunction(sum, UInt64),
    cost SimpleAggregateFunction(sum, Decimal(38, 9)),
    duration_ms_timing AggregateFunction(quantileTiming, Float64)
)
ENGINE = $ENGINE(AggregatingMergeTree, breakdowns_day)
PARTITION BY toYYYYMM(day)
ORDER BY (tenant_id, day, dimension, key, status)
SETTINGS non_replicated_deduplication_window = 10000, replicated_deduplication_window = 10000;

INSERT INTO breakdowns_day
SELECT
    tenant_id,
    toStartOfDay(hour) AS day,
    dimension,
    key,
    status,
    sum(requests) AS requests,
    sum(input_tokens) AS input_tokens,
    sum(output_tokens) AS output_tokens,
    sum(cost) AS cost,
    quantileTimingMergeState(duration_ms_timing) AS duration_ms_timing
FROM breakdowns_hour
WHERE (SELECT count() FROM breakdowns_day) = 0
GROUP BY tenant_id, day, dimension, key, status;

CREATE MATERIALIZED VIEW IF NOT EXISTS breakdowns_day_mv $ON_CLUSTER TO breakdowns_day AS
SELECT
    tenant_id,
    toStartOfDay(hour) AS day,
    dimension,
    key,
    status,
    sum(requests) AS requests,
    sum(input_tokens) AS input_tokens,
    sum(output_tokens) AS output_tokens,
    sum(cost) AS cost,
    quantileTimingMergeState(duration_ms_timing) AS duration_ms_timing
FROM breakdowns_hour
GROUP BY tenant_id, day, dimension, key, status;

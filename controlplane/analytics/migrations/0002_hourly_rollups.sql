-- Coarser rollups for the dashboards' 24-hour, 7-day and 30-day ranges and the fleet view
-- (docs/decisions/0010-dashboard-rollups.md). With thousands of agents the per-minute,
-- per-agent rollup has nearly one row per span, so a month of a large tenant is millions
-- of rows to merge. Each table below drops dimensions as well as minutes:
--
--   tenants_hour          tenant, hour, status              fleet view, totals, series
--   tenants_quarter_hour  the same per 15 minutes           the same for 24 hours
--   spans_hour            tenant, hour, department, kind,   breakdowns, availability
--                         provider, model, tool, status
--   agents_hour           tenant, hour, agent, department,  agent breakdowns and filter
--                         status
--   agent_models_hour     + kind, provider, model           the agent with a provider or
--                                                           model filter (or breakdown)
--
-- controlplane/dashboards/queries.py reads the smallest table that holds every column a
-- query groups or filters by and whose time slots tile the window; else spans_minute.
-- Sums as SimpleAggregateFunction and the deduplication window for retried inserts as in
-- spans_minute, no TTL. Latency is a quantileTiming state, not a t-digest: merging a month
-- of states is what a 30-day panel spends its time on, and quantileTiming merges about
-- 2.5 times faster (bench/README.md). It is exact to the millisecond below 1,024 ms,
-- within 16 ms up to 30 s, and counts anything slower as 30 s: in the 7- and 30-day
-- ranges a p95 above 30 s shows as 30 s.
--
-- Backfill: each table is filled from spans, with the same SELECT as its view, before the
-- view exists and only while the table is empty, so running the file again adds nothing.
-- Spans past their retention are gone from spans (TTL) and so from the backfill; a span
-- inserted twice and already merged away by ReplacingMergeTree counts once. Spans inserted
-- between a backfill and the creation of its view are missing from that table: apply this
-- migration before the pull workers start (make run and the server stack migrate first).
CREATE TABLE IF NOT EXISTS tenants_hour $ON_CLUSTER
(
    tenant_id UUID,
    hour DateTime('UTC') CODEC(DoubleDelta, ZSTD(1)),
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
ENGINE = $ENGINE(AggregatingMergeTree, tenants_hour)
PARTITION BY toYYYYMM(hour)
ORDER BY (tenant_id, hour, status)
SETTINGS non_replicated_deduplication_window = 10000, replicated_deduplication_window = 10000;

INSERT INTO tenants_hour
SELECT
    tenant_id,
    toStartOfHour(toDateTime(start_time, 'UTC')) AS hour,
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
WHERE (SELECT count() FROM tenants_hour) = 0
GROUP BY tenant_id, hour, status;

CREATE MATERIALIZED VIEW IF NOT EXISTS tenants_hour_mv $ON_CLUSTER TO tenants_hour AS
SELECT
    tenant_id,
    toStartOfHour(toDateTime(start_time, 'UTC')) AS hour,
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
GROUP BY tenant_id, hour, status;

CREATE TABLE IF NOT EXISTS tenants_quarter_hour $ON_CLUSTER
(
    tenant_id UUID,
    quarter_hour DateTime('UTC') CODEC(DoubleDelta, ZSTD(1)),
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
ENGINE = $ENGINE(AggregatingMergeTree, tenants_quarter_hour)
PARTITION BY toYYYYMM(quarter_hour)
ORDER BY (tenant_id, quarter_hour, status)
SETTINGS non_replicated_deduplication_window = 10000, replicated_deduplication_window = 10000;

INSERT INTO tenants_quarter_hour
SELECT
    tenant_id,
    toStartOfFifteenMinutes(toDateTime(start_time, 'UTC')) AS quarter_hour,
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
WHERE (SELECT count() FROM tenants_quarter_hour) = 0
GROUP BY tenant_id, quarter_hour, status;

CREATE MATERIALIZED VIEW IF NOT EXISTS tenants_quarter_hour_mv $ON_CLUSTER TO tenants_quarter_hour AS
SELECT
    tenant_id,
    toStartOfFifteenMinutes(toDateTime(start_time, 'UTC')) AS quarter_hour,
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
GROUP BY tenant_id, quarter_hour, status;

CREATE TABLE IF NOT EXISTS spans_hour $ON_CLUSTER
(
    tenant_id UUID,
    hour DateTime('UTC') CODEC(DoubleDelta, ZSTD(1)),
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
ENGINE = $ENGINE(AggregatingMergeTree, spans_hour)
PARTITION BY toYYYYMM(hour)
ORDER BY (tenant_id, hour, department_id, kind, provider, model, tool, status)
SETTINGS non_replicated_deduplication_window = 10000, replicated_deduplication_window = 10000;

INSERT INTO spans_hour
SELECT
    tenant_id,
    toStartOfHour(toDateTime(start_time, 'UTC')) AS hour,
    department_id,
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
WHERE (SELECT count() FROM spans_hour) = 0
GROUP BY tenant_id, hour, department_id, kind, provider, model, tool, status;

CREATE MATERIALIZED VIEW IF NOT EXISTS spans_hour_mv $ON_CLUSTER TO spans_hour AS
SELECT
    tenant_id,
    toStartOfHour(toDateTime(start_time, 'UTC')) AS hour,
    department_id,
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
GROUP BY tenant_id, hour, department_id, kind, provider, model, tool, status;

CREATE TABLE IF NOT EXISTS agents_hour $ON_CLUSTER
(
    tenant_id UUID,
    hour DateTime('UTC') CODEC(DoubleDelta, ZSTD(1)),
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
ENGINE = $ENGINE(AggregatingMergeTree, agents_hour)
PARTITION BY toYYYYMM(hour)
ORDER BY (tenant_id, hour, agent_id, department_id, status)
SETTINGS non_replicated_deduplication_window = 10000, replicated_deduplication_window = 10000;

INSERT INTO agents_hour
SELECT
    tenant_id,
    toStartOfHour(toDateTime(start_time, 'UTC')) AS hour,
    agent_id,
    department_id,
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
WHERE (SELECT count() FROM agents_hour) = 0
GROUP BY tenant_id, hour, agent_id, department_id, status;

CREATE MATERIALIZED VIEW IF NOT EXISTS agents_hour_mv $ON_CLUSTER TO agents_hour AS
SELECT
    tenant_id,
    toStartOfHour(toDateTime(start_time, 'UTC')) AS hour,
    agent_id,
    department_id,
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
GROUP BY tenant_id, hour, agent_id, department_id, status;

CREATE TABLE IF NOT EXISTS agent_models_hour $ON_CLUSTER
(
    tenant_id UUID,
    hour DateTime('UTC') CODEC(DoubleDelta, ZSTD(1)),
    agent_id UUID,
    department_id UUID,
    kind LowCardinality(String),
    provider LowCardinality(String),
    model LowCardinality(String),
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
ENGINE = $ENGINE(AggregatingMergeTree, agent_models_hour)
PARTITION BY toYYYYMM(hour)
ORDER BY (tenant_id, hour, agent_id, department_id, kind, provider, model, status)
SETTINGS non_replicated_deduplication_window = 10000, replicated_deduplication_window = 10000;

INSERT INTO agent_models_hour
SELECT
    tenant_id,
    toStartOfHour(toDateTime(start_time, 'UTC')) AS hour,
    agent_id,
    department_id,
    kind,
    provider,
    model,
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
WHERE (SELECT count() FROM agent_models_hour) = 0
GROUP BY tenant_id, hour, agent_id, department_id, kind, provider, model, status;

CREATE MATERIALIZED VIEW IF NOT EXISTS agent_models_hour_mv $ON_CLUSTER TO agent_models_hour AS
SELECT
    tenant_id,
    toStartOfHour(toDateTime(start_time, 'UTC')) AS hour,
    agent_id,
    department_id,
    kind,
    provider,
    model,
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
GROUP BY tenant_id, hour, agent_id, department_id, kind, provider, model, status;

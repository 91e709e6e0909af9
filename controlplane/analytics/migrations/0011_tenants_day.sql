-- A daily table of tenants_hour for the fleet view's 7- and 30-day windows
-- (docs/decisions/0047-fleet-view-from-daily-rows.md): tenant, UTC day, status. The fleet
-- reads every tenant's totals and latency over the window and the one before it; from
-- tenants_hour that is every hour's quantileTiming state of every tenant (some 300,000
-- rows for 60 days at 10 M events), from this table a twenty-fourth of them. As in 0007,
-- a chained view on the hourly table: the same sums and the same states, so reading whole
-- days from here changes no number (controlplane/dashboards/rollups.py reads the whole
-- UTC days of a window from it and the hours before and after them from tenants_hour).
--
-- Backfill: from tenants_hour, before the view exists and only while the table is empty,
-- as in 0007 (rows inserted in between are missing: migrate before the workers start).
CREATE TABLE IF NOT EXISTS tenants_day $ON_CLUSTER
(
    tenant_id UUID,
    day DateTime('UTC') CODEC(DoubleDelta, ZSTD(1)),
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
ENGINE = $ENGINE(AggregatingMergeTree, tenants_day)
PARTITION BY toYYYYMM(day)
ORDER BY (tenant_id, day, status)
SETTINGS non_replicated_deduplication_window = 10000, replicated_deduplication_window = 10000;

INSERT INTO tenants_day
SELECT
    tenant_id,
    toStartOfDay(hour) AS day,
    status,
    sum(requests) AS requests,
    sum(errors) AS errors,
    sum(input_tokens) AS input_tokens,
    sum(output_tokens) AS output_tokens,
    sum(cost) AS cost,
    sum(duration_ms_sum) AS duration_ms_sum,
    max(duration_ms_max) AS duration_ms_max,
    quantileTimingMergeState(duration_ms_timing) AS duration_ms_timing
FROM tenants_hour
WHERE (SELECT count() FROM tenants_day) = 0
GROUP BY tenant_id, day, status;

CREATE MATERIALIZED VIEW IF NOT EXISTS tenants_day_mv $ON_CLUSTER TO tenants_day AS
SELECT
    tenant_id,
    toStartOfDay(hour) AS day,
    status,
    sum(requests) AS requests,
    sum(errors) AS errors,
    sum(input_tokens) AS input_tokens,
    sum(output_tokens) AS output_tokens,
    sum(cost) AS cost,
    sum(duration_ms_sum) AS duration_ms_sum,
    max(duration_ms_max) AS duration_ms_max,
    quantileTimingMergeState(duration_ms_timing) AS duration_ms_timing
FROM tenants_hour
GROUP BY tenant_id, day, status;

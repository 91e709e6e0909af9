-- Telemetry schema: raw OpenTelemetry spans of agent interactions plus a per-minute rollup.
--
-- A batch inserted again with its insert_deduplication_token is dropped, in spans and, by
-- its own window, in spans_minute (without one the view would count the replay anyway).
-- The windows count inserted blocks: 10000 is ~40 minutes of 5000-span batches at
-- 20,000 spans/s. A span re-sent in another batch is a second row until
-- ReplacingMergeTree merges the two (same event_id, same sorting key), and the rollup
-- counts it twice. Exact reads (billing, reconciliation) use FINAL, LIMIT 1 BY event_id
-- or uniqExact(event_id); dashboards read spans_minute.
--
-- Every table is ordered by tenant_id first: every query filters by tenant.
-- department_id is the zero UUID for "no department": a Nullable key column costs a null
-- map and would complicate the rollup's key.
-- retention_days is the tenant's retention, copied onto each row; the TTL deletes rows
-- past it, at insert or when parts merge.
CREATE TABLE IF NOT EXISTS spans $ON_CLUSTER
(
    tenant_id UUID,
    event_id UUID,
    trace_id String CODEC(ZSTD(1)),
    span_id String CODEC(ZSTD(1)),
    parent_span_id String CODEC(ZSTD(1)),
    department_id UUID,
    agent_id UUID,
    site_id UUID CODEC(ZSTD(1)),
    edge_node_id UUID CODEC(ZSTD(1)),
    kind LowCardinality(String),
    name LowCardinality(String),
    start_time DateTime64(6, 'UTC') CODEC(Delta, ZSTD(1)),
    end_time DateTime64(6, 'UTC') CODEC(Delta, ZSTD(1)),
    duration_ms Float64 DEFAULT dateDiff('microsecond', start_time, end_time) / 1000 CODEC(ZSTD(1)),
    status LowCardinality(String),
    status_message String CODEC(ZSTD(3)),
    provider LowCardinality(String),
    model LowCardinality(String),
    tool LowCardinality(String),
    input_tokens UInt32 CODEC(T64, ZSTD(1)),
    output_tokens UInt32 CODEC(T64, ZSTD(1)),
    cost Decimal(18, 9) CODEC(ZSTD(1)),
    data_classes Array(LowCardinality(String)),
    attributes String CODEC(ZSTD(3)),
    request_body String CODEC(ZSTD(3)),
    response_body String CODEC(ZSTD(3)),
    content_hash String CODEC(ZSTD(1)),
    retention_days UInt16 DEFAULT 395 CODEC(T64, ZSTD(1)),
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3) CODEC(Delta, ZSTD(1)),
    INDEX idx_trace_id trace_id TYPE bloom_filter(0.001) GRANULARITY 4,
    INDEX idx_event_id event_id TYPE bloom_filter(0.001) GRANULARITY 4
)
ENGINE = $ENGINE(ReplacingMergeTree, spans, ingested_at)
PARTITION BY toYYYYMM(start_time)
PRIMARY KEY (tenant_id, toStartOfHour(start_time), agent_id)
ORDER BY (tenant_id, toStartOfHour(start_time), agent_id, trace_id, event_id)
TTL toDateTime(start_time) + toIntervalDay(retention_days)
SETTINGS non_replicated_deduplication_window = 10000, replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS spans_minute $ON_CLUSTER
(
    tenant_id UUID,
    minute DateTime('UTC') CODEC(DoubleDelta, ZSTD(1)),
    department_id UUID,
    agent_id UUID,
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
    duration_ms_digest AggregateFunction(quantileTDigest, Float64)
)
ENGINE = $ENGINE(AggregatingMergeTree, spans_minute)
PARTITION BY toYYYYMM(minute)
ORDER BY (tenant_id, minute, agent_id, department_id, kind, provider, model, tool, status)
SETTINGS non_replicated_deduplication_window = 10000, replicated_deduplication_window = 10000;

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
    quantileTDigestState(duration_ms) AS duration_ms_digest
FROM spans
GROUP BY tenant_id, minute, department_id, agent_id, kind, provider, model, tool, status;

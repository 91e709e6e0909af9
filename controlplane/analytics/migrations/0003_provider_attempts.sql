-- Provider attempts per minute: every attempt the edge gateway made for a model call,
-- from the `acp.gateway.attempts` list of its record's attributes (edge/gateway/capture.py),
-- so provider availability can show circuit-breaker trips and failovers per provider.
--
-- failovers: failed attempts after which the gateway tried another candidate (the failure
-- is charged to the provider that failed, not the one that answered).
-- breaker_trips: failed attempts that opened the provider/model's circuit breaker.
-- Spans that agents send themselves carry no attempts and add nothing here.
-- No backfill: nothing deployed holds gateway records from before this table.
CREATE TABLE IF NOT EXISTS provider_attempts_minute $ON_CLUSTER
(
    tenant_id UUID,
    minute DateTime('UTC') CODEC(DoubleDelta, ZSTD(1)),
    department_id UUID,
    agent_id UUID,
    provider LowCardinality(String),
    model LowCardinality(String),
    attempts SimpleAggregateFunction(sum, UInt64),
    failures SimpleAggregateFunction(sum, UInt64),
    timeouts SimpleAggregateFunction(sum, UInt64),
    failovers SimpleAggregateFunction(sum, UInt64),
    breaker_trips SimpleAggregateFunction(sum, UInt64)
)
ENGINE = $ENGINE(AggregatingMergeTree, provider_attempts_minute)
PARTITION BY toYYYYMM(minute)
ORDER BY (tenant_id, minute, agent_id, department_id, provider, model)
SETTINGS non_replicated_deduplication_window = 10000, replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS provider_attempts_minute_mv $ON_CLUSTER
TO provider_attempts_minute AS
SELECT
    tenant_id,
    toStartOfMinute(toDateTime(start_time, 'UTC')) AS minute,
    department_id,
    agent_id,
    JSONExtractString(attempt, 'provider') AS provider,
    JSONExtractString(attempt, 'model') AS model,
    toUInt64(count()) AS attempts,
    toUInt64(countIf(JSONExtractString(attempt, 'status') != 'ok')) AS failures,
    toUInt64(countIf(JSONExtractString(attempt, 'status') = 'timeout')) AS timeouts,
    toUInt64(countIf(
        JSONExtractString(attempt, 'status') != 'ok' AND position < length(attempts_of_span)
    )) AS failovers,
    toUInt64(countIf(JSONExtractBool(attempt, 'breaker_tripped'))) AS breaker_trips
FROM
(
    SELECT tenant_id, start_time, department_id, agent_id,
           JSONExtractArrayRaw(attributes, 'acp.gateway.attempts') AS attempts_of_span
    FROM spans
    WHERE kind = 'model'
)
ARRAY JOIN attempts_of_span AS attempt, arrayEnumerate(attempts_of_span) AS position
GROUP BY tenant_id, minute, department_id, agent_id, provider, model;

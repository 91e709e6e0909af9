-- Behavioral security (controlplane/security, docs/decisions/0014-behavioral-baselines.md):
-- two per-minute rollups of span *metadata* the detectors read; never bodies.
--
--   security_agent_minute   tenant, minute, agent (+ its site and department): tasks
--                           (root spans), model calls, errors, tokens, returned rows,
--                           cost: the volume, intensity and temporal detectors
--   security_scope_minute   tenant, minute, agent, dimension, item: uses and returned
--                           rows of each tool, collection, data classification,
--                           provider/model and outside host: scope and escalation
--
-- Times are the spans' own (event time), so a replay of history rolls up the same way as
-- live traffic. Sums as SimpleAggregateFunction and the deduplication window for retried
-- inserts as in spans_minute. Backfilled from spans while empty, as in 0002.
CREATE TABLE IF NOT EXISTS security_agent_minute $ON_CLUSTER
(
    tenant_id UUID,
    minute DateTime('UTC') CODEC(DoubleDelta, ZSTD(1)),
    agent_id UUID,
    site_id UUID,
    department_id UUID,
    tasks SimpleAggregateFunction(sum, UInt64),
    model_calls SimpleAggregateFunction(sum, UInt64),
    errors SimpleAggregateFunction(sum, UInt64),
    tokens SimpleAggregateFunction(sum, UInt64),
    returned_rows SimpleAggregateFunction(sum, UInt64),
    cost SimpleAggregateFunction(sum, Decimal(38, 9))
)
ENGINE = $ENGINE(AggregatingMergeTree, security_agent_minute)
PARTITION BY toYYYYMM(minute)
ORDER BY (tenant_id, minute, agent_id, site_id, department_id)
SETTINGS non_replicated_deduplication_window = 10000, replicated_deduplication_window = 10000;

INSERT INTO security_agent_minute
SELECT
    tenant_id,
    toStartOfMinute(toDateTime(start_time, 'UTC')) AS minute,
    agent_id,
    site_id,
    department_id,
    toUInt64(countIf(parent_span_id = '')) AS tasks,
    toUInt64(countIf(kind = 'model')) AS model_calls,
    toUInt64(countIf(status != 'ok')) AS errors,
    toUInt64(sum(input_tokens) + sum(output_tokens)) AS tokens,
    toUInt64(sum(JSONExtractUInt(attributes, 'db.response.returned_rows'))) AS returned_rows,
    toDecimal128(sum(cost), 9) AS cost
FROM spans
WHERE (SELECT count() FROM security_agent_minute) = 0
GROUP BY tenant_id, minute, agent_id, site_id, department_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS security_agent_minute_mv $ON_CLUSTER
TO security_agent_minute AS
SELECT
    tenant_id,
    toStartOfMinute(toDateTime(start_time, 'UTC')) AS minute,
    agent_id,
    site_id,
    department_id,
    toUInt64(countIf(parent_span_id = '')) AS tasks,
    toUInt64(countIf(kind = 'model')) AS model_calls,
    toUInt64(countIf(status != 'ok')) AS errors,
    toUInt64(sum(input_tokens) + sum(output_tokens)) AS tokens,
    toUInt64(sum(JSONExtractUInt(attributes, 'db.response.returned_rows'))) AS returned_rows,
    toDecimal128(sum(cost), 9) AS cost
FROM spans
GROUP BY tenant_id, minute, agent_id, site_id, department_id;

CREATE TABLE IF NOT EXISTS security_scope_minute $ON_CLUSTER
(
    tenant_id UUID,
    minute DateTime('UTC') CODEC(DoubleDelta, ZSTD(1)),
    agent_id UUID,
    dimension LowCardinality(String),
    item String CODEC(ZSTD(1)),
    uses SimpleAggregateFunction(sum, UInt64),
    returned_rows SimpleAggregateFunction(sum, UInt64)
)
ENGINE = $ENGINE(AggregatingMergeTree, security_scope_minute)
PARTITION BY toYYYYMM(minute)
ORDER BY (tenant_id, minute, agent_id, dimension, item)
SETTINGS non_replicated_deduplication_window = 10000, replicated_deduplication_window = 10000;

INSERT INTO security_scope_minute
SELECT
    tenant_id,
    toStartOfMinute(toDateTime(start_time, 'UTC')) AS minute,
    agent_id,
    scope_item.1 AS dimension,
    scope_item.2 AS item,
    toUInt64(count()) AS uses,
    toUInt64(sum(JSONExtractUInt(attributes, 'db.response.returned_rows'))) AS returned_rows
FROM spans
ARRAY JOIN arrayFilter(x -> x.2 != '', arrayConcat(
    [('tool', tool),
     ('collection', JSONExtractString(attributes, 'db.collection.name')),
     ('model', if(model = '', '', concat(provider, '/', model))),
     ('host', JSONExtractString(attributes, 'server.address'))],
    arrayMap(c -> ('classification', c), arrayDistinct(
        arrayConcat(data_classes, [JSONExtractString(attributes, 'data.classification')])))
)) AS scope_item
WHERE (SELECT count() FROM security_scope_minute) = 0
GROUP BY tenant_id, minute, agent_id, dimension, item;

CREATE MATERIALIZED VIEW IF NOT EXISTS security_scope_minute_mv $ON_CLUSTER
TO security_scope_minute AS
SELECT
    tenant_id,
    toStartOfMinute(toDateTime(start_time, 'UTC')) AS minute,
    agent_id,
    scope_item.1 AS dimension,
    scope_item.2 AS item,
    toUInt64(count()) AS uses,
    toUInt64(sum(JSONExtractUInt(attributes, 'db.response.returned_rows'))) AS returned_rows
FROM spans
ARRAY JOIN arrayFilter(x -> x.2 != '', arrayConcat(
    [('tool', tool),
     ('collection', JSONExtractString(attributes, 'db.collection.name')),
     ('model', if(model = '', '', concat(provider, '/', model))),
     ('host', JSONExtractString(attributes, 'server.address'))],
    arrayMap(c -> ('classification', c), arrayDistinct(
        arrayConcat(data_classes, [JSONExtractString(attributes, 'data.classification')])))
)) AS scope_item
GROUP BY tenant_id, minute, agent_id, dimension, item;

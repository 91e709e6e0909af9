-- The dashboards read spans_minute's quantileTiming state, as they read the hourly and
-- daily tables' (docs/decisions/0051-lean-results-and-one-latency-state.md): every
-- range then splits into cached settled hours and a fresh tail. The state was added by
-- 0009; rows written before it have an empty one. This gives each such group a state
-- from the spans still kept (minutes whose spans retention deleted keep no latency).
--
-- The rows are built in a table of their own and attached to spans_minute by
-- ATTACH PARTITION, which fires no view: inserted into spans_minute, they would also
-- reach the hourly tables chained from it (0009), whose states already hold these
-- spans. A row added here counts nothing (zero sums), so only the states change. A group
-- whose minute straddled 0009 (rows with and without a state) is left as it is.
CREATE TABLE IF NOT EXISTS spans_minute_timing_backfill $ON_CLUSTER AS spans_minute
ENGINE = $ENGINE(AggregatingMergeTree, spans_minute_timing_backfill)
PARTITION BY toYYYYMM(minute)
ORDER BY (tenant_id, minute, agent_id, department_id, kind, provider, model, tool, status);

TRUNCATE TABLE IF EXISTS spans_minute_timing_backfill $ON_CLUSTER;

INSERT INTO spans_minute_timing_backfill
    (tenant_id, minute, department_id, agent_id, kind, provider, model, tool, status,
     duration_ms_timing)
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
    quantileTimingState(duration_ms) AS duration_ms_timing
FROM spans FINAL
WHERE (tenant_id, minute, department_id, agent_id, kind, provider, model, tool, status) IN (
    SELECT tenant_id, minute, department_id, agent_id, kind, provider, model, tool, status
    FROM spans_minute
    GROUP BY tenant_id, minute, department_id, agent_id, kind, provider, model, tool, status
    HAVING isNaN(quantileTimingMerge(0.5)(duration_ms_timing))
)
GROUP BY tenant_id, minute, department_id, agent_id, kind, provider, model, tool, status;

ALTER TABLE spans_minute $ON_CLUSTER ATTACH PARTITION ALL FROM spans_minute_timing_backfill;

DROP TABLE IF EXISTS spans_minute_timing_backfill $ON_CLUSTER;

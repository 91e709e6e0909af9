-- spans_minute kept a t-digest of the latency (0001) next to the quantileTiming state
-- (0009) that every reader uses since docs/decisions/0051: nothing has read the t-digest
-- since, yet every insert computed it, every merge merged it, and it was the table's
-- largest column (49 of 274 MiB on the 10 M seed of bench/dashboard_panels.py). The
-- view is made again without it (as in 0009: inserts between the DROP and the CREATE
-- miss spans_minute and the tables chained from it, so migrate before the pull workers
-- start), then the column goes (docs/decisions/0058-minute-rollup-without-digest.md).
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
    quantileTimingState(duration_ms) AS duration_ms_timing
FROM spans
GROUP BY tenant_id, minute, department_id, agent_id, kind, provider, model, tool, status;

ALTER TABLE spans_minute $ON_CLUSTER DROP COLUMN IF EXISTS duration_ms_digest;

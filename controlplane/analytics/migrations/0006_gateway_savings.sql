-- What the edge gateway saved (docs/gateway.md, "Response cache" and "Auto routing"),
-- as columns of spans computed from the record's attributes when a span is inserted
-- (MATERIALIZED: the ingest path does not change, and SELECT * does not return them):
--
--   cache_status        hit | miss | refresh | bypass, or '' (the tenant does not cache)
--   cache_saved         a hit: what the provider billed for the answer it repeated
--   auto_tier           the tier the auto tier chose, or '' (the agent chose)
--   auto_saved          the cost at the complex tier for the same tokens, less the cost
--   auto_frontier_cost  that cost at the complex tier (the frontier-only baseline)
--
-- A hit's own cost is 0 (no tokens), so spend totals already leave out what the cache
-- saved. Rows inserted before this file read the columns as computed on the fly.
ALTER TABLE spans $ON_CLUSTER
    ADD COLUMN IF NOT EXISTS cache_status LowCardinality(String)
        MATERIALIZED JSONExtractString(attributes, 'acp.gateway.cache'),
    ADD COLUMN IF NOT EXISTS cache_saved Decimal(18, 9)
        MATERIALIZED toDecimal64OrZero(JSONExtractString(attributes, 'acp.gateway.cache_saved'), 9),
    ADD COLUMN IF NOT EXISTS auto_tier LowCardinality(String)
        MATERIALIZED JSONExtractString(attributes, 'acp.gateway.auto.tier'),
    ADD COLUMN IF NOT EXISTS auto_saved Decimal(18, 9)
        MATERIALIZED toDecimal64OrZero(JSONExtractString(attributes, 'acp.gateway.auto.saved'), 9),
    ADD COLUMN IF NOT EXISTS auto_frontier_cost Decimal(18, 9)
        MATERIALIZED toDecimal64OrZero(
            JSONExtractString(attributes, 'acp.gateway.auto.frontier_cost'), 9
        );

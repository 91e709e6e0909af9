-- Free-text search of the trace explorer: one n-gram bloom filter per granule over the
-- searched text (span name, status message, tool, model, request and response bodies),
-- lower-cased. `controlplane.telemetry.spans.SEARCH_TEXT` is the same expression: a
-- query uses the index only when its LIKE is on exactly this expression.
-- ngrambf_v1 rather than the `text` index: a substring LIKE ('%needle%') prunes with
-- n-grams but not with tokens, and `text` is generally available only from ClickHouse
-- 26.2 (docker/ runs 25.8). See docs/dashboards.md, "Trace explorer".
-- 3-grams, 256 KiB per granule of 8192 spans, 2 hash functions: a few hundred thousand
-- distinct 3-grams per granule still leave a 3-gram a false-positive rate near 15 %,
-- and a query of n characters needs all n-2 of its 3-grams to hit.
ALTER TABLE spans $ON_CLUSTER
    ADD INDEX IF NOT EXISTS idx_search
    lowerUTF8(concat(name, '\n', status_message, '\n', tool, '\n', model, '\n', request_body, '\n', response_body))
    TYPE ngrambf_v1(3, 262144, 2, 0) GRANULARITY 1;

-- Parts written before this migration get the index in the background (a mutation that
-- writes only the index files); until then they are read without it.
ALTER TABLE spans $ON_CLUSTER MATERIALIZE INDEX idx_search;

-- The bodies and attributes of spans compressed with ZSTD(1) instead of ZSTD(3)
-- (docs/decisions/0049-ingest-cheaper-parsing-and-codec.md). Every insert compresses them
-- and every merge of spans compresses them again. On the ingest benchmark's records (~1.2 KB
-- of bodies per span), 20,000-span inserts without views: ~1 µs less CPU per span (median
-- 11.3 -> 10.1 µs), for ~2% more bytes on disk (request_body +7%, response_body +3%).
--
-- Changing only the codec rewrites nothing: parts written before keep ZSTD(3) until a
-- merge writes them again, and either reads the same.
ALTER TABLE spans $ON_CLUSTER
    MODIFY COLUMN attributes String CODEC(ZSTD(1)),
    MODIFY COLUMN request_body String CODEC(ZSTD(1)),
    MODIFY COLUMN response_body String CODEC(ZSTD(1));

-- The bodies and attributes of spans compressed with ZSTD(1) instead of ZSTD(3)
-- (docs/decisions/0049-ingest-cheaper-parsing-and-codec.md). Every insert compresses them
-- and every merge of spans compresses them again: on the ingest benchmark's records
-- (~1.2 KB of bodies per span) level 1 costs about 1.5 µs less CPU per span at insert, for
-- about 2% more bytes on disk (request_body +7%, response_body +3%, attributes +1%).
--
-- Changing only the codec rewrites nothing: parts written before keep ZSTD(3) until a
-- merge writes them again, and either reads the same.
ALTER TABLE spans $ON_CLUSTER
    MODIFY COLUMN attributes String CODEC(ZSTD(1)),
    MODIFY COLUMN request_body String CODEC(ZSTD(1)),
    MODIFY COLUMN response_body String CODEC(ZSTD(1));

-- Token classes (docs/decisions/0014-token-classes.md): the parts of input_tokens read
-- from and written to a prompt cache, and the part of output_tokens spent reasoning,
-- each priced apart. Rows from before have zeros: all their tokens were plain.
ALTER TABLE spans $ON_CLUSTER
    ADD COLUMN IF NOT EXISTS cached_input_tokens UInt32 DEFAULT 0 CODEC(T64, ZSTD(1)) AFTER output_tokens,
    ADD COLUMN IF NOT EXISTS cache_write_tokens UInt32 DEFAULT 0 CODEC(T64, ZSTD(1)) AFTER cached_input_tokens,
    ADD COLUMN IF NOT EXISTS reasoning_tokens UInt32 DEFAULT 0 CODEC(T64, ZSTD(1)) AFTER cache_write_tokens;

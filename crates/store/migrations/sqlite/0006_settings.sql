-- Hub settings: a small durable key/value store for what operators change through the admin
-- API at run time, first of all the operator IAM policy (password policy, approval counts,
-- session timeouts), so that changes survive a restart. Same conventions as 0001_init.sql, and:
-- - Values are JSON text, stored exactly as written (not re-serialised); the store also
--   parses them with serde_json before writing, so every reader can parse what is stored.
-- - Keys are 1 to 64 bytes of [a-z0-9._-] (e.g. `iam.password_policy`), compared exactly.
--   The byte length is length(CAST(key AS BLOB)); requiring it to equal length(key), which
--   counts characters up to the first NUL, refuses NUL and non-ASCII characters, so the GLOB
--   (which would stop at a NUL) sees the whole key.
-- - updated_by names who wrote the value last (an operator's name as the hub records it). It
--   is not a foreign key: a setting is kept whoever wrote it.

-- One row per key; `put_setting` inserts or replaces the whole row.
CREATE TABLE settings (
    key           TEXT    NOT NULL PRIMARY KEY
                          CHECK (length(CAST(key AS BLOB)) BETWEEN 1 AND 64
                                 AND length(key) = length(CAST(key AS BLOB))
                                 AND key NOT GLOB '*[^a-z0-9._-]*'),
    value_json    TEXT    NOT NULL CHECK (json_valid(value_json)),
    updated_at_ms INTEGER NOT NULL,
    updated_by    TEXT    NOT NULL
) STRICT;

-- The audit log becomes a hash chain (see ledger::AuditEntry for the exact encoding): every
-- entry gets its position `seq` (1, 2, 3, ... dense, assigned by the store inside the writing
-- transaction), the previous entry's hash and its own hash, both lower-case hex SHA-256.
--
-- SQL cannot compute SHA-256, so this migration cannot chain the rows already there. Rather
-- than adding nullable columns (which would leave "unchained" rows possible forever), it
-- recreates the table with every chain column NOT NULL and moves the old rows aside to
-- `audit_legacy`. `SqliteStore::open` then chains them, in their original order (id), into
-- `audit` and drops `audit_legacy` — all in one transaction, before the store is handed out.
-- A crash in between leaves `audit_legacy` in place, and the next open does it then.

ALTER TABLE audit RENAME TO audit_legacy;

-- `seq` is the rowid: newest first is `ORDER BY seq DESC`, a range is `WHERE seq > ?`, both on
-- the primary key.
CREATE TABLE audit (
    seq       INTEGER PRIMARY KEY CHECK (seq >= 1),
    at_ms     INTEGER NOT NULL,
    actor     TEXT    NOT NULL,
    action    TEXT    NOT NULL,
    subject   TEXT    NOT NULL,
    detail    TEXT    NOT NULL,
    outcome   TEXT    NOT NULL,
    prev_hash TEXT    NOT NULL CHECK (length(prev_hash) = 64 AND prev_hash NOT GLOB '*[^0-9a-f]*'),
    hash      TEXT    NOT NULL CHECK (length(hash) = 64 AND hash NOT GLOB '*[^0-9a-f]*')
) STRICT;

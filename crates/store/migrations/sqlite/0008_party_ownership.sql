-- Party oracle ownership (issue 12). Same conventions as 0001_init.sql, and:
-- - A party (type, identifier, sub-id) has one owner: its oldest registration. Before this
--   migration the order was not recorded; rowid is the insertion order of a rowid table (an
--   upsert keeps the row's rowid, and a new row gets max(rowid) + 1), so existing rows are
--   numbered by it: where an old database holds registrations of one party by several FSPs,
--   the one registered first owns it. New rows get max(registered_seq) + 1; an upsert that
--   keeps the FSP keeps the number, one that hands the row to another FSP takes a new one.
-- - No unique index on (type, identifier, sub-id): old databases may hold such conflicting
--   rows (they stay, inert, until their FSP deletes them), and a scheme may allow one owner
--   per currency (the hub's `oracle_per_currency_owners`). The rule is enforced by the
--   ledger inside the write transaction (BEGIN IMMEDIATE serialises writers, also across
--   processes sharing the file).
ALTER TABLE parties ADD COLUMN registered_seq INTEGER NOT NULL DEFAULT 0;
UPDATE parties SET registered_seq = rowid;
CREATE INDEX parties_registered_seq ON parties (registered_seq);

-- Lookups routed to the FSP the requester named (GET /parties with FSPIOP-Destination other
-- than the oracle's owner): that FSP may answer the requester about that party until
-- expires_at_ms. Names in ASCII lower case. Expired rows are purged by the hub when it
-- records a new lookup; the hub bounds the rows per requester.
CREATE TABLE party_lookups (
    id_type       TEXT    NOT NULL,
    identifier    TEXT    NOT NULL,
    sub_id        TEXT    NOT NULL,
    requester     TEXT    NOT NULL,
    routed_to     TEXT    NOT NULL,
    expires_at_ms INTEGER NOT NULL,
    PRIMARY KEY (id_type, identifier, sub_id, requester, routed_to)
) STRICT;
CREATE INDEX party_lookups_requester ON party_lookups (requester);
CREATE INDEX party_lookups_expiry ON party_lookups (expires_at_ms);

-- Ferroloop ledger schema for SQLite: one table per row type of `ledger::model`.
--
-- Conventions:
-- - STRICT tables: SQLite checks every column's type.
-- - Amounts are TEXT holding the canonical (normalized) `rust_decimal::Decimal` form, never REAL.
-- - Times are INTEGER milliseconds since the epoch; booleans are INTEGER 0/1.
-- - Enumerations are TEXT holding `as_str()` names, checked against the known set.
-- - Optional text is NULL when absent; "none" sub-ids and currencies of party registrations are
--   the empty string (as in the model), so they can be part of a primary key.

CREATE TABLE participants (
    name          TEXT    NOT NULL PRIMARY KEY,
    is_active     INTEGER NOT NULL CHECK (is_active IN (0, 1)),
    created_at_ms INTEGER NOT NULL
) STRICT;

-- Names are looked up exactly (the primary key) but unique ignoring ASCII case.
CREATE UNIQUE INDEX participants_name_nocase ON participants (name COLLATE NOCASE);

CREATE TABLE accounts (
    id            INTEGER PRIMARY KEY,
    participant   TEXT    NOT NULL REFERENCES participants (name),
    currency      TEXT    NOT NULL,
    kind          TEXT    NOT NULL CHECK (kind IN ('POSITION', 'SETTLEMENT', 'HUB_RECONCILIATION',
                                                   'HUB_MULTILATERAL_SETTLEMENT')),
    is_active     INTEGER NOT NULL CHECK (is_active IN (0, 1)),
    value         TEXT    NOT NULL,
    reserved      TEXT    NOT NULL,
    changed_at_ms INTEGER NOT NULL,
    UNIQUE (participant, currency, kind)
) STRICT;

CREATE INDEX accounts_by_currency ON accounts (currency);

CREATE TABLE journal (
    id             INTEGER PRIMARY KEY,
    account_id     INTEGER NOT NULL REFERENCES accounts (id),
    reference      TEXT    NOT NULL,
    reason         TEXT    NOT NULL,
    value_delta    TEXT    NOT NULL,
    reserved_delta TEXT    NOT NULL,
    at_ms          INTEGER NOT NULL
) STRICT;

-- Rebuilding or auditing one account's balance.
CREATE INDEX journal_by_account ON journal (account_id, id);

CREATE TABLE limits (
    participant      TEXT NOT NULL REFERENCES participants (name),
    currency         TEXT NOT NULL,
    value            TEXT NOT NULL,
    alarm_percentage TEXT NOT NULL,
    PRIMARY KEY (participant, currency)
) STRICT;

CREATE TABLE endpoints (
    participant TEXT NOT NULL REFERENCES participants (name),
    kind        TEXT NOT NULL,
    value       TEXT NOT NULL,
    PRIMARY KEY (participant, kind)
) STRICT;

-- No foreign keys to participants: refused (INVALID) transfers and quotes are recorded even when
-- they name an unknown FSP.
CREATE TABLE transfers (
    id                TEXT    NOT NULL PRIMARY KEY,
    payer             TEXT    NOT NULL,
    payee             TEXT    NOT NULL,
    amount            TEXT    NOT NULL,
    currency          TEXT    NOT NULL,
    condition         TEXT    NOT NULL,
    ilp_packet        TEXT    NOT NULL,
    expiration_ms     INTEGER NOT NULL,
    state             TEXT    NOT NULL CHECK (state IN ('RESERVED', 'COMMITTED', 'ABORTED_ERROR',
                                                        'ABORTED_REJECTED', 'EXPIRED_RESERVED',
                                                        'INVALID')),
    prepare_hash      TEXT    NOT NULL,
    fulfil_hash       TEXT,
    error_hash        TEXT,
    fulfilment        TEXT,
    error_code        TEXT,
    error_description TEXT,
    created_at_ms     INTEGER NOT NULL,
    completed_at_ms   INTEGER
) STRICT;

-- `open_transfers`: only non-final (RESERVED) transfers are indexed, so the index stays as small
-- as the set of in-flight transfers. Queries must say `state = 'RESERVED'` literally to use it.
CREATE INDEX transfers_open ON transfers (expiration_ms, id) WHERE state = 'RESERVED';

CREATE TABLE quotes (
    id              TEXT    NOT NULL PRIMARY KEY,
    transaction_id  TEXT    NOT NULL,
    payer           TEXT    NOT NULL,
    payee           TEXT    NOT NULL,
    amount          TEXT    NOT NULL,
    currency        TEXT    NOT NULL,
    request_hash    TEXT    NOT NULL,
    response_hash   TEXT,
    transfer_amount TEXT,
    condition       TEXT,
    ilp_packet      TEXT,
    expiration_ms   INTEGER,
    created_at_ms   INTEGER NOT NULL
) STRICT;

-- The primary key doubles as the lookup index by (type, identifier[, sub-id]).
CREATE TABLE parties (
    id_type    TEXT NOT NULL,
    identifier TEXT NOT NULL,
    sub_id     TEXT NOT NULL,
    currency   TEXT NOT NULL,
    fsp_id     TEXT NOT NULL,
    PRIMARY KEY (id_type, identifier, sub_id, currency)
) STRICT;

CREATE TABLE funds_transfers (
    id                 TEXT    NOT NULL PRIMARY KEY,
    participant        TEXT    NOT NULL REFERENCES participants (name),
    account_id         INTEGER NOT NULL REFERENCES accounts (id),
    action             TEXT    NOT NULL,
    amount             TEXT    NOT NULL,
    currency           TEXT    NOT NULL,
    state              TEXT    NOT NULL,
    reason             TEXT    NOT NULL,
    external_reference TEXT    NOT NULL,
    created_at_ms      INTEGER NOT NULL
) STRICT;

-- Newest first is `ORDER BY id DESC` on the rowid itself; no extra index needed.
CREATE TABLE audit (
    id      INTEGER PRIMARY KEY,
    at_ms   INTEGER NOT NULL,
    actor   TEXT    NOT NULL,
    action  TEXT    NOT NULL,
    subject TEXT    NOT NULL,
    detail  TEXT    NOT NULL,
    outcome TEXT    NOT NULL
) STRICT;

CREATE TABLE deliveries (
    id          INTEGER PRIMARY KEY,
    at_ms       INTEGER NOT NULL,
    participant TEXT    NOT NULL,
    method      TEXT    NOT NULL,
    url         TEXT    NOT NULL,
    fspiop_uri  TEXT    NOT NULL,
    attempt     INTEGER NOT NULL CHECK (attempt >= 0),
    status      INTEGER CHECK (status BETWEEN 0 AND 65535),
    error       TEXT,
    duration_ms INTEGER NOT NULL CHECK (duration_ms >= 0)
) STRICT;

-- JWS verification keys of participants, and the evidence log of signed messages that moved
-- money (non-repudiation). Same conventions as 0001_init.sql.

-- Retired keys are kept forever (retired_at_ms set), so stored evidence can still be verified.
CREATE TABLE jws_keys (
    id             INTEGER PRIMARY KEY,
    participant    TEXT    NOT NULL REFERENCES participants (name),
    fingerprint    TEXT    NOT NULL,
    alg            TEXT    NOT NULL,
    public_key_pem TEXT    NOT NULL,
    not_before_ms  INTEGER,
    not_after_ms   INTEGER,
    added_at_ms    INTEGER NOT NULL,
    retired_at_ms  INTEGER
) STRICT;

-- One fingerprint per participant, the participant compared ignoring ASCII case (as participant
-- names are unique). Also the lookup index: queries say `participant = ?1 COLLATE NOCASE`.
CREATE UNIQUE INDEX jws_keys_by_participant
    ON jws_keys (participant COLLATE NOCASE, fingerprint);

-- Append-only. `seq` is AUTOINCREMENT so a sequence number is never handed out twice.
-- No foreign key on participant: like audit and deliveries, evidence is a record of what was
-- received and must be storable whatever happens to the participant directory.
CREATE TABLE evidence (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    subject         TEXT    NOT NULL,
    kind            TEXT    NOT NULL,
    participant     TEXT    NOT NULL,
    method          TEXT    NOT NULL,
    uri             TEXT    NOT NULL,
    destination     TEXT,
    date            TEXT,
    signature       TEXT,
    key_fingerprint TEXT,
    body            BLOB    NOT NULL,
    received_at_ms  INTEGER NOT NULL
) STRICT;

CREATE INDEX evidence_by_subject ON evidence (subject, seq);

-- Per-participant TLS settings: how the hub binds a client certificate to the participant, and
-- which CA issues the participant's callback server certificate. Same conventions as
-- 0001_init.sql.

-- At most one row per participant, keyed by the exact name (like every other reference to a
-- participant); a participant without a row uses the defaults.
-- spki_pin: NULL = the certificate only has to name the participant (SAN URI or CN); otherwise
-- also pinned to this lower-case hex SHA-256 of its SubjectPublicKeyInfo.
-- callback_ca_pem: NULL = callbacks are checked against the hub's own CA.
CREATE TABLE participant_tls (
    participant     TEXT    NOT NULL PRIMARY KEY REFERENCES participants (name),
    spki_pin        TEXT,
    callback_ca_pem TEXT,
    updated_at_ms   INTEGER NOT NULL
) STRICT;

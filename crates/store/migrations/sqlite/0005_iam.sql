-- Operator identity and access management (issue 6): operator accounts, password history,
-- custom roles and role assignments, sessions, API tokens, and maker/checker approval requests
-- with their votes. The rules are in the `iam` crate; these tables keep what it returns. Same
-- conventions as 0001_init.sql, and:
-- - No secret is stored in the clear. Passwords and recovery codes are argon2id PHC strings
--   (`$argon2id$v=19$...`; the CHECKs accept the PHC form `$<id>$...`); session ids and API
--   tokens are the lower-case hex SHA-256 of the token as presented. The TOTP secret is the
--   one exception, because checking a code needs it: RFC 4648 base32 without padding.
-- - Lists (recovery code hashes, permissions, scopes, approvals) are JSON arrays in TEXT.
-- - Every reference to an operator names it exactly as registered (foreign keys to
--   operators.name); lookups by an operator's name compare ignoring ASCII case, so their
--   indexes are on `operator COLLATE NOCASE` and the queries say `COLLATE NOCASE`.

-- Names are unique ignoring ASCII case, like participants'.
CREATE TABLE operators (
    name                   TEXT    NOT NULL PRIMARY KEY,
    password_phc           TEXT    NOT NULL CHECK (password_phc GLOB '$*$*'),
    password_changed_at_ms INTEGER NOT NULL,
    must_change_password   INTEGER NOT NULL CHECK (must_change_password IN (0, 1)),
    failed_attempts        INTEGER NOT NULL CHECK (failed_attempts BETWEEN 0 AND 4294967295),
    last_failure_at_ms     INTEGER,
    totp_secret_b32        TEXT    CHECK (totp_secret_b32 IS NULL
                                          OR (length(totp_secret_b32) >= 26
                                              AND totp_secret_b32 NOT GLOB '*[^A-Z2-7]*')),
    totp_last_step         INTEGER CHECK (totp_last_step >= 0),
    recovery_code_hashes   TEXT    NOT NULL
                                   CHECK (CASE WHEN json_valid(recovery_code_hashes)
                                          THEN json_type(recovery_code_hashes) = 'array'
                                          ELSE 0 END),
    disabled               INTEGER NOT NULL CHECK (disabled IN (0, 1)),
    created_at_ms          INTEGER NOT NULL
) STRICT;

-- Unique ignoring ASCII case; also the index of `operator(name)`.
CREATE UNIQUE INDEX operators_name_nocase ON operators (name COLLATE NOCASE);

-- Append-only: the passwords an operator had, newest = highest id.
CREATE TABLE password_history (
    id       INTEGER PRIMARY KEY,
    operator TEXT    NOT NULL REFERENCES operators (name),
    phc      TEXT    NOT NULL CHECK (phc GLOB '$*$*'),
    at_ms    INTEGER NOT NULL
) STRICT;

CREATE INDEX password_history_by_operator ON password_history (operator COLLATE NOCASE, id);

-- Built-in roles are code and have no row here.
CREATE TABLE custom_roles (
    name          TEXT    NOT NULL PRIMARY KEY,
    permissions   TEXT    NOT NULL
                          CHECK (CASE WHEN json_valid(permissions)
                                 THEN json_type(permissions) = 'array' ELSE 0 END),
    created_at_ms INTEGER NOT NULL
) STRICT;

-- Role assignments. `role` names a built-in or a custom role, so it has no foreign key;
-- deleting a custom role deletes its assignments (`delete_custom_role`).
CREATE TABLE operator_roles (
    operator TEXT NOT NULL REFERENCES operators (name),
    role     TEXT NOT NULL
) STRICT;

-- One assignment per (operator, role); also the index of `operator_roles(operator)`.
CREATE UNIQUE INDEX operator_roles_key ON operator_roles (operator COLLATE NOCASE, role);
CREATE INDEX operator_roles_by_role ON operator_roles (role);

CREATE TABLE sessions (
    id_hash             TEXT    NOT NULL PRIMARY KEY
                                CHECK (length(id_hash) = 64 AND id_hash NOT GLOB '*[^0-9a-f]*'),
    operator            TEXT    NOT NULL REFERENCES operators (name),
    created_at_ms       INTEGER NOT NULL,
    last_seen_ms        INTEGER NOT NULL,
    idle_timeout_ms     INTEGER NOT NULL CHECK (idle_timeout_ms > 0),
    absolute_timeout_ms INTEGER NOT NULL CHECK (absolute_timeout_ms > 0),
    mfa_at_ms           INTEGER
) STRICT;

CREATE INDEX sessions_by_operator ON sessions (operator COLLATE NOCASE);

-- Revoked tokens are kept (revoked_at_ms set). Expiry is mandatory.
CREATE TABLE api_tokens (
    id_hash       TEXT    NOT NULL PRIMARY KEY
                          CHECK (length(id_hash) = 64 AND id_hash NOT GLOB '*[^0-9a-f]*'),
    operator      TEXT    NOT NULL REFERENCES operators (name),
    label         TEXT    NOT NULL,
    scopes        TEXT    NOT NULL
                          CHECK (CASE WHEN json_valid(scopes)
                                 THEN json_type(scopes) = 'array' ELSE 0 END),
    created_at_ms INTEGER NOT NULL,
    expires_at_ms INTEGER NOT NULL CHECK (expires_at_ms > created_at_ms),
    revoked_at_ms INTEGER
) STRICT;

-- `api_tokens(operator)`: ORDER BY created_at_ms, rowid comes from the index.
CREATE INDEX api_tokens_by_operator ON api_tokens (operator COLLATE NOCASE, created_at_ms);

-- Maker/checker requests. The maker never decides, except to withdraw (reject) their own
-- request, which `iam::approval::PendingRequest::reject` allows; approvals by the maker are
-- refused on `approval_votes` below.
CREATE TABLE approvals (
    id                 TEXT    NOT NULL PRIMARY KEY,
    permission         TEXT    NOT NULL,
    payload_json       TEXT    NOT NULL CHECK (json_valid(payload_json)),
    maker              TEXT    NOT NULL REFERENCES operators (name),
    created_at_ms      INTEGER NOT NULL,
    expires_at_ms      INTEGER NOT NULL CHECK (expires_at_ms > created_at_ms),
    required_approvals INTEGER NOT NULL CHECK (required_approvals BETWEEN 0 AND 4294967295),
    state              TEXT    NOT NULL CHECK (state IN ('pending', 'approved', 'rejected',
                                                         'expired', 'executed')),
    approvals_json     TEXT    NOT NULL
                               CHECK (CASE WHEN json_valid(approvals_json)
                                      THEN json_type(approvals_json) = 'array' ELSE 0 END),
    decided_by         TEXT    REFERENCES operators (name),
    reason             TEXT,
    executed_at_ms     INTEGER,
    result_json        TEXT    CHECK (result_json IS NULL OR json_valid(result_json)),
    CHECK (decided_by IS NULL OR decided_by <> maker OR state = 'rejected'),
    CHECK ((state = 'executed') = (executed_at_ms IS NOT NULL))
) STRICT;

-- `approvals(state, limit)` and `approvals(None, limit)`: newest first is
-- ORDER BY created_at_ms DESC, rowid DESC, from these indexes.
CREATE INDEX approvals_by_state ON approvals (state, created_at_ms);
CREATE INDEX approvals_by_time ON approvals (created_at_ms);

-- The maker of a request is fixed (the vote rule below relies on it).
CREATE TRIGGER approvals_maker_fixed
BEFORE UPDATE OF maker ON approvals
WHEN NEW.maker IS NOT OLD.maker
BEGIN
    SELECT RAISE(ABORT, 'the maker of an approval request cannot change');
END;

-- One approval per checker and request (the primary key), never by the request's maker. A
-- CHECK cannot look at another table, so the maker rule is a trigger (an error that is not a
-- unique violation: `StoreError::Backend`).
CREATE TABLE approval_votes (
    approval_id TEXT    NOT NULL REFERENCES approvals (id),
    voter       TEXT    NOT NULL REFERENCES operators (name),
    at_ms       INTEGER NOT NULL,
    PRIMARY KEY (approval_id, voter)
) STRICT;

CREATE TRIGGER approval_votes_not_by_maker
BEFORE INSERT ON approval_votes
WHEN NEW.voter = (SELECT maker FROM approvals WHERE id = NEW.approval_id)
BEGIN
    SELECT RAISE(ABORT, 'approval vote by the maker of the request');
END;

CREATE TRIGGER approval_votes_not_by_maker_on_update
BEFORE UPDATE OF approval_id, voter ON approval_votes
WHEN NEW.voter = (SELECT maker FROM approvals WHERE id = NEW.approval_id)
BEGIN
    SELECT RAISE(ABORT, 'approval vote by the maker of the request');
END;

-- GET /audit filters the whole audit log in the store rather than the newest rows in memory
-- (an attacker who floods the log must not be able to push older entries out of reach).
-- `seq` is the rowid, so each index below is in effect (column, seq): an exact match on the
-- column answers newest first (`ORDER BY seq DESC`) straight from the index, and a prefix of
-- `action` is a range on it. `outcome` has three values and gets no index of its own.
CREATE INDEX audit_actor ON audit (actor);
CREATE INDEX audit_action ON audit (action);
CREATE INDEX audit_subject ON audit (subject);
CREATE INDEX audit_at ON audit (at_ms);

-- The security audit trail (access/audit.py): logins, failed logins, MFA and role changes, keys
-- created, rotated and revoked, settings changed. Commands are audited already (every event has
-- its actor); these are the acts that are not commands. One chain for the deployment: each entry
-- carries the hash of the one before, so an entry edited or deleted by hand breaks the chain at
-- that place, and `vq audit verify` names it. Entries are only ever appended, under a lock that
-- keeps the sequence gapless.
CREATE TABLE audit_log (
    seq        bigint PRIMARY KEY,
    tenant_id  uuid,                      -- NULL: the operator's own acts
    at         timestamptz NOT NULL,
    actor      text NOT NULL,             -- an API key id, a user id, "operator", "system"
    action     text NOT NULL,
    subject    text,                      -- what it was done to (a key id, a user id...)
    detail     jsonb NOT NULL DEFAULT '{}'::jsonb,
    prev_hash  bytea NOT NULL,
    hash       bytea NOT NULL
);
CREATE INDEX audit_log_tenant ON audit_log (tenant_id, seq);

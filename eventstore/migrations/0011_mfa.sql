-- Second factors (access/mfa.py): a TOTP secret per person, and their recovery codes.

-- The secret is sealed with the deployment's secret key (access/sealed.py): a copy of the database
-- alone opens nothing. A row without `confirmed_at` is an enrolment in progress (a new enrolment
-- replaces it); only a confirmed secret is asked for at sign-in.
CREATE TABLE mfa_totp (
    user_id        uuid PRIMARY KEY REFERENCES users (user_id) ON DELETE CASCADE,
    tenant_id      uuid NOT NULL REFERENCES tenants (tenant_id),
    sealed_secret  bytea NOT NULL,
    created_at     timestamptz NOT NULL,
    confirmed_at   timestamptz,
    -- The time step of the last code accepted: a code (of that step or an earlier one) is never
    -- accepted twice.
    last_step      bigint,
    -- Wrong codes in a row, and until when they block every code (access/mfa.py: block_for).
    failures       integer NOT NULL DEFAULT 0 CHECK (failures >= 0),
    blocked_until  timestamptz
);
CREATE INDEX mfa_totp_tenant ON mfa_totp (tenant_id);

-- Recovery codes: only a keyed SHA-256 digest of each is kept (the codes are shown once); each
-- works once. Removing the second factor removes them.
CREATE TABLE mfa_recovery_codes (
    user_id     uuid NOT NULL REFERENCES mfa_totp (user_id) ON DELETE CASCADE,
    code_hash   bytea NOT NULL CHECK (length(code_hash) = 32),
    created_at  timestamptz NOT NULL,
    used_at     timestamptz,
    PRIMARY KEY (user_id, code_hash)
);

-- Access tokens and sign-in sessions (access/signing_keys.py, access/tokens.py, access/sessions.py).

-- The keys access tokens are signed with (ES256). A key is published (JWKS) from the moment it
-- is added, signs from `active_from` (a rotation publishes the next key ahead, so every replica
-- knows it before any token carries it) until `retired_at`, and keeps verifying until the last
-- token it signed has expired. The private key is sealed with the deployment's secret key
-- (access/sealed.py): a copy of the database alone signs nothing.
CREATE TABLE signing_keys (
    kid          text PRIMARY KEY,            -- RFC 7638 JWK thumbprint (SHA-256, base64url)
    public_jwk   jsonb NOT NULL,
    private_key  bytea NOT NULL,              -- PKCS#8 PEM, sealed
    created_at   timestamptz NOT NULL DEFAULT now(),
    active_from  timestamptz NOT NULL,
    retired_at   timestamptz
);
-- At most one key is not scheduled for retirement: the newest, which signs once active.
CREATE UNIQUE INDEX signing_keys_one_open ON signing_keys ((retired_at IS NULL))
    WHERE retired_at IS NULL;

-- A sign-in: one family of refresh tokens, each used once to get the next. A token presented a
-- second time ends its session (one of the two holders stole it).
CREATE TABLE sessions (
    session_id    uuid PRIMARY KEY,
    tenant_id     uuid NOT NULL REFERENCES tenants (tenant_id),
    user_id       uuid NOT NULL,
    mfa           boolean NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    ended_at      timestamptz,
    ended_reason  text,
    CHECK ((ended_at IS NULL) = (ended_reason IS NULL))
);
CREATE INDEX sessions_open_by_user ON sessions (tenant_id, user_id) WHERE ended_at IS NULL;
CREATE INDEX sessions_ended ON sessions (ended_at) WHERE ended_at IS NOT NULL;

-- Refresh tokens by the SHA-256 of the token (the token itself is shown once, never stored).
CREATE TABLE refresh_tokens (
    token_hash  bytea PRIMARY KEY CHECK (length(token_hash) = 32),
    session_id  uuid NOT NULL REFERENCES sessions (session_id) ON DELETE CASCADE,
    issued_at   timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);
CREATE INDEX refresh_tokens_expiry ON refresh_tokens (expires_at);

-- People of an organisation (access/users.py) and the single-use links emailed to them
-- (access/links.py). Failed sign-ins are counted in Redis (access/lockout.py), not here.

CREATE TABLE users (
    user_id            uuid PRIMARY KEY,
    tenant_id          uuid NOT NULL REFERENCES tenants (tenant_id),
    -- Lower-cased when stored: one person per address and organisation, however it is typed.
    email              text NOT NULL CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 254),
    name               text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    role               text NOT NULL CHECK (role IN ('admin', 'manager', 'staff', 'viewer')),
    -- The queues a staff member is assigned to; NULL: every queue of the organisation.
    queues             uuid[],
    language           text NOT NULL DEFAULT 'en' CHECK (length(language) BETWEEN 2 AND 20),
    -- argon2id (PHC string); NULL until the person sets one (an invited or SSO-only person).
    password_hash      text,
    email_verified_at  timestamptz,
    active             boolean NOT NULL DEFAULT true,
    -- The person's identity at the organisation's OpenID provider, once they signed on with it.
    sso_issuer         text,
    sso_subject        text,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, email),
    CHECK ((sso_issuer IS NULL) = (sso_subject IS NULL))
);
CREATE UNIQUE INDEX users_sso ON users (tenant_id, sso_issuer, sso_subject)
    WHERE sso_issuer IS NOT NULL;
CREATE INDEX users_listing ON users (tenant_id, created_at, user_id);
-- The last-admin rule counts these.
CREATE INDEX users_admins ON users (tenant_id) WHERE role = 'admin' AND active;

-- Links emailed to a person: invite (7 days), verify-email (2 days), reset-password (1 hour).
-- Only the SHA-256 of the token is kept (the token travels once, in the email's link); a link
-- works once, and a new link of a purpose voids the person's older ones of that purpose.
CREATE TABLE user_links (
    link_id     uuid PRIMARY KEY,
    token_hash  bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    tenant_id   uuid NOT NULL REFERENCES tenants (tenant_id),
    user_id     uuid NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    purpose     text NOT NULL CHECK (purpose IN ('invite', 'verify-email', 'reset-password')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    CHECK (expires_at > created_at)
);
CREATE INDEX user_links_open ON user_links (user_id, purpose) WHERE used_at IS NULL;
CREATE INDEX user_links_expiry ON user_links (expires_at);

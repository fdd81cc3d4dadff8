-- An organisation's access settings (access/org_settings.py): which roles must sign in with a
-- second factor, its own rate limit, and the origins its browsers may call the API from. No row:
-- the defaults (no second factor required, the deployment's rate limit, no origins of its own).
-- Changes are recorded in the audit trail ("settings.changed", old -> new).
CREATE TABLE org_settings (
    tenant_id              uuid PRIMARY KEY REFERENCES tenants (tenant_id),
    mfa_roles              text[] NOT NULL DEFAULT '{}'
        CHECK (mfa_roles <@ ARRAY['admin', 'manager', 'staff', 'viewer']::text[]),
    -- Requests per minute per client (key, person); NULL: VQ_RATE_LIMIT_PER_MINUTE.
    rate_limit_per_minute  integer CHECK (rate_limit_per_minute BETWEEN 60 AND 100000),
    -- Exact origins (scheme://host[:port], lower case, no default port), checked by the API.
    cors_origins           text[] NOT NULL DEFAULT '{}'
        CHECK (cardinality(cors_origins) <= 50),
    updated_at             timestamptz NOT NULL DEFAULT now(),
    updated_by             text
);

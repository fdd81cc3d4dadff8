-- Single sign-on (access/sso.py): an organisation's OpenID Connect provider, its client there, and
-- how the provider's claim maps onto the product's roles. One row per tenant; the client secret is
-- sealed with the deployment's secret key (access/sealed.py): a copy of the database opens nothing.
CREATE TABLE sso_settings (
    tenant_id      uuid PRIMARY KEY REFERENCES tenants (tenant_id),
    issuer         text NOT NULL,             -- compared exactly with the ID token's `iss`
    client_id      text NOT NULL,
    client_secret  bytea NOT NULL,            -- sealed; never returned by the API
    scopes         text[] NOT NULL DEFAULT '{}',  -- asked for besides openid, email, profile
    role_claim     text NOT NULL,             -- e.g. "groups", "roles", "realm_access.roles"
    role_map       jsonb NOT NULL,            -- {claim value: role}
    default_role   text,                      -- NULL: a person with no mapped value is refused
    email_domains  text[] NOT NULL DEFAULT '{}',  -- empty: any (verified) email
    enabled        boolean NOT NULL,
    updated_at     timestamptz NOT NULL,
    CHECK (default_role IS NULL OR default_role IN ('admin', 'manager', 'staff', 'viewer'))
);

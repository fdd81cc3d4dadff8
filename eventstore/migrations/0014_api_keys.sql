-- API keys grow up (access/directory.py): the roles of access/permissions.py (manager and display
-- join), scopes, expiry, rotation with an overlap, who made the key, and how much it is used.

ALTER TABLE api_keys DROP CONSTRAINT api_keys_role_check;
ALTER TABLE api_keys ADD CONSTRAINT api_keys_role_check
    CHECK (role IN ('admin', 'manager', 'staff', 'kiosk', 'display', 'viewer'));

ALTER TABLE api_keys
    -- The permissions the key is limited to (each held by its role); NULL: all of its role's.
    ADD COLUMN scopes          text[],
    -- After this moment the key is refused; NULL: it does not expire.
    ADD COLUMN expires_at      timestamptz,
    -- "key:<id>", "user:<id>", "operator" or "system": who made it.
    ADD COLUMN created_by      text,
    -- A rotation keeps the key (its id, name, role, scopes, usage) and changes its secret; the
    -- secret before keeps working until previous_until, so clients can switch without a gap.
    ADD COLUMN previous_hash   bytea,
    ADD COLUMN previous_until  timestamptz,
    ADD COLUMN rotated_at      timestamptz,
    -- Written in batches by each API process (every ~10 s), never once per request.
    ADD COLUMN last_used_at    timestamptz,
    ADD COLUMN use_count       bigint NOT NULL DEFAULT 0,
    ADD CONSTRAINT api_keys_previous_pair
        CHECK ((previous_hash IS NULL) = (previous_until IS NULL));

-- A secret in its overlap is found by its hash too.
CREATE UNIQUE INDEX api_keys_previous_hash ON api_keys (previous_hash)
    WHERE previous_hash IS NOT NULL;

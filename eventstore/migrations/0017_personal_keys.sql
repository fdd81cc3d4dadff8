-- A person's data (privacy/): one key per ticket that came with personal details, kept here and
-- never in an event. Events carry the details sealed under it (TicketEnqueued v3 `personal`);
-- erasing the person destroys the key (crypto-shredding): every copy of every event (the table,
-- the topics, exports, backups of either) keeps ciphertext nobody can open, and the fold, which
-- never reads it, is unchanged. The row stays, without its key, as the record of the erasure.
CREATE TABLE personal_keys (
    key_id      uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants (tenant_id),
    ticket_id   uuid NOT NULL UNIQUE,
    queue_id    uuid NOT NULL,                 -- where the ticket was taken (its TicketEnqueued)
    wrapped_key bytea,                         -- sealed with the deployment's secret key; NULL once erased
    created_at  timestamptz NOT NULL DEFAULT now(),
    erased_at   timestamptz,
    erased_by   text,
    CHECK ((wrapped_key IS NULL) = (erased_at IS NOT NULL))
);
CREATE INDEX personal_keys_tenant ON personal_keys (tenant_id, created_at);

-- How a person's tickets are found from what they tell us: a keyed digest (HMAC-SHA256 under a
-- key derived from the deployment's secret) of each normalised e-mail address and phone number.
-- Deleted with the key.
CREATE TABLE personal_lookup (
    tenant_id   uuid NOT NULL,
    digest      bytea NOT NULL,
    ticket_id   uuid NOT NULL REFERENCES personal_keys (ticket_id) ON DELETE CASCADE,
    PRIMARY KEY (tenant_id, digest, ticket_id)
);
CREATE INDEX personal_lookup_ticket ON personal_lookup (ticket_id);

-- The event store: one stream per queue, the events table is also the outbox the relay reads.

CREATE TABLE tenants (
    tenant_id   uuid PRIMARY KEY,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
    key_id      uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants (tenant_id),
    name        text NOT NULL,
    role        text NOT NULL CHECK (role IN ('admin', 'staff', 'kiosk', 'viewer')),
    -- SHA-256 of the secret: a stolen table gives no usable key.
    key_hash    bytea NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id);

-- The current version of each stream. Updating it with "WHERE version = expected" is the optimistic
-- concurrency check, and it is always the first write of an append transaction (see events below).
CREATE TABLE streams (
    stream_id   uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants (tenant_id),
    version     integer NOT NULL CHECK (version >= 0),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX streams_tenant ON streams (tenant_id, created_at);

-- Global order. A bigint identity is NOT commit order: two transactions can take positions 7 and 8
-- and commit 8 first, so a reader that saw 8 and remembers "after 8" skips 7 for good. Each row
-- therefore also records the id of the transaction that wrote it, and readers only read rows of
-- transactions older than the oldest one still running (pg_snapshot_xmin of their snapshot): that
-- set never changes again, so following (transaction_id, global_position) never skips an event.
-- Per stream this order is also version order: an append's first write happens only after it read
-- the stream's previous version as committed, so it always gets a younger transaction id.
CREATE TABLE events (
    global_position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    transaction_id  xid8 NOT NULL DEFAULT pg_current_xact_id(),
    stream_id       uuid NOT NULL,
    stream_version  integer NOT NULL CHECK (stream_version >= 1),
    event_id        uuid NOT NULL UNIQUE,
    tenant_id       uuid NOT NULL,
    event_type      text NOT NULL,
    schema_version  smallint NOT NULL,
    occurred_at     timestamptz NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    command_id      uuid NOT NULL,
    correlation_id  uuid NOT NULL,
    actor           text NOT NULL,
    payload         jsonb NOT NULL,
    UNIQUE (stream_id, stream_version)
);
CREATE INDEX events_commit_order ON events (transaction_id, global_position);

-- Which queue holds a ticket now (a transfer moves it). Written in the append transaction.
CREATE TABLE tickets (
    ticket_id   uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL,
    queue_id    uuid NOT NULL
);

-- A command's Idempotency-Key, stored in the same transaction as the events it produced.
CREATE TABLE idempotency_keys (
    tenant_id     uuid NOT NULL,
    idem_key      text NOT NULL,
    request_hash  bytea NOT NULL,
    status_code   integer NOT NULL,
    response      jsonb NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, idem_key)
);
CREATE INDEX idempotency_keys_age ON idempotency_keys (created_at);

-- The newest snapshot of a stream's state; derivable, so written after the append commits.
CREATE TABLE snapshots (
    stream_id       uuid PRIMARY KEY,
    version         integer NOT NULL,
    snapshot_schema integer NOT NULL,
    state           jsonb NOT NULL,
    taken_at        timestamptz NOT NULL DEFAULT now()
);

-- How far each relay (or other global reader) got, in the order described above.
CREATE TABLE checkpoints (
    name             text PRIMARY KEY,
    transaction_id   xid8 NOT NULL,
    global_position  bigint NOT NULL,
    updated_at       timestamptz NOT NULL DEFAULT now()
);

-- Reaching people (notifications/): who asked to be told what, the words, the webhook endpoints,
-- the schedules and alerts, and every message's delivery state and attempts. None of it is an
-- event: contact details stay out of the event store (a person's email is not history to keep).

-- A person's wish to be told, on one ticket, through one channel. `watch` is the notifier's
-- memory of the ticket (notifications/rules.py: thresholds crossed, versions folded), written
-- after the messages it made due are on the delivery topics.
CREATE TABLE subscriptions (
    subscription_id uuid PRIMARY KEY,
    tenant_id       uuid NOT NULL REFERENCES tenants (tenant_id),
    queue_id        uuid NOT NULL,
    ticket_id       uuid NOT NULL,
    channel         text NOT NULL,
    address         text NOT NULL,
    language        text NOT NULL DEFAULT 'en',
    rules           jsonb NOT NULL,
    watch           jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    cancelled_at    timestamptz,
    UNIQUE (ticket_id, channel, address)
);
CREATE INDEX subscriptions_ticket ON subscriptions (ticket_id) WHERE cancelled_at IS NULL;
CREATE INDEX subscriptions_queue ON subscriptions (queue_id) WHERE cancelled_at IS NULL;

-- The words of a message: per tenant, topic (a rule, an alert, "announcement"...), channel and
-- language; `queue_id` NULL is the tenant's default, a queue's own wins over it.
CREATE TABLE templates (
    template_id uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants (tenant_id),
    queue_id    uuid,
    topic       text NOT NULL,
    channel     text NOT NULL,
    language    text NOT NULL,
    subject     text,
    body        text NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX templates_key
    ON templates (tenant_id, COALESCE(queue_id, '00000000-0000-0000-0000-000000000000'::uuid),
                  topic, channel, language);

-- Where a tenant's systems want queue events, signed with `secrets` (the newest first; during a
-- rotation the previous one signs too, until `previous_until`).
CREATE TABLE webhook_endpoints (
    endpoint_id     uuid PRIMARY KEY,
    tenant_id       uuid NOT NULL REFERENCES tenants (tenant_id),
    url             text NOT NULL,
    description     text NOT NULL DEFAULT '',
    event_types     text[] NOT NULL DEFAULT '{}',
    secret          text NOT NULL,
    previous_secret text,
    previous_until  timestamptz,
    rate_per_s      integer NOT NULL DEFAULT 50,
    disabled_at     timestamptz,
    disabled_reason text,
    failing_since   timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_endpoints_tenant ON webhook_endpoints (tenant_id);

-- Staff and manager alerts: which condition, to whom (an email address or an apprise URL).
CREATE TABLE alert_rules (
    alert_id    uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants (tenant_id),
    queue_id    uuid,
    condition   text NOT NULL,
    threshold   double precision,
    channel     text NOT NULL,
    address     text NOT NULL,
    language    text NOT NULL DEFAULT 'en',
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alert_rules_tenant ON alert_rules (tenant_id);

-- One-off and recurring messages. `next_at` is the next occurrence (UTC); firing one moves it on
-- with a compare-and-set, so each occurrence fires once whichever replica gets there first.
CREATE TABLE schedules (
    schedule_id uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants (tenant_id),
    queue_id    uuid NOT NULL,
    kind        text NOT NULL,          -- 'announcement' (to everyone waiting) or 'summary'
    recurrence  text NOT NULL,          -- 'once' or 'daily'
    local_time  time,                   -- daily: the wall-clock time in `time_zone`
    time_zone   text NOT NULL,
    next_at     timestamptz,            -- NULL: nothing more to fire
    channel     text,                   -- summary: where it goes
    address     text,
    language    text NOT NULL DEFAULT 'en',
    text        text NOT NULL DEFAULT '',
    fired       integer NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX schedules_due ON schedules (next_at) WHERE next_at IS NOT NULL;

-- Every message that reached a channel worker: the source of the delivery log and of replays.
CREATE TABLE deliveries (
    message_id   text PRIMARY KEY,
    tenant_id    uuid NOT NULL,
    channel      text NOT NULL,
    destination  text NOT NULL,         -- endpoint id, subscription id, alert id
    topic        text NOT NULL,
    message      jsonb NOT NULL,
    status       text NOT NULL,         -- sending, delivered, retrying, dead
    attempts     integer NOT NULL DEFAULT 0,
    replays      integer NOT NULL DEFAULT 0,  -- times sent again from the log (attempts restart)
    duplicates   integer NOT NULL DEFAULT 0,  -- the same message again, not sent again
    resends      integer NOT NULL DEFAULT 0,  -- sent again after a crash mid-attempt (same id)
    last_error   text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    delivered_at timestamptz
);
CREATE INDEX deliveries_destination ON deliveries (tenant_id, destination, created_at);
CREATE INDEX deliveries_dead ON deliveries (tenant_id, updated_at) WHERE status = 'dead';

CREATE TABLE delivery_attempts (
    message_id  text NOT NULL REFERENCES deliveries (message_id) ON DELETE CASCADE,
    replay      integer NOT NULL DEFAULT 0, -- 0: the first round of attempts; n: the n-th replay's
    attempt     integer NOT NULL,
    at          timestamptz NOT NULL,
    outcome     text NOT NULL,          -- delivered, failed, refused, gone
    status      integer,
    seconds     double precision,
    excerpt     text NOT NULL DEFAULT '',
    error       text,
    PRIMARY KEY (message_id, replay, attempt)
);

-- A queue's defaults for the people who subscribe without choosing (the person's choice wins).
CREATE TABLE queue_notify_defaults (
    queue_id      uuid PRIMARY KEY,
    tenant_id     uuid NOT NULL REFERENCES tenants (tenant_id),
    ahead         integer NOT NULL DEFAULT 3,
    eta_minutes   integer,
    feedback_url  text,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

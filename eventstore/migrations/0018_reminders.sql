-- A booking's reminders (notifications/reminders.py): one per notification subscription made
-- with the booking, due its slot less the minutes asked for, sent once. A moved booking moves
-- them (and arms them again); a cancelled one, or an erased person, takes them away.
CREATE TABLE reminders (
    subscription_id uuid PRIMARY KEY REFERENCES subscriptions (subscription_id) ON DELETE CASCADE,
    tenant_id       uuid NOT NULL,
    queue_id        uuid NOT NULL,
    ticket_id       uuid NOT NULL,            -- the booking's id (its ticket's once checked in)
    minutes         integer NOT NULL CHECK (minutes BETWEEN 0 AND 10080),
    time_zone       text NOT NULL,            -- the queue's, when booked: the slot as said
    queue_name      text NOT NULL,            -- the queue's name when booked (its view's wins)
    slot_at         timestamptz NOT NULL,
    due_at          timestamptz NOT NULL,
    sent_at         timestamptz
);
CREATE INDEX reminders_due ON reminders (due_at) WHERE sent_at IS NULL;
CREATE INDEX reminders_ticket ON reminders (ticket_id);

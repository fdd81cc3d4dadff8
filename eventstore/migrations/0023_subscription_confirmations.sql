-- The confirmation a new subscription is told at once ("A-006: you're in line at Passports, 2
-- ahead... Reply STOP to stop."; notifications/confirmation.py): the API writes the message with
-- the subscription, in the same statement, and the notifier's schedules stage puts it on its
-- delivery topic within a second and clears it. An enqueue with `notify` does not wait for Kafka,
-- and a confirmation made while Kafka is away goes when it is back.
ALTER TABLE subscriptions ADD COLUMN confirmation jsonb;
CREATE INDEX subscriptions_confirming ON subscriptions (created_at) WHERE confirmation IS NOT NULL;

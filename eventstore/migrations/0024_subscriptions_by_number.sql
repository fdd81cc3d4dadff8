-- A reply STOP, or a provider's "this number opted out", stops every live subscription of that
-- number on that channel in every organisation (notifications/store/optout.py stop_number): found
-- by this index, not by reading the whole table (subscriptions_address leads with the tenant).
CREATE INDEX subscriptions_number ON subscriptions (channel, address) WHERE cancelled_at IS NULL;

-- A rule people are told by default (notifications/store/subscriptions.py EVENT_DEFAULTS):
-- `cancelled` (the place in line is cancelled: by staff, a closing queue sending the people still
-- waiting home, say; or by the person, a confirmation). A subscription stored before it has it
-- not, and the notifier follows the rules as stored: one still live is given it, as it would
-- have been had it been made now (nobody could turn off a rule that did not exist yet).
UPDATE subscriptions
SET rules = rules || '[{"kind": "cancelled", "threshold": null}]'::jsonb
WHERE cancelled_at IS NULL
  AND NOT rules @> '[{"kind": "cancelled"}]'::jsonb;

-- Two rules people are told by default (notifications/store/subscriptions.py EVENT_DEFAULTS):
-- `missed` (marked no-show: until when they may come back) and `moved` (transferred or merged
-- into another queue: its name and the new number). A subscription stored before them has
-- neither, and the notifier follows the rules as stored: one still live is given both, as it
-- would have been had it been made now (nobody could turn off a rule that did not exist yet).
UPDATE subscriptions
SET rules = rules || '[{"kind": "missed", "threshold": null}, {"kind": "moved", "threshold": null}]'::jsonb
WHERE cancelled_at IS NULL
  AND NOT rules @> '[{"kind": "missed"}]'::jsonb
  AND NOT rules @> '[{"kind": "moved"}]'::jsonb;
-- And `resumed` (the queue moves again after a pause) to those that are told of a pause: the
-- pause message promises it.
UPDATE subscriptions
SET rules = rules || '[{"kind": "resumed", "threshold": null}]'::jsonb
WHERE cancelled_at IS NULL
  AND rules @> '[{"kind": "paused"}]'::jsonb
  AND NOT rules @> '[{"kind": "resumed"}]'::jsonb;

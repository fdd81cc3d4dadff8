-- An Idempotency-Key keeps the command's outcome (what it appended, the versions it left, the
-- ticket it made or moved), not an HTTP answer: the API renders the outcome the same way for the
-- first answer and for every retry, so a retry gets the first answer byte for byte.
--
-- Rows written before this migration stored the HTTP body of a 200/201 answer. Each becomes the
-- outcome that renders exactly that body again: the body's queue and version (a transfer's answer
-- named only its source queue then, so only that one is kept), its event ids and types, and its
-- ticket without the two fields the API derives when it renders (the token, people ahead).
ALTER TABLE idempotency_keys ADD COLUMN outcome jsonb;

UPDATE idempotency_keys SET outcome = jsonb_build_object(
    'queue_id', response -> 'queue_id',
    'versions', jsonb_build_object(response ->> 'queue_id', response -> 'stream_version'),
    'event_ids', response -> 'event_ids',
    'event_types', response -> 'event_types',
    'ticket', CASE WHEN jsonb_typeof(response -> 'ticket') = 'object'
                   THEN (response -> 'ticket') - 'token' - 'people_ahead'
                   ELSE 'null'::jsonb END
);

ALTER TABLE idempotency_keys ALTER COLUMN outcome SET NOT NULL;
ALTER TABLE idempotency_keys DROP COLUMN response, DROP COLUMN status_code;

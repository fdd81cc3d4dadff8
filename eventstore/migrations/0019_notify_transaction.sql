-- The relay's wake-up names the transaction that committed (its id, the events' transaction_id),
-- so that a relay that has published past it already goes back to sleep instead of reading
-- again, and again behind the horizon (eventstore/relay.py): at 200 commits a second those
-- empty reads were a third of the relay's work. vq_append as in 0016 but for its NOTIFY's
-- payload (in a group, every append names the group's one transaction: PostgreSQL delivers
-- one notification for equal payloads of a transaction).
CREATE OR REPLACE FUNCTION vq_append(doc jsonb) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    stream record;
BEGIN
    FOR stream IN
        SELECT DISTINCT s ->> 'id' AS id FROM jsonb_array_elements(doc -> 'streams') AS s ORDER BY 1
    LOOP
        PERFORM pg_advisory_xact_lock(hashtextextended(stream.id, 7632));
    END LOOP;
    FOR stream IN
        SELECT * FROM jsonb_to_recordset(doc -> 'streams')
            AS x(id uuid, tenant uuid, expected integer, new integer, ages boolean)
    LOOP
        IF stream.expected = 0 THEN
            INSERT INTO streams (stream_id, tenant_id, version, ages)
            VALUES (stream.id, stream.tenant, stream.new, coalesce(stream.ages, false));
        ELSE
            UPDATE streams SET version = stream.new, updated_at = now(),
                               ages = coalesce(stream.ages, ages)
            WHERE stream_id = stream.id AND version = stream.expected;
            IF NOT FOUND THEN
                RAISE EXCEPTION 'stream % is not at version %', stream.id, stream.expected
                    USING ERRCODE = 'unique_violation', CONSTRAINT = 'streams_expected_version';
            END IF;
        END IF;
    END LOOP;
    INSERT INTO events (stream_id, stream_version, event_id, tenant_id, event_type, schema_version,
                        occurred_at, command_id, correlation_id, actor, payload)
    SELECT e.s, e.v, e.id, e.t, e.ty, e.sc, e.o, e.c, e.co, e.a, e.p::jsonb
    FROM ROWS FROM (jsonb_to_recordset(doc -> 'events') AS (
            s uuid, v integer, id uuid, t uuid, ty text, sc smallint, o timestamptz,
            c uuid, co uuid, a text, p text)) WITH ORDINALITY AS e(s, v, id, t, ty, sc, o, c, co, a, p, n)
    ORDER BY e.n;
    INSERT INTO tickets (ticket_id, tenant_id, queue_id)
    SELECT x.id, x.t, x.q FROM jsonb_to_recordset(doc -> 'tickets') AS x(id uuid, t uuid, q uuid)
    ON CONFLICT (ticket_id) DO UPDATE SET queue_id = EXCLUDED.queue_id
    WHERE tickets.tenant_id = EXCLUDED.tenant_id;
    IF jsonb_typeof(doc -> 'idempotency') = 'object' THEN
        INSERT INTO idempotency_keys (tenant_id, idem_key, request_hash, outcome)
        VALUES ((doc #>> '{idempotency,t}')::uuid, doc #>> '{idempotency,k}',
                decode(doc #>> '{idempotency,h}', 'hex'), doc #> '{idempotency,o}');
    END IF;
    IF jsonb_typeof(doc -> 'trace') = 'string' THEN  -- (in a group: the first one's)
        INSERT INTO event_traces (transaction_id, traceparent)
        VALUES (pg_current_xact_id(), doc ->> 'trace') ON CONFLICT DO NOTHING;
    END IF;
    PERFORM pg_notify('vq_events', pg_current_xact_id()::text);
END;
$$;

-- An append in one statement (eventstore/append.py): the streams' write locks, the version
-- checks, the events, the ticket index, the aging flags, the idempotency record, the trace
-- context and the relay's NOTIFY, from one JSON document. A statement costs the client more CPU
-- than it costs the server: one call instead of a transaction of eight to eleven statements is
-- most of an append's client time saved, and in autocommit it is one round trip.
--
-- The same rules as the statements it replaces (see eventstore/append.py): the advisory locks
-- are taken first, in one order (no deadlock), before anything is written, so the transaction
-- gets its id after the previous writer of the stream committed (the global order stays version
-- order within a stream); a stream not at the version the writer expected raises
-- unique_violation, as the unique keys and the contiguity trigger (0002) still would. Taking a
-- lock the caller's transaction already holds (eventstore/postgres.py `session`) is a no-op.
--
-- doc: {"streams": [{"id", "tenant", "expected", "new", "ages"}],
--       "events":  [{"s", "v", "id", "t", "ty", "sc", "o", "c", "co", "a", "p" (JSON text)}],
--       "tickets": [{"id", "t", "q"}],
--       "idempotency": {"t", "k", "h" (hex), "o" (JSON)} or null,
--       "trace": traceparent or null}
CREATE FUNCTION vq_append(doc jsonb) RETURNS void LANGUAGE plpgsql AS $$
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
    PERFORM pg_notify('vq_events', '');
END;
$$;

-- Group commit (eventstore/group.py): the appends of concurrent commands (of different streams)
-- in one transaction, one commit (one WAL flush) and one round trip for all of them. Every
-- stream's lock first, in one order; then each append in a subtransaction of its own, so that
-- one that fails (another writer got there first, its Idempotency-Key taken, or any other
-- error) fails alone and the others commit. Returns, per append in order, null (written) or
-- {"code": SQLSTATE, "constraint": name or "", "message": text}.
CREATE FUNCTION vq_append_group(docs jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    stream record;
    doc jsonb;
    violated text;
    message text;
    results jsonb := '[]'::jsonb;
BEGIN
    FOR stream IN
        SELECT DISTINCT s ->> 'id' AS id
        FROM jsonb_array_elements(docs) AS d, jsonb_array_elements(d -> 'streams') AS s
        ORDER BY 1
    LOOP
        PERFORM pg_advisory_xact_lock(hashtextextended(stream.id, 7632));
    END LOOP;
    FOR doc IN SELECT d FROM jsonb_array_elements(docs) WITH ORDINALITY AS x(d, n) ORDER BY n LOOP
        BEGIN
            PERFORM vq_append(doc);
            results := results || 'null'::jsonb;
        EXCEPTION WHEN OTHERS THEN  -- (a statement timeout is not caught: the group fails)
            GET STACKED DIAGNOSTICS violated = CONSTRAINT_NAME, message = MESSAGE_TEXT;
            results := results || jsonb_build_array(jsonb_build_object(
                'code', SQLSTATE, 'constraint', coalesce(violated, ''), 'message', message));
        END;
    END LOOP;
    RETURN results;
END;
$$;

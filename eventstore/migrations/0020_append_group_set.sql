-- Group commit, set-based (eventstore/group.py): a group whose appends all go through (nearly
-- always: a queue's commands take turns, so its version is rarely stale) is written by one
-- statement per table for the whole group instead of one subtransaction and seven statements
-- per append. Measured on the server alone (one connection sending ready-made groups, the
-- backend's CPU from /proc): 0.110 -> 0.069 ms a single-event append in groups of 8, 0.10 ->
-- 0.05 in groups of 16. The same checks as vq_append, for all at once: a stream not at its
-- expected version (fewer rows updated than named), a new stream that exists, a key taken, any
-- other error; then the attempt is undone (its own subtransaction) and every append is written
-- alone, in its own subtransaction, as before (0016), so that one that fails fails alone with
-- the error it would have had alone. A stream named by two appends of the group (they are in
-- order) goes that way too. The events keep the group's order (append by append, then event
-- by event), as the loop wrote them.
CREATE FUNCTION vq_append_all(docs jsonb) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    total integer;
    distinct_streams integer;
    created integer;
    updated integer;
BEGIN
    SELECT count(*), count(DISTINCT x.id), count(*) FILTER (WHERE x.expected = 0)
    INTO total, distinct_streams, created
    FROM jsonb_array_elements(docs) AS d,
         jsonb_to_recordset(d -> 'streams') AS x(id uuid, expected integer);
    IF distinct_streams <> total THEN
        RAISE EXCEPTION 'a stream is named by two appends of the group';
    END IF;
    IF created > 0 THEN
        INSERT INTO streams (stream_id, tenant_id, version, ages)
        SELECT x.id, x.tenant, x.new, coalesce(x.ages, false)
        FROM jsonb_array_elements(docs) AS d,
             jsonb_to_recordset(d -> 'streams')
                AS x(id uuid, tenant uuid, expected integer, new integer, ages boolean)
        WHERE x.expected = 0;
    END IF;
    IF created < total THEN
        UPDATE streams SET version = x.new, updated_at = now(),
                           ages = coalesce(x.ages, streams.ages)
        FROM (SELECT x.*
              FROM jsonb_array_elements(docs) AS d,
                   jsonb_to_recordset(d -> 'streams')
                      AS x(id uuid, expected integer, new integer, ages boolean)
              WHERE x.expected <> 0) AS x
        WHERE streams.stream_id = x.id AND streams.version = x.expected;
        GET DIAGNOSTICS updated = ROW_COUNT;
        IF updated <> total - created THEN
            RAISE EXCEPTION 'a stream of the group is not at its expected version'
                USING ERRCODE = 'unique_violation', CONSTRAINT = 'streams_expected_version';
        END IF;
    END IF;
    INSERT INTO events (stream_id, stream_version, event_id, tenant_id, event_type, schema_version,
                        occurred_at, command_id, correlation_id, actor, payload)
    SELECT e.s, e.v, e.id, e.t, e.ty, e.sc, e.o, e.c, e.co, e.a, e.p::jsonb
    FROM jsonb_array_elements(docs) WITH ORDINALITY AS d(doc, dn),
         ROWS FROM (jsonb_to_recordset(d.doc -> 'events') AS (
            s uuid, v integer, id uuid, t uuid, ty text, sc smallint, o timestamptz,
            c uuid, co uuid, a text, p text)) WITH ORDINALITY AS e(s, v, id, t, ty, sc, o, c, co, a, p, n)
    ORDER BY d.dn, e.n;
    INSERT INTO tickets (ticket_id, tenant_id, queue_id)
    SELECT x.id, x.t, x.q
    FROM jsonb_array_elements(docs) AS d,
         jsonb_to_recordset(d -> 'tickets') AS x(id uuid, t uuid, q uuid)
    ON CONFLICT (ticket_id) DO UPDATE SET queue_id = EXCLUDED.queue_id
    WHERE tickets.tenant_id = EXCLUDED.tenant_id;
    INSERT INTO idempotency_keys (tenant_id, idem_key, request_hash, outcome)
    SELECT (d #>> '{idempotency,t}')::uuid, d #>> '{idempotency,k}',
           decode(d #>> '{idempotency,h}', 'hex'), d #> '{idempotency,o}'
    FROM jsonb_array_elements(docs) AS d
    WHERE jsonb_typeof(d -> 'idempotency') = 'object';
    INSERT INTO event_traces (transaction_id, traceparent)  -- (the first one's, as in 0016)
    SELECT pg_current_xact_id(), x.d ->> 'trace'
    FROM jsonb_array_elements(docs) WITH ORDINALITY AS x(d, n)
    WHERE jsonb_typeof(x.d -> 'trace') = 'string'
    ORDER BY x.n LIMIT 1
    ON CONFLICT DO NOTHING;
    PERFORM pg_notify('vq_events', pg_current_xact_id()::text);
END;
$$;

-- 0016's group statement, kept as it was (each append alone in a subtransaction), is what the
-- group falls back to; the group's statement takes the locks (before anything is written, and
-- held whatever the attempt does), then tries the whole group at once.
ALTER FUNCTION vq_append_group(jsonb) RENAME TO vq_append_each;

CREATE FUNCTION vq_append_group(docs jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    stream record;
BEGIN
    FOR stream IN
        SELECT DISTINCT s ->> 'id' AS id
        FROM jsonb_array_elements(docs) AS d, jsonb_array_elements(d -> 'streams') AS s
        ORDER BY 1
    LOOP
        PERFORM pg_advisory_xact_lock(hashtextextended(stream.id, 7632));
    END LOOP;
    IF jsonb_array_length(docs) > 1 THEN
        BEGIN
            PERFORM vq_append_all(docs);
            RETURN (SELECT jsonb_agg(NULL::jsonb) FROM jsonb_array_elements(docs));
        EXCEPTION WHEN OTHERS THEN  -- (a statement timeout is not caught: the group fails)
            NULL;  -- undone (the locks stay held); each append alone, where one fails alone
        END;
    END IF;
    RETURN vq_append_each(docs);  -- (its locks are held already: no-ops)
END;
$$;

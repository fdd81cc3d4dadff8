-- A commit's wake-up goes to the relay of its own schema only. NOTIFY channels are the
-- database's, not a schema's: with two deployments in one database (VQ_DB_SCHEMA), every
-- commit of one woke the other's relay for a read that found nothing (and `make test`'s many
-- schemas woke every test's relay). The channel is now `vq_events_` and the md5 of the schema
-- the append runs in (current_schema(): the connection's search_path, as it finds vq_append);
-- the relay LISTENs on the same name, computed by the server on its own connection
-- (eventstore/append.py, NOTIFY_CHANNEL_SQL). The appending functions (vq_append, 0019;
-- vq_append_all, 0020) are otherwise as they were: their definitions are taken from the
-- catalogue and only the channel is replaced. A relay of before, still running after this
-- migration, hears nothing and reads at its idle poll (a second) until it is started again.
DO $$
DECLARE
    definition text;
    changed integer := 0;
BEGIN
    FOR definition IN
        SELECT f.body
        FROM (SELECT CASE WHEN p.prokind = 'f' THEN pg_get_functiondef(p.oid) END AS body
              FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
              WHERE n.nspname = current_schema()) AS f  -- (aggregates have no definition)
        WHERE f.body LIKE '%pg_notify(''vq\_events'', %'
    LOOP
        EXECUTE replace(definition, 'pg_notify(''vq_events'', ',
                        'pg_notify(''vq_events_'' || md5(current_schema()), ');
        changed := changed + 1;
    END LOOP;
    IF changed < 2 THEN
        RAISE EXCEPTION 'expected vq_append and vq_append_all to announce on vq_events, found %',
            changed;
    END IF;
END;
$$;

-- A stream's versions never have holes: version n is only accepted after version n - 1 exists.
-- The append path does not wait for its UPDATE's row count (it pipelines every write with the
-- COMMIT), so this trigger is what turns a writer with a wrong expected version into an error
-- at commit, together with the unique key (stream_id, stream_version).
CREATE FUNCTION events_contiguous() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.stream_version > 1 AND NOT EXISTS (
        SELECT 1 FROM events
        WHERE stream_id = NEW.stream_id AND stream_version = NEW.stream_version - 1
    ) THEN
        RAISE EXCEPTION 'stream % has no version % before version %',
            NEW.stream_id, NEW.stream_version - 1, NEW.stream_version
            USING ERRCODE = 'unique_violation', CONSTRAINT = 'events_contiguous';
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER events_contiguous AFTER INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION events_contiguous();

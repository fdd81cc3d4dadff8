-- Which queues age their tickets, so the write side's scheduler loads only those (loading every
-- queue each tick made an API process's memory grow with the whole store). Kept by the append
-- transaction of each QueueCreated / QueueReconfigured.
ALTER TABLE streams ADD COLUMN ages boolean NOT NULL DEFAULT false;

UPDATE streams s SET ages = coalesce((
    SELECT (e.payload -> 'config' ->> 'aging_after_seconds') IS NOT NULL
    FROM events e
    WHERE e.stream_id = s.stream_id AND e.event_type IN ('QueueCreated', 'QueueReconfigured')
    ORDER BY e.stream_version DESC LIMIT 1
), false);

CREATE INDEX streams_ages ON streams (stream_id) WHERE ages;

-- Keep a queue's snapshots at several versions, not only the newest, so a reader can start from
-- the newest snapshot at or below any version it needs (the stream processors resume a queue at
-- the version their read model has, which is usually behind the write side).
ALTER TABLE snapshots DROP CONSTRAINT snapshots_pkey;
ALTER TABLE snapshots ADD PRIMARY KEY (stream_id, version);

-- The stream processors' checkpoints of a queue's fold (its state and its wait-time estimators,
-- at one stream version), so a worker that meets a queue with a long history resumes from here
-- instead of folding every event again. One row per queue, the newest. A cache: dropping rows
-- costs a longer fold, nothing else. `fingerprint` names the code that wrote it; rows of other
-- code are ignored.
CREATE TABLE projection_states (
    stream_id   text PRIMARY KEY,
    version     bigint NOT NULL CHECK (version > 0),
    fingerprint text NOT NULL,
    data        bytea NOT NULL,
    saved_at    timestamptz NOT NULL DEFAULT now()
);

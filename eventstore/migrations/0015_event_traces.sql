-- Trace context of the appends (observability/tracing.py), written only while tracing is on
-- (VQ_OTLP_ENDPOINT): the W3C traceparent of the span that appended, keyed by the id of the
-- transaction that wrote the events (every event of one append has it: events.transaction_id),
-- so the relay can carry the trace on when it publishes them (the CloudEvents `traceparent`
-- extension). Telemetry, not a fact: kept out of the events table, and the relay forgets the rows
-- of the transactions it has published.
CREATE TABLE event_traces (
    transaction_id  xid8 PRIMARY KEY,
    traceparent     text NOT NULL CHECK (length(traceparent) <= 128)
);

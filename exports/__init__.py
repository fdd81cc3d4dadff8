"""A tenant's data out of the event store and back in: events as JSON lines or CSV, tickets as
CSV, and the import of a JSON-lines export into an empty store (`vq data export|import`)."""

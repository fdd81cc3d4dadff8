"""HTTP routes of the data exports: a tenant's events and tickets, streamed."""

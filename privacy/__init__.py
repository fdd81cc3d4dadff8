"""A person's data: sealed under a key of their own, kept outside the event log, and erased on
request by destroying the key (crypto-shredding). See docs/privacy.md."""

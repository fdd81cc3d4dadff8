"""Reaching people: notifications and webhooks, delivered from the Kafka topics.

A downstream consumer of our own topics, like any other team's: pure rules decide which messages
are due (`rules.py`), channel adapters send them, and every request that leaves goes through
`outbound.py`, which cannot be aimed at us. Webhooks are signed per the Standard Webhooks spec
(`signing.py`).
"""

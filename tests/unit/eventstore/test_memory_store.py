"""The in-memory event store passes the same contract as PostgreSQL (tests/contract/eventstore.py)."""

from __future__ import annotations

import uuid

import pytest

from eventstore.memory import InMemoryEventStore
from tests.contract.eventstore import EventStoreContract


class TestInMemoryEventStore(EventStoreContract):
    @pytest.fixture
    def store(self) -> InMemoryEventStore:
        return InMemoryEventStore()

    @pytest.fixture
    def tenant_id(self) -> str:
        return str(uuid.uuid4())

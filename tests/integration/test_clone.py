"""Cloning a queue: a new queue with the source's settings under a new name, none of its
tickets; another organisation's queue cannot be cloned (404)."""

from __future__ import annotations

from dataclasses import replace

from core.settings import Settings
from domain.events import QueueCreated
from eventstore.pool import open_pool
from eventstore.postgres import PostgresEventStore
from tests.integration.conftest import ApiClient


async def _created(settings: Settings, queue_id: str) -> QueueCreated:
    pool = await open_pool(settings, min_size=1, max_size=1, wait=True)
    try:
        first = (await PostgresEventStore(pool).read_stream(queue_id))[0].event
    finally:
        await pool.close()
    assert isinstance(first, QueueCreated)
    return first


async def test_a_clone_has_every_setting_and_no_ticket(settings: Settings, api: ApiClient) -> None:
    source = await api.create_queue(
        name="Vaccination",
        prefix="V",
        counters=["1", "2"],
        service_types=["First dose", "Booster"],
        capacity=40,
        timezone="Europe/Madrid",
        opening_hours=[{"weekday": 0, "opens": "09:00", "closes": "17:00"}],
        busy_counter_policy="close_previous",
    )
    await api.enqueue(source, service_type="Booster", allow_outside_hours=True)
    cloned = await api.post(
        f"/v1/queues/{source}/clone", "admin", json={"name": "Vaccination (annex)", "prefix": "VA"}
    )
    assert cloned.status_code == 201, cloned.text
    new_id = cloned.json()["queue_id"]
    assert new_id != source and cloned.headers["Location"] == f"/v1/queues/{new_id}"
    assert cloned.json()["event_types"] == ["QueueCreated"], "no ticket comes along"
    original, copy = await _created(settings, source), await _created(settings, new_id)
    assert copy.config == replace(original.config, name="Vaccination (annex)", prefix="VA")
    assert copy.tenant_id == original.tenant_id and copy.status == "open"

    staff = await api.post(f"/v1/queues/{source}/clone", "staff", json={"name": "Mine"})
    assert staff.status_code == 403, staff.text
    foreign = await api.http.post(
        f"/v1/queues/{source}/clone",
        headers={"Authorization": f"Bearer {api.other_tenant_key}"},
        json={"name": "Stolen"},
    )
    assert foreign.status_code == 404, foreign.text


async def test_every_template_creates_a_queue_as_it_is(settings: Settings, api: ApiClient) -> None:
    listed = await api.http.get("/v1/queue-templates", headers=api.auth("viewer"))
    assert listed.status_code == 200, listed.text
    templates = listed.json()["templates"]
    assert [t["template_id"] for t in templates][:2] == ["clinic", "bank_branch"]
    for template in templates:
        made = await api.post("/v1/queues", "admin", json=template["settings"])
        assert made.status_code == 201, (template["template_id"], made.text)
        created = await _created(settings, made.json()["queue_id"])
        assert created.config.counters == tuple(template["settings"]["counters"])
        assert created.config.opening_hours, template["template_id"]

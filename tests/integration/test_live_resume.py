"""A ticket follower that was away resumes from Last-Event-ID with every position it missed.

Real processes: the API, the relay and a stream worker. The customer's phone loses its
connection for 10 s while five people ahead are called; when it reconnects with the last id it
saw, it gets 5, 4, 3, 2, 1 in order (replayed from the queue's recent batches), then live again.
"""

from __future__ import annotations

import asyncio
import json

import httpx

from access.directory import TenantDirectory
from core.settings import Settings
from eventstore.postgres import PostgresEventStore
from tests.integration.servers import api_servers, read_side
from tests.integration.test_live import STARTUP_WAIT_S, WITHIN_S, sse_events

AWAY_S = 10.0


async def test_a_follower_away_for_ten_seconds_gets_every_position_it_missed_in_order(
    settings: Settings, topics: list[str], store: PostgresEventStore, tenant_id: str
) -> None:
    key = (await TenantDirectory(store).create_key(tenant_id, "admin", "admin")).secret
    with api_servers(settings, 1) as urls, read_side(settings):
        async with (
            httpx.AsyncClient(
                base_url=urls[0], timeout=WITHIN_S, headers={"Authorization": f"Bearer {key}"}
            ) as staff,
            httpx.AsyncClient(base_url=urls[0], timeout=STARTUP_WAIT_S + 15) as phone,
        ):
            counters = [str(n) for n in range(1, 8)]
            made = await staff.post("/v1/queues", json={"name": "Pharmacy", "counters": counters})
            queue_id = made.json()["queue_id"]
            tickets = [
                (await staff.post(f"/v1/queues/{queue_id}/tickets", json={})).json()
                for _ in range(7)
            ]
            mine = tickets[-1]["ticket"]
            path = f"/v1/tickets/{mine['ticket_id']}/events"
            headers = {"X-Ticket-Token": mine["token"]}
            params = {"min_version": tickets[-1]["stream_version"], "wait": STARTUP_WAIT_S}

            async with phone.stream("GET", path, params=params, headers=headers) as response:
                assert response.status_code == 200
                first = await asyncio.wait_for(anext(sse_events(response)), WITHIN_S)
            assert json.loads(first["data"])["position"] == 7
            last_id = first["id"]

            # The phone is away: five people ahead are called, one by one, with a pause between
            # (each its own batch: five separate messages the phone never received).
            calls = []
            for counter in counters[:5]:
                answer = await staff.post(
                    f"/v1/queues/{queue_id}/call-next", json={"counter": counter}
                )
                assert answer.status_code == 200, answer.text
                calls.append(answer.json()["stream_version"])
                await asyncio.sleep(AWAY_S / 6)
            await asyncio.sleep(AWAY_S / 6)
            # The read model has every call before the phone comes back.
            await staff.get(
                f"/v1/queues/{queue_id}", params={"min_version": calls[-1], "wait": WITHIN_S}
            )

            seen = []
            resume = {**headers, "Last-Event-ID": last_id}
            async with phone.stream("GET", path, headers=resume) as response:
                assert response.status_code == 200
                events = sse_events(response)
                async with asyncio.timeout(WITHIN_S):
                    async for event in events:
                        seen.append(event)
                        if json.loads(event["data"])["position"] == 2:
                            break
                # Then live again: the next call reaches it without a reconnect.
                answer = await staff.post(
                    f"/v1/queues/{queue_id}/call-next", json={"counter": counters[5]}
                )
                assert answer.status_code == 200
                live = await asyncio.wait_for(anext(events), WITHIN_S)

    views = [json.loads(e["data"]) for e in seen]
    assert [v["position"] for v in views] == [6, 5, 4, 3, 2]
    assert [int(e["id"]) for e in seen] == calls
    assert [v["people_ahead"] for v in views] == [5, 4, 3, 2, 1]
    assert {v["status"] for v in views} == {"waiting"}
    assert json.loads(live["data"])["position"] == 1
    assert int(live["id"]) == answer.json()["stream_version"]

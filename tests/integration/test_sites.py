"""Sites: queues name the location they belong to; `GET /v1/sites` shows each site's queues and
who waits there; closing a site in an emergency closes its queues and moves everyone waiting to
a queue elsewhere, numbers and order kept."""

from __future__ import annotations

from typing import Any

from core.settings import Settings
from tests.integration.conftest import ApiClient
from tests.integration.servers import read_side

STARTUP_WAIT_S = 30  # a stream worker that just started takes seconds to join its group


async def _seen(api: ApiClient, queue_id: str, version: int) -> dict[str, Any]:
    read = await api.http.get(
        f"/v1/queues/{queue_id}",
        headers=api.auth("admin"),
        params={"min_version": version, "wait": STARTUP_WAIT_S},
    )
    assert read.status_code == 200, read.text
    return dict(read.json())


async def _sites(api: ApiClient) -> dict[str | None, dict[str, Any]]:
    answer = await api.http.get("/v1/sites", headers=api.auth("viewer"))
    assert answer.status_code == 200, answer.text
    return {s["site"]: s for s in answer.json()["sites"]}


async def test_a_site_closed_in_an_emergency_sends_its_people_elsewhere(
    settings: Settings, topics: list[str], api: ApiClient
) -> None:
    north_a = await api.create_queue(name="North A", prefix="NA", site="North")
    north_b = await api.create_queue(name="North B", prefix="NB", site="North")
    south = await api.create_queue(name="South", prefix="S", site="South")
    loose = await api.create_queue(name="Loose")
    with read_side(settings):
        numbers = []
        for queue_id, people in ((north_a, 3), (north_b, 2), (south, 1)):
            for _ in range(people):
                made = await api.enqueue(queue_id)
                numbers.append(made["ticket"]["number"])
            await _seen(api, queue_id, made["stream_version"])
        await _seen(api, loose, 1)
        before = await _sites(api)
        assert list(before) == ["North", "South", None]
        assert (before["North"]["waiting"], before["North"]["open"]) == (5, 2)
        assert [q["name"] for q in before["North"]["queues"]] == ["North A", "North B"]
        assert before["North"]["best"]["queue_id"] in (north_a, north_b)
        # Analytics across a site's queues: North's five arrivals, not South's one.
        north = await api.http.get(
            "/v1/analytics", headers=api.auth("admin"), params={"site": "North"}
        )
        assert north.status_code == 200, north.text
        assert (north.json()["site"], north.json()["total"]["arrivals"]) == ("North", 5)
        east = await api.http.get(
            "/v1/analytics", headers=api.auth("admin"), params={"site": "East"}
        )
        assert east.status_code == 404, east.text

        # The site's hours and time zone, given to each of its queues.
        hours = [{"weekday": d, "opens": "08:30", "closes": "14:00"} for d in range(5)]
        settled = await api.post(
            "/v1/sites/settings",
            "admin",
            json={"site": "North", "timezone": "Europe/Madrid", "opening_hours": hours},
        )
        assert settled.status_code == 200, settled.text
        assert [q["queue_id"] for q in settled.json()["queues"]] == [north_a, north_b]
        for changed in settled.json()["queues"]:
            view = await _seen(api, changed["queue_id"], changed["stream_version"])
            assert view["timezone"] == "Europe/Madrid" and len(view["opening_hours"]) == 5
        assert (await _seen(api, south, 1))["timezone"] == "UTC"
        empty = await api.post("/v1/sites/settings", "admin", json={"site": "North"})
        assert empty.status_code == 422, empty.text
        unknown = await api.post(
            "/v1/sites/settings", "admin", json={"site": "East", "timezone": "UTC"}
        )
        assert unknown.status_code == 404, unknown.text

        inside = await api.post(
            "/v1/sites/close", "admin", json={"site": "North", "to_queue_id": north_b}
        )
        assert inside.status_code == 409, inside.text  # the receiving queue is at the site
        nowhere = await api.post(
            "/v1/sites/close", "admin", json={"site": "East", "to_queue_id": south}
        )
        assert nowhere.status_code == 404, nowhere.text
        staff = await api.post(
            "/v1/sites/close", "staff", json={"site": "North", "to_queue_id": south}
        )
        assert staff.status_code == 403, staff.text

        closed = await api.post(
            "/v1/sites/close",
            "admin",
            json={"site": "North", "to_queue_id": south, "reason": "burst pipe"},
        )
        assert closed.status_code == 200, closed.text
        answer = closed.json()
        assert [(c["queue_id"], c["moved"]) for c in answer["closed"]] == [
            (north_a, 3),
            (north_b, 2),
        ]
        for done in answer["closed"]:
            assert (await _seen(api, done["queue_id"], done["stream_version"]))[
                "status"
            ] == "closed"
        there = await _seen(api, south, answer["stream_version"])
        assert there["waiting"] == 6
        line = await api.http.get(
            f"/v1/queues/{south}/waiting", headers=api.auth("admin"), params={"limit": 50}
        )
        assert sorted(t["number"] for t in line.json()["tickets"]) == sorted(numbers)
        after = await _sites(api)
        assert (after["North"]["open"], after["North"]["waiting"]) == (0, 0)
        assert after["South"]["waiting"] == 6

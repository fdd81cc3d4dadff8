"""Load a virtual-queue deployment of your own with Locust (`pip install locust`; not a project
dependency).

    VQ_ADMIN_KEY=vq_... locust -f bench/locustfile.py --host https://queues.example.org

Each simulated user is a site with its own queue (made at start with the admin key, or taken
from VQ_QUEUES=id1,id2,... with VQ_STAFF_KEY and VQ_KIOSK_KEY) and does what a busy site does:
people join (enqueue), some give up (cancel), counters call the next person, start serving,
complete, or mark a no-show; about 27/24/22/22/3/3 %. Every command carries an Idempotency-Key,
as a retry-safe client's would. Each user sends one command a second (`constant_throughput`);
`--users 1000` offers about 1,000 commands/s.

Locust's users are closed loop (a slow answer delays that user's next command), so its
latencies understate a stall; `make bench` measures open loop for that reason.
"""

# mypy: disable-error-code="untyped-decorator"
from __future__ import annotations

import os
import random
import uuid
from typing import Any

from locust import HttpUser, constant_throughput, task

COUNTERS = ("1", "2", "3", "4", "5")
LONG_LINE = 40


class Site(HttpUser):  # type: ignore[misc]
    wait_time = constant_throughput(1)

    def on_start(self) -> None:
        self.waiting: list[str] = []
        self.called: list[str] = []
        self.serving: list[str] = []
        queues = [q for q in os.environ.get("VQ_QUEUES", "").split(",") if q]
        admin = os.environ.get("VQ_ADMIN_KEY")
        self.staff = {"Authorization": f"Bearer {os.environ.get('VQ_STAFF_KEY') or admin}"}
        self.kiosk = {"Authorization": f"Bearer {os.environ.get('VQ_KIOSK_KEY') or admin}"}
        if queues:
            self.queue_id = random.choice(queues)
            return
        if not admin:
            raise RuntimeError("set VQ_ADMIN_KEY (or VQ_QUEUES with VQ_STAFF_KEY, VQ_KIOSK_KEY)")
        answer = self.client.post(
            "/v1/queues",
            headers={"Authorization": f"Bearer {admin}"},
            json={
                "name": f"Locust {uuid.uuid4().hex[:6]}",
                "prefix": "L",
                "counters": list(COUNTERS),
                # Counters are picked at random: one still busy closes its visit first.
                "busy_counter_policy": "close_previous",
            },
            name="/v1/queues",
        )
        answer.raise_for_status()
        self.queue_id = answer.json()["queue_id"]

    def _post(
        self, path: str, name: str, headers: dict[str, str], body: dict[str, Any] | None = None
    ) -> Any:
        headers = {**headers, "Idempotency-Key": uuid.uuid4().hex}
        with self.client.post(
            path, json=body, headers=headers, name=name, catch_response=True
        ) as answer:
            if answer.status_code in (409, 422):  # the line moved under us: not a failure
                answer.success()
            return answer.json() if answer.status_code < 300 else None

    @task(27)
    def enqueue(self) -> None:
        if len(self.waiting) > LONG_LINE:
            self.call_next()
            return
        body = self._post(
            f"/v1/queues/{self.queue_id}/tickets",
            "/v1/queues/[id]/tickets",
            self.kiosk,
            {"channel": "kiosk"},
        )
        if body and body.get("ticket"):
            self.waiting.append(body["ticket"]["ticket_id"])

    @task(24)
    def call_next(self) -> None:
        if not self.waiting:
            self.enqueue()
            return
        body = self._post(
            f"/v1/queues/{self.queue_id}/call-next",
            "/v1/queues/[id]/call-next",
            self.staff,
            {"counter": random.choice(COUNTERS)},
        )
        if body and body.get("ticket"):
            ticket = body["ticket"]["ticket_id"]
            if ticket in self.waiting:
                self.waiting.remove(ticket)
            self.called.append(ticket)

    def _ticket(self, pool: list[str], action: str) -> str | None:
        if not pool:
            self.enqueue()
            return None
        ticket = pool.pop(random.randrange(len(pool)))
        return (
            ticket
            if self._post(
                f"/v1/tickets/{ticket}/{action}", f"/v1/tickets/[id]/{action}", self.staff
            )
            else None
        )

    @task(22)
    def start(self) -> None:
        if (ticket := self._ticket(self.called, "start")) is not None:
            self.serving.append(ticket)

    @task(22)
    def complete(self) -> None:
        self._ticket(self.serving, "complete")

    @task(3)
    def no_show(self) -> None:
        self._ticket(self.called, "no-show")

    @task(3)
    def cancel(self) -> None:
        if len(self.waiting) > 1:
            ticket = self.waiting.pop()
            self._post(f"/v1/tickets/{ticket}/cancel", "/v1/tickets/[id]/cancel", self.staff)

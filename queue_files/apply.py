"""The import over HTTP: the API's create body (its OpenAPI document), the tenant's queues, and
each step of a plan sent as the command it is.

Each queue is its own command: the API applies them one by one, so a refusal midway leaves the
queues before it made (or updated). `apply` stops at the first refusal and says what was done;
a run of the same file again finds those queues and goes on (a create sent again carries the
same Idempotency-Key, which the API answers with the first answer, making nothing twice).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import httpx

from queue_files.plan import Step
from queue_files.schema import Schema

CREATE_PATH: Final = "/v1/queues"
TIMEOUT_S: Final = 15.0
MAX_WAIT_S: Final = 30.0  # the most the API waits for a read model on one request
USER_AGENT: Final = "vq-queues-import"


class Unreachable(Exception):
    """No answer from the API (down, wrong URL, timed out)."""


class ApiError(Exception):
    """The API answered with a problem (RFC 9457): its status, title and detail."""

    def __init__(self, status: int, title: str, detail: str = "", errors: Sequence[Any] = ()):
        super().__init__(title)
        self.status = status
        self.title = title
        self.detail = detail
        self.errors = list(errors)

    def __str__(self) -> str:
        text = f"{self.status} {self.title}"
        if self.detail and self.detail != self.title:
            text += f": {self.detail}"
        for error in self.errors[:5]:
            if isinstance(error, dict):
                where = ".".join(str(p) for p in error.get("loc", []) if p != "body")
                text += f"; {where}: {error.get('msg', error)}" if where else f"; {error}"
        return text


def problem(response: httpx.Response) -> ApiError:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return ApiError(response.status_code, response.reason_phrase, response.text[:200])
    return ApiError(
        response.status_code,
        str(body.get("title") or response.reason_phrase),
        str(body.get("detail") or ""),
        body.get("errors") or (),
    )


class Api:
    """The public HTTP API, with one API key (sent as a bearer token, never shown)."""

    def __init__(self, url: str, key: str, *, transport: httpx.BaseTransport | None = None) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.url,
            timeout=TIMEOUT_S,
            transport=transport,
            headers={"Authorization": f"Bearer {key}", "User-Agent": USER_AGENT},
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            why = str(exc) or type(exc).__name__
            raise Unreachable(f"the API at {self.url} is not reachable ({why})") from None

    def _json(self, response: httpx.Response, *ok: int) -> Any:
        if response.status_code not in ok:
            raise problem(response)
        try:
            return response.json()
        except ValueError:
            raise ApiError(response.status_code, "the answer is not JSON") from None

    def create_body(self) -> tuple[Schema, Schema]:
        """The schema of `POST /v1/queues`'s body and the document its refs point into."""
        document = self._json(self._send("GET", "/openapi.json"), 200)
        try:
            content = document["paths"][CREATE_PATH]["post"]["requestBody"]["content"]
            return dict(content["application/json"]["schema"]), dict(document)
        except (KeyError, TypeError):
            raise ApiError(
                200, "not a vq API", f"{self.url}/openapi.json has no body for POST {CREATE_PATH}"
            ) from None

    def queues(self) -> list[dict[str, Any]]:
        """The tenant's queues, as the read side shows them now."""
        answer = self._json(self._send("GET", CREATE_PATH), 200)
        return [q for q in answer.get("queues", []) if isinstance(q, dict)]

    def create(self, body: dict[str, Any], key: str) -> tuple[dict[str, Any], bool]:
        """The command's answer, and whether it was a replay (this key was sent before)."""
        response = self._send("POST", CREATE_PATH, json=body, headers={"Idempotency-Key": key})
        replayed = response.headers.get("Idempotent-Replayed") == "true"
        return dict(self._json(response, 201)), replayed

    def update(
        self, queue_id: str, version: int, changes: dict[str, Any], reason: str
    ) -> dict[str, Any]:
        response = self._send(
            "PATCH",
            f"{CREATE_PATH}/{queue_id}",
            json={**changes, "reason": reason},
            headers={"If-Match": f'"{version}"'},
        )
        return dict(self._json(response, 200))

    def shows(self, queue_id: str, version: int, deadline: float) -> bool:
        """Whether the read side shows the queue at `version` (or later) before `deadline`."""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            params = {"min_version": version, "wait": round(min(left, MAX_WAIT_S), 1)}
            response = self._send("GET", f"{CREATE_PATH}/{queue_id}", params=params)
            if response.status_code == 200:
                return True
            if response.status_code not in (404, 409):  # not there yet, or behind
                raise problem(response)
            time.sleep(min(0.5, max(deadline - time.monotonic(), 0)))


@dataclass(frozen=True, slots=True)
class Done:
    """One step taken: what it did and the queue's stream version after it."""

    step: Step
    queue_id: str
    version: int
    replayed: bool = False


@dataclass
class Applied:
    done: list[Done]
    failed: Step | None = None
    error: ApiError | Unreachable | None = None


def apply(api: Api, steps: Sequence[Step], reason: str, report: Callable[[Done], None]) -> Applied:
    """Each step as its command, in order; stops at the first the API refuses."""
    applied = Applied(done=[])
    for step in steps:
        try:
            done = _take(api, step, reason)
        except (ApiError, Unreachable) as exc:
            applied.failed, applied.error = step, exc
            return applied
        applied.done.append(done)
        report(done)
    return applied


def _take(api: Api, step: Step, reason: str) -> Done:
    if step.action == "create":
        answer, replayed = api.create(step.item.body, step.item.key)
        return Done(step, str(answer["queue_id"]), int(answer["stream_version"]), replayed)
    assert step.queue is not None
    queue_id, version = str(step.queue["queue_id"]), int(step.queue["version"])
    if step.action == "update":
        answer = api.update(queue_id, version, step.changes, reason)
        version = int(answer["stream_version"])
    return Done(step, queue_id, version)


def settle(api: Api, done: Sequence[Done], wait: float) -> list[Done]:
    """The changes the read side does not show yet after `wait` seconds (a run right after them
    would not find them: it would replay a create, or be refused an update as too old)."""
    deadline = time.monotonic() + wait
    changed = [d for d in done if d.step.action != "unchanged"]
    return [d for d in changed if not api.shows(d.queue_id, d.version, deadline)]

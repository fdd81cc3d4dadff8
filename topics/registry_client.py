"""A client of the Confluent Schema Registry REST API (Apicurio's /apis/ccompat/v7 speaks it).

Only what the relay and the tests need: set a subject's compatibility, register a schema version,
read a schema by id. The registry's refusals become `SchemaRefused`; an unreachable or failing
registry becomes `RegistryUnavailable`.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
TIMEOUT_S = 5.0
# A registration that raced another of its subject is asked again this many times.
RACE_RETRIES = 2


class RegistryUnavailable(ConnectionError):
    """The registry did not answer, or answered with a server error."""


class SchemaRefused(Exception):
    """The registry refused a schema: incompatible with the subject's versions (409) or invalid
    (422)."""

    def __init__(self, subject: str, status: int, reason: str) -> None:
        super().__init__(f"{subject}: refused by the schema registry ({status}): {reason}")
        self.subject = subject
        self.status = status
        self.reason = reason


class RegistryClient:
    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = TIMEOUT_S,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=timeout,
            headers={"Accept": CONTENT_TYPE, "Content-Type": CONTENT_TYPE},
            follow_redirects=False,
            transport=transport,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def set_compatibility(self, subject: str, level: str) -> None:
        await self._call("PUT", f"/config/{subject}", subject, {"compatibility": level})

    async def compatibility(self, subject: str) -> str | None:
        found = await self._call("GET", f"/config/{subject}", subject)
        level = found.get("compatibilityLevel") or found.get("compatibility")
        return str(level) if level else None

    async def register(self, subject: str, schema: str) -> int:
        """The id of `schema` under `subject`, registering it as a new version if needed.

        Registering is idempotent in the Confluent API, but Apicurio answers 409 "already
        exists" to a registration that raced another of the same subject (two at once, or a
        retry of one that went through and answered late); asked again, it answers the id. A
        409 that says anything else (incompatible) is a refusal."""
        path, body = f"/subjects/{subject}/versions", {"schema": schema}
        for _ in range(RACE_RETRIES):
            try:
                return int((await self._call("POST", path, subject, body))["id"])
            except SchemaRefused as refused:
                if refused.status != 409 or "already exists" not in refused.reason:
                    raise
        return int((await self._call("POST", path, subject, body))["id"])

    async def schema(self, schema_id: int) -> str:
        answer = await self._call("GET", f"/schemas/ids/{schema_id}", str(schema_id))
        return str(answer["schema"])

    async def subjects(self) -> list[str]:
        answer = await self._http_json("GET", "/subjects", "subjects")
        return [str(name) for name in answer]

    async def _call(
        self, method: str, path: str, subject: str, body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        found = await self._http_json(method, path, subject, body)
        if not isinstance(found, dict):
            raise RegistryUnavailable(f"{method} {path}: not a JSON object")
        return found

    async def _http_json(
        self, method: str, path: str, subject: str, body: dict[str, Any] | None = None
    ) -> Any:
        try:
            answer = await self._http.request(
                method, path, content=None if body is None else json.dumps(body)
            )
        except httpx.HTTPError as exc:
            raise RegistryUnavailable(f"schema registry at {self.base_url}: {exc!r}") from exc
        if answer.status_code in (409, 422):
            raise SchemaRefused(subject, answer.status_code, _message(answer))
        if answer.status_code >= 400:
            raise RegistryUnavailable(
                f"{method} {self.base_url}{path}: {answer.status_code} {_message(answer)}"
            )
        try:
            return answer.json()
        except ValueError as exc:
            raise RegistryUnavailable(f"{method} {path}: the answer is not JSON") from exc


def _message(answer: httpx.Response) -> str:
    try:
        return str(answer.json().get("message", answer.text))[:500]
    except (ValueError, AttributeError):
        return answer.text[:500]

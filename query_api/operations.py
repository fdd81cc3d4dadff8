"""Operations: is the process alive, can it work, what time does it think it is, and what each
problem type means."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, Field

from core.clock import Clock, ScaledClock
from http_api.auth import permission
from http_api.deps import ServicesDep
from http_api.problems import PROBLEMS, ProblemError, problem_responses


class ClockOut(BaseModel):
    """What time the API thinks it is, and how fast that time runs."""

    now: datetime = Field(description="The time new events are stamped with (ISO-8601, UTC)")
    speed: float = Field(description="Simulated seconds per real second (1 = real time)")


def router(clock: Clock) -> APIRouter:
    """The operations routes, telling the time of `clock`."""
    ops = APIRouter(tags=["operations"])
    speed = clock.speed if isinstance(clock, ScaledClock) else 1.0

    @ops.get("/healthz", summary="The process is alive", openapi_extra=permission("public"))
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @ops.get(
        "/v1/clock",
        response_model=ClockOut,
        summary="The API's time (accelerated when VQ_CLOCK_START or VQ_CLOCK_SPEED is set)",
        openapi_extra=permission("public"),
    )
    async def clock_now() -> ClockOut:
        """Events are stamped with this time; a simulation driver aligns its own timeline to it."""
        return ClockOut(now=clock(), speed=speed)

    @ops.get(
        "/readyz",
        summary="PostgreSQL answers",
        responses=problem_responses("service-unavailable", common=()),
        openapi_extra=permission("public"),
    )
    async def readyz(svc: ServicesDep) -> dict[str, str]:
        await svc.store.ping()
        return {"status": "ready"}

    @ops.get(
        "/problems/{code}",
        summary="What a problem type means",
        responses=problem_responses("not-found", "validation", common=()),
        openapi_extra=permission("public"),
    )
    async def problem_doc(code: str) -> dict[str, object]:
        if code not in PROBLEMS:
            raise ProblemError("not-found", f"no problem type {code}")
        status, title = PROBLEMS[code]
        return {"type": f"/problems/{code}", "status": status, "title": title}

    return ops

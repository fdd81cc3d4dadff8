"""The API's clock: real time by default, or a scenario's day played faster (VQ_CLOCK_*)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest

from core.clock import ScaledClock, service_clock, utcnow
from core.settings import Settings, SettingsError, get_settings
from vq.api import create_app
from vq.cli import main

PARIS_MORNING = datetime(2024, 3, 4, 7, 55, tzinfo=timezone(timedelta(hours=1)))


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_scaled_clock_runs_speed_times_faster_from_its_start() -> None:
    monotonic = FakeMonotonic()
    clock = ScaledClock(PARIS_MORNING, 120.0, monotonic)
    assert clock() == PARIS_MORNING
    assert clock().tzinfo == UTC  # events are stamped in UTC, whatever offset was given
    monotonic.now += 30.0
    assert clock() == PARIS_MORNING + timedelta(hours=1)


def test_the_scaled_clock_refuses_what_it_cannot_run() -> None:
    with pytest.raises(ValueError, match="offset"):
        ScaledClock(datetime(2024, 3, 4, 7, 55), 2.0)
    for speed in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="speed"):
            ScaledClock(PARIS_MORNING, speed)


def test_settings_choose_the_clock() -> None:
    assert service_clock(Settings()) is utcnow
    scaled = service_clock(Settings(clock_start=PARIS_MORNING, clock_speed=60.0))
    assert isinstance(scaled, ScaledClock) and scaled.speed == 60.0
    assert abs(scaled() - PARIS_MORNING) < timedelta(minutes=1)
    faster = service_clock(Settings(clock_speed=10.0))  # from the real time at start-up
    assert isinstance(faster, ScaledClock)
    assert abs(faster() - datetime.now(UTC)) < timedelta(minutes=1)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("VQ_CLOCK_SPEED", "0"),
        ("VQ_CLOCK_SPEED", "-2"),
        ("VQ_CLOCK_SPEED", "inf"),
        ("VQ_CLOCK_SPEED", "fast"),
        ("VQ_CLOCK_START", "2024-03-04T07:55:00"),
        ("VQ_CLOCK_START", "tomorrow"),
    ],
)
def test_bad_clock_settings_stop_the_api_with_one_line(
    name: str, value: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        with pytest.raises(SettingsError, match=name):
            get_settings()
        assert main(["api", "--port", "1"]) == 2
    finally:
        get_settings.cache_clear()
    err = capsys.readouterr().err
    assert err.startswith(f"vq api: bad setting: {name}=") and err.count("\n") == 1, err


async def test_get_clock_tells_drivers_the_api_time_and_speed() -> None:
    app = create_app(Settings(clock_start=PARIS_MORNING, clock_speed=60.0))
    transport = httpx.ASGITransport(app=app)  # no lifespan: this route needs no server
    async with httpx.AsyncClient(transport=transport, base_url="http://vq.test") as http:
        answer = await http.get("/v1/clock")
    assert answer.status_code == 200
    body = answer.json()
    assert body["speed"] == 60.0
    now = datetime.fromisoformat(body["now"])
    assert PARIS_MORNING <= now < PARIS_MORNING + timedelta(minutes=5)
    documented = app.openapi()["paths"]["/v1/clock"]["get"]["responses"]["200"]
    assert documented["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ClockOut"
    }

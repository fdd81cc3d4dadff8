"""`vq run`'s banner: with the demo's scenario traffic, the pages that show a queue's day open on
the queue the traffic plays (the dashboard, the lobby display, the accuracy command), before the
queues left for a person to try."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.settings import Settings
from vq.run import _print_banner

DEMO = {
    "tenant_id": "t-1",
    "admin_key": "vq_admin",
    "kiosk_key": "vq_kiosk",
    "viewer_key": "vq_viewer",
    "display_key": "vq_display",
    "staff_email": "staff@demo.example",
    "staff_password": "s",
    "admin_email": "admin@demo.example",
    "admin_password": "a",
    "queues": ["q-reception", "q-pharmacy", "q-lab"],
}


def banner(demo: dict[str, object], capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    _print_banner(Settings(), "http://api", demo, Path("/logs"), "http://inbox/", False, {})
    lines = capsys.readouterr().out.splitlines()
    return {" ".join(line.split()[:2]): line for line in lines if line.startswith("    ")}


def test_the_pages_open_on_the_queue_the_traffic_plays(capsys: pytest.CaptureFixture[str]) -> None:
    shown = banner(DEMO | {"traffic_queue": "q-clinic"}, capsys)
    assert shown["dashboard http://api/dashboard#key=vq_viewer&queue=q-clinic"]
    assert "/display?queues=q-clinic,q-reception,q-pharmacy,q-lab#" in shown["lobby display"]
    assert shown["board Clinic"].endswith("http://api/board/q-clinic#key=vq_viewer")
    assert shown["accuracy curl"].endswith("http://api/v1/queues/q-clinic/accuracy")


# No queue of the traffic yet, or one from an earlier run while this one plays no scenario day.
@pytest.mark.parametrize("traffic", [{}, {"traffic_queue": None}])
def test_without_the_traffic_the_first_demo_queue_is_shown(
    traffic: dict[str, object], capsys: pytest.CaptureFixture[str]
) -> None:
    shown = banner(DEMO | traffic, capsys)
    assert shown["dashboard http://api/dashboard#key=vq_viewer"]
    assert "/display?queues=q-reception,q-pharmacy,q-lab#" in shown["lobby display"]
    assert "board Clinic" not in shown
    assert shown["accuracy curl"].endswith("http://api/v1/queues/q-reception/accuracy")

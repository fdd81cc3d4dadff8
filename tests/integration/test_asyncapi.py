"""/asyncapi.json: an AsyncAPI 3.0 document of every topic the product writes and of the queue
WebSocket's messages, parsed by the official parser (`@asyncapi/parser` with its Avro schema
parser, from npm: tests/asyncapi)."""

from __future__ import annotations

import copy
import fcntl
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from core.settings import Settings
from tests.integration.conftest import ApiClient

PARSER_DIR = Path(__file__).resolve().parents[1] / "asyncapi"
INSTALL_TIMEOUT_S = 600


def _installed() -> bool:
    marker = PARSER_DIR / "node_modules" / ".package-lock.json"
    lock = PARSER_DIR / "package-lock.json"
    return marker.exists() and marker.stat().st_mtime >= lock.stat().st_mtime


def ensure_installed() -> None:
    """`npm ci` once (under a lock: parallel test processes take turns)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.fail("the AsyncAPI test needs node and npm (Node.js 20.19 or later) on PATH")
    if _installed():
        return
    with (PARSER_DIR / ".install.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _installed():
            return
        done = subprocess.run(
            ["npm", "ci", "--prefix", str(PARSER_DIR), "--no-audit", "--no-fund"],
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT_S,
            check=False,
        )
        assert done.returncode == 0, f"npm ci failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


def parse(document: dict[str, Any], tmp_path: Path) -> tuple[int, dict[str, Any]]:
    ensure_installed()
    path = tmp_path / f"asyncapi-{id(document)}.json"
    path.write_text(json.dumps(document))
    done = subprocess.run(
        ["node", str(PARSER_DIR / "validate.mjs"), str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.stdout, done.stderr
    return done.returncode, json.loads(done.stdout)


async def test_the_document_parses_and_names_every_topic(
    api: ApiClient, settings: Settings, tmp_path: Path
) -> None:
    answer = await api.http.get("/asyncapi.json")
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
    document = answer.json()
    code, parsed = parse(document, tmp_path)
    assert code == 0 and parsed["errors"] == [], parsed["errors"]
    assert parsed["warnings"] == 0
    found = parsed["document"]
    assert found["version"] == "3.0.0"
    # Every topic the product writes (what `vq stack up` creates), and only those.
    written = {
        settings.events_topic,
        settings.positions_topic,
        settings.events_dead_letter_topic,
        *settings.delivery_topics,
    }
    socket = "/v1/queues/{queue_id}/ws"  # and the queue's WebSocket
    assert {channel["address"] for channel in found["channels"]} == written | {socket}
    assert {op.split(" ", 1)[1] for op in found["operations"]} == written | {socket}
    live = next(c for c in found["channels"] if c["address"] == socket)
    assert set(live["messages"]) == {"QueueView", "ReadSideStatus"}
    status = document["components"]["messages"]["ReadSideStatus"]["payload"]
    assert status["properties"]["type"] == {"const": "status"}
    assert status["properties"]["read_side"]["enum"] == ["delayed", "current"]
    events = next(c for c in found["channels"] if c["address"] == settings.events_topic)
    assert {"QueueCreated", "TicketEnqueued", "TicketCalled"} <= set(events["messages"])
    # The Avro payloads were parsed as Avro: one per event type, plus the positions.
    assert found["avroPayloads"] == len(events["messages"]) + 1
    enqueued = document["components"]["messages"]["TicketEnqueued"]
    assert enqueued["payload"]["schema"]["name"] == "TicketEnqueued"
    assert enqueued["bindings"]["kafka"]["key"]["type"] == "string"
    assert "ce_vqschemaversion" in enqueued["headers"]["required"]


async def test_the_parser_does_find_mistakes(api: ApiClient, tmp_path: Path) -> None:
    """The check above could not pass by accident: a broken reference and a broken Avro
    schema are both reported."""
    document = (await api.http.get("/asyncapi.json")).json()
    dangling = copy.deepcopy(document)
    dangling["channels"]["positions"]["messages"]["Nope"] = {"$ref": "#/components/messages/Nope"}
    code, parsed = parse(dangling, tmp_path)
    assert code == 1 and any("Nope" in json.dumps(e) for e in parsed["errors"])
    bad_avro = copy.deepcopy(document)
    bad_avro["components"]["messages"]["TicketCalled"]["payload"]["schema"]["fields"][0]["type"] = (
        "no-such-avro-type"
    )
    code, parsed = parse(bad_avro, tmp_path)
    assert code == 1 and parsed["errors"], parsed

"""`vq queues import|export` against a real API process and read side, as an integrator runs it:
the example branch made, found again unchanged (no event), one setting updated; a file with a
bad item or a key without queues:manage changes nothing; an export imported into another
organisation makes the same queues; a down API is one line and exit 1."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from access.directory import TenantDirectory
from core.settings import Settings
from eventstore.postgres import PostgresEventStore
from queue_files.plan import NOT_SETTINGS
from tests.integration.servers import api_servers, free_port, read_side, settings_env

EXAMPLE = Path(__file__).resolve().parents[2] / "queue_files" / "examples" / "branch.yaml"
NAMES = {"Tellers", "Accounts and advice", "Business banking"}
WAIT = "60"  # a stream worker that just started takes seconds to join its group


async def _vq(
    settings: Settings, key: str, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**settings_env(settings), "VQ_API_KEY": key}
    command = [sys.executable, "-m", "vq.cli", "queues", *args]
    return await asyncio.to_thread(
        subprocess.run, command, env=env, input=stdin, capture_output=True, text=True, timeout=180
    )


def _queues(url: str, key: str) -> dict[str, dict[str, Any]]:
    answer = httpx.get(f"{url}/v1/queues", headers={"Authorization": f"Bearer {key}"}, timeout=10)
    assert answer.status_code == 200, answer.text
    return {q["name"]: q for q in answer.json()["queues"]}


async def _events(store: PostgresEventStore, queues: dict[str, dict[str, Any]]) -> int:
    return sum([len(await store.read_stream(q["queue_id"])) for q in queues.values()])


def _variant(source: Path, target: Path, *edits: tuple[str, str]) -> Path:
    """A copy of `source` with each (old, new) text replaced (once)."""
    text = source.read_text()
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new, 1)
    target.write_text(text)
    return target


def _settings(queue: dict[str, Any], fields: set[str]) -> dict[str, Any]:
    return {k: queue[k] for k in fields}


async def test_import_creates_then_leaves_alone_then_updates(
    settings: Settings, topics: list[str], store: PostgresEventStore, tmp_path: Path
) -> None:
    directory = TenantDirectory(store)
    tenant_id, admin = await directory.create_tenant("Branch")
    staff = (await directory.create_key(tenant_id, "counter staff", "staff")).secret
    with api_servers(settings, 1) as [url], read_side(settings):
        first = await _vq(
            settings, admin.secret, "import", str(EXAMPLE), "--url", url, "--wait", WAIT
        )
        assert first.returncode == 0, first.stderr
        assert first.stdout.count("created ") == 3, first.stdout
        assert (
            "3 queues from" in first.stdout and "3 created, 0 updated, 0 unchanged" in first.stdout
        )
        queues = _queues(url, admin.secret)
        assert set(queues) == NAMES
        tellers = queues["Tellers"]
        assert (tellers["site"], tellers["prefix"], tellers["counters"]) == (
            "Downtown", "T", ["1", "2", "3", "4"],
        )  # fmt: skip
        assert tellers["opening_hours"][5] == {"weekday": 5, "opens": "09:30", "closes": "12:30"}
        assert tellers["busy_counter_policy"] == "close_previous"
        events = await _events(store, queues)

        again = await _vq(settings, admin.secret, "import", str(EXAMPLE), "--url", url)
        assert again.returncode == 0, again.stderr
        assert "0 created, 0 updated, 3 unchanged" in again.stdout, again.stdout
        assert await _events(store, queues) == events, "an unchanged queue gets no event"

        edited = _variant(EXAMPLE, tmp_path / "branch.yml", ("capacity: 120", "capacity: 150"))
        planned = await _vq(
            settings, admin.secret, "import", str(edited), "--url", url, "--dry-run"
        )
        assert planned.returncode == 0, planned.stderr
        assert "would update  Tellers @ Downtown: capacity (120 -> 150)" in planned.stdout
        assert await _events(store, queues) == events, "a dry run changes nothing"
        updated = await _vq(
            settings, admin.secret, "import", str(edited), "--url", url, "--wait", WAIT
        )
        assert updated.returncode == 0, updated.stderr
        assert "0 created, 1 updated, 2 unchanged" in updated.stdout, updated.stdout
        assert "updated       Tellers @ Downtown: capacity (120 -> 150)" in updated.stdout
        assert _queues(url, admin.secret)["Tellers"]["capacity"] == 150
        events += 1

        await _refused_changes_nothing(settings, url, admin.secret, staff, edited, tmp_path)
        assert await _events(store, queues) == events
        assert set(_queues(url, admin.secret)) == NAMES


async def _refused_changes_nothing(
    settings: Settings, url: str, admin: str, staff: str, edited: Path, tmp_path: Path
) -> None:
    """A bad item (the file's last) and nothing of the file is sent; a staff key is refused."""
    extra = "queues:\n  - name: Night safe\n    counters: ['1']\n\n"
    bad = _variant(
        edited, tmp_path / "bad.yaml", ("queues:\n", extra), ('counters: ["7"]', "counters: []")
    )
    invalid = await _vq(settings, admin, "import", str(bad), "--url", url)
    assert invalid.returncode == 2, invalid.stdout + invalid.stderr
    assert f"{bad}: queues[3] 'Business banking': counters: has 0 items" in invalid.stderr
    assert "nothing was changed" in invalid.stderr and invalid.stdout == ""

    changed = _variant(edited, tmp_path / "more.yaml", ("capacity: 150", "capacity: 200"))
    refused = await _vq(settings, staff, "import", str(changed), "--url", url)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert (
        "queues[0] 'Tellers @ Downtown': updating it failed: 403 This role may not do that"
        in refused.stderr
    )
    assert "Traceback" not in refused.stderr and staff not in refused.stdout + refused.stderr


async def test_an_export_imported_elsewhere_makes_the_same_queues(
    settings: Settings, topics: list[str], store: PostgresEventStore, tmp_path: Path
) -> None:
    directory = TenantDirectory(store)
    _, first = await directory.create_tenant("Branch")
    _, second = await directory.create_tenant("Branch, again")
    with api_servers(settings, 1) as [url], read_side(settings):
        made = await _vq(
            settings, first.secret, "import", str(EXAMPLE), "--url", url, "--wait", WAIT
        )
        assert made.returncode == 0, made.stderr
        out = tmp_path / "exported.yaml"
        exported = await _vq(settings, first.secret, "export", "--url", url, "--output", str(out))
        assert exported.returncode == 0, exported.stderr
        assert exported.stderr.strip() == "exported 3 queues (yaml)"

        as_json = await _vq(settings, first.secret, "export", "--url", url, "--format", "json")
        assert as_json.returncode == 0, as_json.stderr
        moved = await _vq(
            settings, second.secret, "import", "-", "--format", "json", "--url", url,
            "--wait", WAIT, stdin=as_json.stdout,
        )  # fmt: skip
        assert moved.returncode == 0, moved.stderr
        assert "3 queues from <stdin>: 3 created, 0 updated, 0 unchanged" in moved.stdout

        there, here = _queues(url, first.secret), _queues(url, second.secret)
        fields = set(there["Tellers"]) & {
            "site", "prefix", "service_types", "counters", "capacity", "priority_classes",
            "default_priority", "timezone", "opening_hours", "allow_outside_hours",
            "aging_after_seconds", "aging_max_priority", "no_show_grace_seconds",
            "transfer_policy", "busy_counter_policy", "target_wait_seconds",
            "mean_service_seconds", "status",
        }  # fmt: skip
        assert len(fields) == 18 and not fields & (NOT_SETTINGS - {"status"})
        for name in NAMES:
            assert _settings(here[name], fields) == _settings(there[name], fields), name
        assert {q["queue_id"] for q in here.values()}.isdisjoint(
            q["queue_id"] for q in there.values()
        )

        back = await _vq(settings, second.secret, "import", str(out), "--url", url)
        assert back.returncode == 0, back.stderr
        assert "0 created, 0 updated, 3 unchanged" in back.stdout, back.stdout
        again = await _vq(settings, second.secret, "export", "--url", url)
        written = await asyncio.to_thread(out.read_text)
        assert again.stdout == written, "the second organisation exports the same file"


async def test_a_down_api_is_one_line_and_exit_1(settings: Settings) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    down = await _vq(settings, "vq_secret_key_never_shown", "import", str(EXAMPLE), "--url", url)
    assert down.returncode == 1, down.stdout + down.stderr
    [line] = down.stderr.splitlines()
    assert line.startswith(f"vq queues import: the API at {url} is not reachable"), line
    assert "vq_secret_key_never_shown" not in down.stderr + down.stdout

    nokey = await _vq(settings, "", "export", "--url", url)
    assert nokey.returncode == 2 and "VQ_API_KEY" in nokey.stderr, nokey.stderr

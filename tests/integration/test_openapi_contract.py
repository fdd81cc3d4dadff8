"""The OpenAPI document tells the truth: `schemathesis run <url>/openapi.json --checks all` with
an admin key, as a new user's CI would run it against a real API process (relay and worker
running), finds nothing to report: no 5xx, no answer the document does not describe, no
schema-valid request refused, no schema-breaking request accepted, a 405 always with `Allow`.

Bounded for the suite (a seed, some examples per operation). The live streams are left out here
only because a fuzzer holds each one open for its whole read timeout (10 s by default); the
in-process fuzz test (`test_bad_input.py`) covers them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from access.directory import TenantDirectory
from core.settings import Settings
from eventstore.postgres import PostgresEventStore
from tests.integration.reach import delivery_topics
from tests.integration.servers import api_servers, read_side

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"


async def test_a_fuzzer_driven_by_the_openapi_document_finds_nothing(
    settings: Settings, topics: list[str], store: PostgresEventStore
) -> None:
    await delivery_topics(settings)  # a test ping goes to Kafka, as `vq stack up` makes it
    _, admin = await TenantDirectory(store).create_tenant("Fuzzed clinic")
    with read_side(settings), api_servers(settings, 1) as (url,):
        command = [
            str(SCHEMATHESIS), "run", f"{url}/openapi.json",
            "--checks", "all",
            "-H", f"Authorization: Bearer {admin.secret}",
            "--max-examples", "12",
            "--seed", "1",
            "--exclude-path-regex", "/events$",
            "--no-color",
        ]  # fmt: skip
        ran = subprocess.run(command, capture_output=True, text=True, timeout=600)
    report = ran.stdout + ran.stderr
    saved = settings.data_dir / "logs" / "openapi-contract.txt"
    saved.parent.mkdir(parents=True, exist_ok=True)
    saved.write_text(report)
    assert ran.returncode == 0, f"the whole report: {saved}\n{report[-6000:]}"
    assert "No issues found" in report or " passed" in report, report[-2000:]

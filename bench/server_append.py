"""The group append's cost on the server alone: `python -m bench.server_append [SIZES]`.

One connection sends ready-made groups of single-event appends (`vq_append_group`, or
`vq_append` for a group of one, as the store sends them) to a fresh schema, and the server
process's CPU is read from /proc/<pid>/stat around them: no client work is counted. Prints, per
group size, the server's CPU and the wall time per append. bench/README.md section 19.
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid

import psycopg

from bench import env
from bench.ceilings import sample_event
from bench.procs import cpu_seconds
from eventstore.append import APPEND_SQL, append_document
from eventstore.pool import connect_kwargs
from eventstore.postgres import GROUP_SQL
from eventstore.values import StreamAppend

APPENDS = 4000  # per group size (at least 50 groups)


def measure(conn: psycopg.Connection, tenant_id: str, size: int) -> tuple[float, float]:
    """(server ms, wall ms) per append, in groups of `size`."""
    pid = conn.info.backend_pid
    streams = [str(uuid.uuid4()) for _ in range(size)]
    versions = dict.fromkeys(streams, 0)
    rounds = max(APPENDS // size, 50)
    started, cpu = time.monotonic(), cpu_seconds(pid)
    for _ in range(rounds):
        documents = []
        for stream in streams:
            record = sample_event(stream, versions[stream] + 1, tenant_id)
            one = StreamAppend(
                stream_id=stream,
                tenant_id=tenant_id,
                expected_version=versions[stream],
                records=[record],
            )
            document = append_document([one], None, tenant_id, None)
            assert document is not None
            documents.append(document)
            versions[stream] += 1
        if size == 1:
            conn.execute(APPEND_SQL, (documents[0],), prepare=False)
        else:
            conn.execute(GROUP_SQL, ("[" + ",".join(documents) + "]",), prepare=False)
    appends = rounds * size
    wall = time.monotonic() - started
    return 1000 * (cpu_seconds(pid) - cpu) / appends, 1000 * wall / appends


async def main(sizes: list[int]) -> None:
    settings = env.fresh_settings("serverappend")
    env.prepare(settings)
    try:
        tenant = await env.create_tenant(settings)
        with psycopg.connect(settings.pg_url, **connect_kwargs(settings.db_schema)) as conn:
            for size in sizes:
                server, wall = measure(conn, tenant.tenant_id, size)
                print(f"group of {size:3d}: server {server:.3f} ms, wall {wall:.3f} ms an append")
    finally:
        await env.teardown(settings)


if __name__ == "__main__":
    asked = sys.argv[1] if len(sys.argv) > 1 else "1,8,16,64"
    asyncio.run(main([int(size) for size in asked.split(",")]))

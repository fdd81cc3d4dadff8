"""The bench's outside load generator (bench/wrk.py, bench/wrk_mix.lua) against a real API
process: wrk, keeping each queue's state from the answers alone, sends the whole mix and every
command makes sense to the API (no 5xx, few refusals)."""

from __future__ import annotations

from bench import http_sweep, wrk
from bench.env import create_tenant
from bench.procs import CpuMeter
from core.settings import Settings
from tests.integration.servers import api_servers


async def test_wrk_sends_the_whole_mix_and_the_api_takes_it(settings: Settings) -> None:
    # Hundreds of commands a second from one key: rate limits are not what this is about.
    settings = settings.model_copy(update={"rate_limit_per_minute": 1_000_000})
    tenant = await create_tenant(settings)
    with api_servers(settings, 1) as (url,):
        queues = http_sweep.create_queues(url, tenant, 3)
        found = wrk.step(url, tenant, queues, connections=4, duration_s=3, meter=CpuMeter())
    assert found["errors"] == 0, found
    assert found["ok"] > 100, found
    # Refusals are a call at a counter whose answer freeing it had not come yet, or nobody left.
    assert found["rejected"] <= 0.1 * found["ok"], found
    assert set(found["refused_by_status"]) <= {"409"}, found
    assert {"enqueue", "call-next", "start", "complete"} <= set(found["mix"]), found
    assert found["cores"]["wrk"] < 0.5, found

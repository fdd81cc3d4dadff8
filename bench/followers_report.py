"""The live-followers phase in the table and among the targets (bench/report.py calls these)."""

from __future__ import annotations

from typing import Any

from bench.http_sweep import sustained

TARGET_FOLLOWERS = 10_000
TARGET_P99_MS = 1000.0
TARGET_RSS_MB = 1024.0


def _ms(value: Any) -> str:
    return "-" if value is None else f"{value:,.1f}"


def _row(step: dict[str, Any]) -> str:
    conn, push, api, redis = step["connect"], step["push"], step["api"], step["redis"]
    return (
        f"   {step['followers']:>9,} {conn['live']:>7,} {conn['refused']:>7,} "
        f"{conn['all_live_s']:>7.1f} s {_ms(conn['latency']['p99']):>9} "
        f"{step['commands']['achieved_per_s']:>7.1f} {step['pushes_per_s']:>8,} "
        f"{_ms(push['p50']):>8} {_ms(push['p95']):>8} {_ms(push['p99']):>8} "
        f"{_ms(push['max']):>9} {push['unseen']:>7,} "
        f"{_ms(api['rss_max_mb']):>8} {_ms(api['hwm_mb']):>8} {api['cores']:>5.2f} "
        f"{redis['connected_clients']:>6} {redis['api']:>4} ({redis['api_pubsub']} pub/sub)"
    )


def section(out: dict[str, Any]) -> list[str]:
    found = out.get("followers")
    if not found or not found.get("steps"):
        return []
    lines = [
        "",
        f"9. live followers of one `vq api` process (relay, worker and a second `vq api` for the "
        f"commands running): N followers "
        f"over {found['queues']} queues of one tenant, in blocks of {found['per_key']} (one "
        "per queue, one API key each): 8 in 10 blocks SSE queue streams, 1 WebSocket, 1 SSE "
        f"ticket streams; opened at {found['connect_rate']:.0f}/s by {found['clients']} "
        f"processes; then {found['rate']:.0f} commands/s open loop for "
        f"{found['seconds']:.0f} s after {found['warmup_s']:.0f} s of warm-up. Push = the "
        "command's answer -> the follower received that queue version; conn P99: ms from the "
        "request to the first event; Redis: all its clients, then the API's own",
        f"   {'followers':>9} {'live':>7} {'refused':>7} {'all live':>9} {'conn P99':>9} "
        f"{'cmds/s':>7} {'pushes/s':>8} {'push P50':>8} {'P95':>8} {'P99':>8} {'max ms':>9} "
        f"{'unseen':>7} {'API RSS':>8} {'HWM MB':>8} {'cores':>5} {'Redis':>6} {'API':>4}",
    ]
    lines += [_row(step) for step in found["steps"]]
    for step in found["steps"]:
        conn = step["connect"]
        kinds = ", ".join(
            f"{kind} P50 {_ms(k['p50'])} / P99 {_ms(k['p99'])} ms ({k['followers']:,}, "
            f"{k['unseen']} unseen)"
            for kind, k in step["push_by_kind"].items()
        )
        lines.append(f"   {step['followers']:,}: {kinds}")
        published = step.get("published")
        if published and published.get("p50") is not None:
            lines.append(
                f"      of which answer -> read model published (relay and worker) P50 "
                f"{_ms(published['p50'])} / P99 {_ms(published['p99'])} ms "
                f"({published['not_seen']} not seen); the rest is the API's fan-out"
            )
        lines.append(
            f"      answers {conn['statuses']}"
            + (f", refused: {conn['errors']}" if conn["errors"] else "")
            + f"; ended by the server: {step['ended_early'] or 'none'}; API "
            f"{step['api']['cpu_us_per_push'] or '-'} us CPU per push; "
            f"RSS once connected {_ms(step['api']['rss_connected_mb'])} MB"
        )
        cmd = step["commands"]
        lat = cmd["latency"]
        lines.append(
            f"      commands: {cmd['achieved_per_s']}/s answered of {cmd['offered_per_s']:.0f}/s "
            f"offered ({'sustained' if sustained(cmd) else 'NOT sustained'}), "
            f"{cmd['errors']} errors {cmd['errors_by_status'] or ''}, latency from the intended "
            f"send P50 {_ms(lat['p50'])} / P99 {_ms(lat['p99'])} ms; cores used: {step['cores']}"
        )
    return lines


def targets(out: dict[str, Any]) -> list[dict[str, Any]]:
    found = out.get("followers") or {}
    steps: list[dict[str, Any]] = found.get("steps") or []
    if not steps:
        return []
    top = max(steps, key=lambda s: s["followers"])
    full = top["followers"] >= TARGET_FOLLOWERS
    rows: list[dict[str, Any]] = []

    def add(name: str, wanted: str, measured: Any, met: bool) -> None:
        rows.append(
            {"target": name, "wanted": wanted, "measured": measured, "met": met if full else None}
        )

    conn, push = top["connect"], top["push"]
    add(
        "live followers on one API process",
        f">= {TARGET_FOLLOWERS:,}, none refused",
        f"{conn['live']:,} of {top['followers']:,}",
        conn["live"] >= TARGET_FOLLOWERS and conn["refused"] == 0,
    )
    cmd = top["commands"]
    add(
        f"commands answered with {top['followers']:,} following",
        f"{cmd['offered_per_s']:.0f}/s sustained",
        f"{cmd['achieved_per_s']}/s, {cmd['errors']:,} errors",
        sustained(cmd),
    )
    p99 = push["p99"]
    add(
        f"push P99 with {top['followers']:,} followers",
        f"< {TARGET_P99_MS:,.0f} ms, none unseen",  # at the offered rate: a few pushes say little
        f"{p99} ms, {push['unseen']:,} unseen",
        sustained(cmd) and p99 is not None and p99 < TARGET_P99_MS and push["unseen"] == 0,
    )
    rss = top["api"]["hwm_mb"]
    add(
        f"API RSS with {top['followers']:,} followers",
        f"< {TARGET_RSS_MB:,.0f} MB (VmHWM)",
        rss,
        rss is not None and rss < TARGET_RSS_MB,
    )
    bound = found.get("api_connection_bound")
    api = [s["redis"]["api"] for s in steps]
    add(
        "API's Redis connections, independent of N",
        f"<= {bound} at every N",
        " / ".join(str(n) for n in api),
        bound is not None and max(api) <= bound,
    )
    return rows

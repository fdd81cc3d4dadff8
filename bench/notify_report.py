"""The notifications phase in the table and among the targets (bench/report.py calls these)."""

from __future__ import annotations

from typing import Any

TARGET_PER_MIN = 50_000
TARGET_P99_MS = 1000.0


def _lat(lat: dict[str, Any]) -> str:
    return " ".join(
        f"{lat[k] if lat[k] is not None else '-':>9}" for k in ("p50", "p95", "p99", "max")
    )


def _row(name: str, step: dict[str, Any]) -> list[str]:
    lines = [
        f"   {name:<26} {step['offered_per_min']:>11,} {step['delivered_per_min']:>13,} "
        f"{step['lost']:>5} {step['duplicates']:>4} {_lat(step['latency'])} "
        f"{step['last_after_end_s']:>8} s"
    ]
    for channel in ("webhook", "email"):
        part = step[channel]
        lines.append(
            f"     {channel:<24} {'':>11} {'':>13} {part['lost']:>5} {part['duplicates']:>4} "
            f"{_lat(part['latency'])}"
        )
    return lines


def section(out: dict[str, Any]) -> list[str]:
    found = out.get("notifications")
    if not found:
        return []
    ok, failing = found["sustained"], found.get("failing")
    lines = [
        "",
        f"8. notifications: {found['notifiers']} `vq notifier` process(es); each position record "
        "makes 1 webhook (Standard Webhooks, 1 endpoint) + 1 email (SMTP); open loop, latency "
        "from the record's due time",
        f"   {'step':<26} {'offered/min':>11} {'delivered/min':>13} {'lost':>5} {'dup':>4} "
        f"{'P50':>9} {'P95':>9} {'P99':>9} {'max ms':>9} {'last after end':>10}",
    ]
    lines += _row(f"nothing failing ({ok['seconds']:.0f} s)", ok)
    reduced = found.get("reduced")
    if reduced:
        lines += _row(f"nothing failing, 80% ({reduced['seconds']:.0f} s)", reduced)
    if failing:
        lines += _row(
            f"webhooks failing {failing['fail_share']:.0%} ({failing['seconds']:.0f} s)", failing
        )
        db, hooks = failing["db"], failing["webhook"]
        causes = ", ".join(
            f"{row[2] or row[1]} {row[3]}" for row in db["by_outcome"] if row[1] != "delivered"
        )
        share = hooks["refused"] / hooks["requests"] if hooks["requests"] else 0
        lines.append(
            f"   failing step: the receiver answered 500 to {hooks['refused']:,} of "
            f"{hooks['requests']:,} requests ({share:.1%}); webhook attempts recorded "
            f"{db['webhook_attempts']:,}, failed {db['webhook_failed']:,} "
            f"({(db['webhook_failure_rate'] or 0):.1%}: {causes or 'none'}); messages by status "
            f"{db['messages_by_status']}"
        )
        if failing.get("note"):
            lines.append(f"   ({failing['note']})")
    lines.append(
        f"   cores used while offered (nothing failing): {ok['cores']}; the generator was at most "
        f"{ok['generator_max_late_ms']} ms late"
    )
    per = ", ".join(f"{part} {ms}" for part, ms in ok["cpu_ms_per_message"].items())
    lines.append(f"   CPU ms per message (step + drain): {per}")
    return lines


def targets(out: dict[str, Any]) -> list[dict[str, Any]]:
    found = out.get("notifications")
    if not found:
        return []
    ok, failing = found["sustained"], found.get("failing")
    rows = [
        {
            "target": "notifications delivered/min (webhook + email)",
            "wanted": f">= {TARGET_PER_MIN:,}, 0 lost",
            "measured": ok["delivered_per_min"],
            "met": ok["delivered_per_min"] >= TARGET_PER_MIN and ok["lost"] == 0,
        },
        {
            "target": f"notification P99 event->delivery at {ok['offered_per_min']:,}/min",
            "wanted": f"< {TARGET_P99_MS:,.0f} ms",
            "measured": ok["latency"]["p99"],
            "met": ok["latency"]["p99"] is not None and ok["latency"]["p99"] < TARGET_P99_MS,
        },
    ]
    if failing:
        delivered, expected = failing["messages_delivered"], failing["messages_expected"]
        rows.append(
            {
                "target": f"all delivered, webhooks failing {failing['fail_share']:.0%}",
                "wanted": "all, 0 dead",
                "measured": f"{delivered:,}/{expected:,}",
                "met": delivered == expected
                and not failing["db"]["messages_by_status"].get("dead"),
            }
        )
    return rows

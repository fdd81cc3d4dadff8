"""What an import does to each queue: create it, update the settings that differ, or nothing;
and the other way, a queue as the API shows it turned into an item of a file (export).

Pure: the queues as `GET /v1/queues` lists them in, steps out. A queue is the tenant's queue of
the item's `name`, at the item's `site` when the item names one (`site: null`: at no site).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from queue_files.files import Item, Problem

Action = Literal["create", "update", "unchanged"]
# Settings a null clears on PATCH (the API leaves any other setting as it is on a null).
CLEARABLE: Final = frozenset({"capacity", "aging_after_seconds", "aging_max_priority", "site"})
# Fields of the create body that are no setting to compare: the name is the queue's identity;
# the status changes by its own commands (open, pause, close), an operation and no
# configuration; metadata the read API does not show.
NOT_SETTINGS: Final = frozenset({"name", "status", "metadata"})
# Settings the API shows as a value a body says by leaving the field out (0: not set).
SHOWN_UNSET: Final = {"mean_service_seconds": 0}
UNORDERED: Final = frozenset({"opening_hours"})  # intervals: their order means nothing


@dataclass(frozen=True, slots=True)
class Step:
    item: Item
    action: Action
    queue: dict[str, Any] | None = None  # the existing queue (update, unchanged)
    changes: dict[str, Any] = field(default_factory=dict)  # the PATCH body (update)
    notes: tuple[str, ...] = ()

    @property
    def queue_id(self) -> str | None:
        return None if self.queue is None else str(self.queue["queue_id"])


def normalised(name: str, value: Any) -> Any:
    """A value as the API keeps it, to compare: text stripped, 36.0 as 36, intervals sorted."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: normalised(k, v) for k, v in value.items()}
    if isinstance(value, list):
        items = [normalised("", v) for v in value]
        if name in UNORDERED:
            items.sort(key=lambda v: json.dumps(v, sort_keys=True))
        return items
    return value


def matches(item: Item, queues: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The tenant's queues the item names."""
    found = [q for q in queues if str(q.get("name", "")).strip() == item.name]
    if item.site_given:
        found = [q for q in found if q.get("site") == item.site]
    return found


def differences(item: Item, queue: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The PATCH body that makes `queue` what `item` says, and notes on what is not compared."""
    changes: dict[str, Any] = {}
    notes: list[str] = []
    for name, wanted in item.body.items():
        if name in NOT_SETTINGS:
            continue
        if wanted is None and name not in CLEARABLE:
            continue  # null leaves such a setting as it is
        if name not in queue:
            notes.append(f"{name} is not shown by GET /v1/queues: not compared")
            continue
        if normalised(name, wanted) != normalised(name, queue[name]):
            changes[name] = wanted
    if "metadata" in item.body:
        notes.append("metadata is set when a queue is created, not compared after")
    status = item.body.get("status")
    if status is not None and status != queue.get("status"):
        notes.append(f"status {status!r} applies when a queue is created (it is {queue['status']})")
    return changes, notes


def plan(
    items: Iterable[Item], queues: Sequence[dict[str, Any]]
) -> tuple[list[Step], list[Problem]]:
    """A step for every item, or the problems that keep the import from being planned."""
    steps: list[Step] = []
    problems: list[Problem] = []
    for item in items:
        found = matches(item, queues)
        if len(found) > 1:
            sites = sorted(str(q.get("site")) for q in found)
            problems.append(
                Problem(
                    item.file,
                    f"{len(found)} queues are named so (at sites {', '.join(sites)}): "
                    "give `site:` to say which",
                    item.index,
                    item.name,
                )
            )
        elif not found:
            steps.append(Step(item, "create", notes=tuple(_elsewhere(item, queues))))
        else:
            changes, notes = differences(item, found[0])
            action: Action = "update" if changes else "unchanged"
            steps.append(Step(item, action, found[0], changes, tuple(notes)))
    return steps, problems


def _elsewhere(item: Item, queues: Sequence[dict[str, Any]]) -> list[str]:
    """A note when a queue of that name exists at another site: the new one is another queue."""
    others = [q for q in queues if str(q.get("name", "")).strip() == item.name]
    if not others:
        return []
    sites = ", ".join(sorted(repr(q.get("site")) for q in others))
    return [f"a queue of this name exists at site {sites}: this one (site {item.site!r}) is new"]


def exported(queue: dict[str, Any], fields: Sequence[str]) -> dict[str, Any]:
    """The item a file holds for `queue` (a view of GET /v1/queues): its name, its site when it
    has one, then each of `fields` (the create body's, in the document's order) it has."""
    item: dict[str, Any] = {"name": queue["name"]}
    if queue.get("site") is not None:
        item["site"] = queue["site"]
    for name in fields:
        if name in NOT_SETTINGS or name == "site" or name not in queue:
            continue
        value = queue[name]
        if value is None or (name in SHOWN_UNSET and value == SHOWN_UNSET[name]):
            continue
        item[name] = value
    return item


def export_order(queue: dict[str, Any]) -> tuple[str, str]:
    """Queues by site (none first), then by name."""
    return (str(queue.get("site") or ""), str(queue["name"]))

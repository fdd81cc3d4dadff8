"""Queue files: read (YAML or JSON), checked whole against the API's create body, written back.

A file is a mapping with one key, `queues`: a list whose every item is a body `POST /v1/queues`
takes. Every problem of every file is collected (file, item index, field path) before anything
is sent, so a file is applied all or nothing as far as checking goes.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TextIO

import yaml

from queue_files.schema import Schema, show_path, type_name, validate

FORMATS: Final = ("yaml", "json")
EXTENSIONS: Final = {".yaml": "yaml", ".yml": "yaml", ".json": "json"}
TOP_KEY: Final = "queues"
KEY_PREFIX: Final = "vq-queues-import-"


class UsageError(Exception):
    """A command line that cannot be acted on (exit 2)."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a file: where (file, item, field) and what."""

    file: str
    message: str
    index: int | None = None
    name: str | None = None
    path: str = ""

    def __str__(self) -> str:
        where = self.file
        if self.index is not None:
            where += f": queues[{self.index}]"
            if self.name:
                where += f" {self.name!r}"
        if self.path:
            where += f": {self.path}"
        return f"{where}: {self.message}"


@dataclass(frozen=True, slots=True)
class Item:
    """One queue of a file: the body as written, where it came from, its Idempotency-Key."""

    file: str
    index: int
    body: dict[str, Any]
    key: str

    @property
    def name(self) -> str:
        return str(self.body["name"]).strip()

    @property
    def site_given(self) -> bool:
        return "site" in self.body

    @property
    def site(self) -> str | None:
        site = self.body.get("site")
        return None if site is None else str(site).strip()

    @property
    def label(self) -> str:
        """`Tellers @ Downtown` (or `Tellers` without a site)."""
        return f"{self.name} @ {self.site}" if self.site else self.name

    @property
    def where(self) -> str:
        return f"{self.file}: queues[{self.index}]"


@dataclass
class Loaded:
    items: list[Item] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def file_format(path: str, given: str | None) -> str:
    """`yaml` or `json`: --format when given, else the file name's extension."""
    if given is not None:
        return given
    if path == "-":
        raise UsageError("reading stdin (-) needs --format yaml or --format json")
    found = EXTENSIONS.get(Path(path).suffix.lower())
    if found is None:
        raise UsageError(f"{path}: name it .yaml, .yml or .json, or give --format")
    return found


def idempotency_key(content: bytes, body: dict[str, Any]) -> str:
    """The Idempotency-Key of creating `body` from a file of this `content`: the same file and
    item give the same key (a run after a crash replays, never duplicates); any edit, another."""
    digest = hashlib.sha256(content).hexdigest()
    item = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    mixed = hashlib.sha256(f"{digest}\n{item}".encode()).hexdigest()
    return KEY_PREFIX + mixed[:40]


# -- parsing ----------------------------------------------------------------------------------


class _Refused(ValueError):
    pass


# YAML as people write it in a config file: `17:00` is text (YAML 1.1 would read the number 1020,
# base 60), `2026-01-05` too (not a date), and a key given twice is an error (not the last wins),
# as is a key that is not text (`1: x`, `null: x`: JSON has none, and JSON Schema checks none).
_Loader: Any = type("_Loader", (yaml.SafeLoader,), {})
_INT = "tag:yaml.org,2002:int"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in (_INT, _TIMESTAMP)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    _INT,
    re.compile(r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$"),
    list("-+0123456789"),
)


def _mapping(loader: Any, node: Any) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if not isinstance(key, str):
            raise _Refused(f"line {line}: the key {key!r} is not text (quote it)")
        if key in seen:
            raise _Refused(f"line {line}: the key {key!r} is given twice")
        seen.add(key)
    return dict(loader.construct_mapping(node, deep=True))


_Loader.add_constructor("tag:yaml.org,2002:map", _mapping)


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise _Refused(f"the key {key!r} is given twice")
        found[key] = value
    return found


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse(text: str, fmt: str) -> Any:
    """The document; ValueError (one line, with the line number) when it is not well formed."""
    if fmt == "json":
        try:
            return json.loads(text, object_pairs_hook=_unique_pairs, parse_constant=_no_constant)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not valid JSON: line {exc.lineno}: {exc.msg}") from None
    try:
        return yaml.load(text, Loader=_Loader)  # a SafeLoader (see _Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = f"line {mark.line + 1}: " if mark is not None else ""
        raise ValueError(f"not valid YAML: {line}{exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"not valid YAML: {exc}") from None


def _queue_list(name: str, document: Any) -> tuple[list[Any], list[Problem]]:
    if not isinstance(document, dict):
        got = "an empty file" if document is None else type_name(document)
        return [], [Problem(name, f"expected a mapping with a `{TOP_KEY}:` list, got {got}")]
    problems = [
        Problem(name, f"unknown top-level key {key!r} (only `{TOP_KEY}:`)")
        for key in document
        if key != TOP_KEY
    ]
    queues = document.get(TOP_KEY)
    if not isinstance(queues, list):
        got = "nothing" if queues is None else type_name(queues)
        problems.append(Problem(name, f"`{TOP_KEY}:` must be a list of queues, got {got}"))
        return [], problems
    return queues, problems


def check_items(name: str, content: bytes, document: Any, body: Schema, spec: Schema) -> Loaded:
    """The items of one parsed file, each checked against `body` (the create body's schema,
    its refs in `spec`) and the few rules that tie two fields of one item together."""
    queues, problems = _queue_list(name, document)
    loaded = Loaded(problems=problems)
    for index, raw in enumerate(queues):
        label = raw.get("name") if isinstance(raw, dict) else None
        shown = label.strip() if isinstance(label, str) else None
        failures = [(show_path(f.path), f.message) for f in validate(raw, body, spec)]
        if not failures and isinstance(raw, dict):
            failures = _cross_field(raw)
        for path, message in failures:
            loaded.problems.append(Problem(name, message, index, shown, path))
        if not failures:
            loaded.items.append(Item(name, index, raw, idempotency_key(content, raw)))
    return loaded


def _cross_field(item: dict[str, Any]) -> list[tuple[str, str]]:
    """What the queue would refuse (409 rule-violated) that one item shows on its own."""
    found = []
    classes = item.get("priority_classes")
    for name in ("default_priority", "aging_max_priority"):
        given = item.get(name)
        names = [c.strip() for c in classes] if isinstance(classes, list) else None
        if names is not None and given is not None and given.strip() not in names:
            found.append((name, f"{given!r} is not one of priority_classes {classes}"))
    for index, hours in enumerate(item.get("opening_hours") or []):
        if hours["opens"] >= hours["closes"]:
            where = f"opening_hours[{index}]"
            found.append((where, f"opens {hours['opens']} is not before closes {hours['closes']}"))
    return found


def duplicates(items: Iterable[Item]) -> list[Problem]:
    """Two items naming the same queue (name, and site when given) in one run."""
    first: dict[tuple[str, str | None], Item] = {}
    problems = []
    for item in items:
        identity = (item.name, item.site if item.site_given else None)
        earlier = first.setdefault(identity, item)
        if earlier is not item:
            problems.append(
                Problem(item.file, f"the same queue as {earlier.where}", item.index, item.name)
            )
    return problems


def load(paths: list[str], fmt: str | None, body: Schema, spec: Schema, stdin: TextIO) -> Loaded:
    """Every file read, parsed and checked; every problem of all of them."""
    if paths.count("-") > 1:
        raise UsageError("stdin (-) can be read once")
    everything = Loaded()
    for path in paths:
        kind = file_format(path, fmt)
        name = "<stdin>" if path == "-" else path
        try:
            content = stdin.read().encode() if path == "-" else Path(path).read_bytes()
            document = parse(content.decode("utf-8"), kind)
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            everything.problems.append(Problem(name, why))
            continue
        found = check_items(name, content, document, body, spec)
        everything.items.extend(found.items)
        everything.problems.extend(found.problems)
    everything.problems.extend(duplicates(everything.items))
    return everything


_Dumper: Any = type("_Dumper", (yaml.SafeDumper,), {})
_TIME = re.compile(r"[0-9]{1,2}:[0-9]{2}")
_SCALARS = (str, int, float, bool, type(None))


def _text(dumper: Any, data: str) -> Any:
    """Times quoted ("09:00"): a YAML 1.1 reader takes some of them for numbers (base 60)."""
    style = "'" if _TIME.fullmatch(data) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


def _list(dumper: Any, data: list[Any]) -> Any:
    """A list of names on one line: `counters: ['1', '2']`."""
    flow = all(isinstance(v, _SCALARS) for v in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


def _dict(dumper: Any, data: dict[str, Any]) -> Any:
    """A small mapping of plain values on one line: `{weekday: 0, opens: '09:00', ...}`."""
    flow = len(data) <= 3 and all(isinstance(v, _SCALARS) for v in data.values())
    return dumper.represent_mapping("tag:yaml.org,2002:map", data, flow_style=flow)


_Dumper.add_representer(str, _text)
_Dumper.add_representer(list, _list)
_Dumper.add_representer(dict, _dict)


def dump(queues: list[dict[str, Any]], fmt: str, heading: str = "") -> str:
    """The file `load` reads back: `queues:` and the list."""
    document = {TOP_KEY: queues}
    if fmt == "json":
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    text: str = yaml.dump(
        document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False
    )
    comment = "".join(f"# {line}\n" for line in heading.splitlines())
    return comment + text

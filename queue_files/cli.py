"""`vq queues import FILE...` and `vq queues export`: queue configurations as YAML or JSON files,
applied through the public HTTP API with the API key in VQ_API_KEY.

Exit codes: 0 done (or nothing to do), 1 the API refused something or did not answer, 2 a bad
command line or a file with problems (then nothing is changed).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TextIO

from queue_files.apply import Api, ApiError, Applied, Done, Unreachable, apply, settle
from queue_files.files import EXTENSIONS, FORMATS, Loaded, UsageError, dump, file_format, load
from queue_files.plan import Step, export_order, exported, plan
from queue_files.schema import resolve, show_path, validate

KEY_VARIABLE: Final = "VQ_API_KEY"
DEFAULT_WAIT_S: Final = 10.0
SHOWN_CHANGE: Final = 40  # a changed value longer than this is named, not shown
DONE_WORDS: Final = {"create": "created", "update": "updated", "unchanged": "unchanged"}
PLAN_WORDS: Final = {"create": "would create", "update": "would update", "unchanged": "unchanged"}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    queues = sub.add_parser(
        "queues",
        help="import and export queue configurations (YAML/JSON) over the HTTP API",
        description=f"The API key comes from the environment variable {KEY_VARIABLE} (never the "
        "command line: it would show in `ps` and the shell's history).",
    )
    actions = queues.add_subparsers(dest="queues_command", metavar="ACTION", required=True)
    load_ = actions.add_parser(
        "import",
        help="create or update the queues a file describes (a key with queues:manage)",
        description="Each item of the file's `queues:` list is a body POST /v1/queues takes. "
        "Every file is checked against the API's OpenAPI document first: one problem and "
        "nothing is changed. A queue is found by its name (and site, when the item names "
        "one): made when missing, updated when a setting differs, else left alone. The API "
        "applies each queue on its own: a refusal midway keeps the queues done before it.",
    )
    load_.add_argument("files", nargs="+", metavar="FILE", help=".yaml, .yml, .json or - (stdin)")
    load_.add_argument("--format", choices=FORMATS, help="the files' format (needed for stdin)")
    load_.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    load_.add_argument(
        "--wait",
        type=float,
        default=DEFAULT_WAIT_S,
        metavar="SECONDS",
        help="how long to wait for GET /v1/queues to show the changes (default "
        f"{DEFAULT_WAIT_S:g}; 0: do not wait)",
    )
    _connection(load_)
    load_.set_defaults(func=_import)
    save = actions.add_parser(
        "export",
        help="write the tenant's queues' configurations as a file import reads",
        description="Queues by site, then name; their settings, not their status or tickets.",
    )
    save.add_argument("--output", "-o", default="-", help="a file, or - for stdout (default)")
    save.add_argument("--format", choices=FORMATS, help="default: the output's extension, or yaml")
    save.add_argument("--site", help="only the queues of this site")
    _connection(save)
    save.set_defaults(func=_export)


def _connection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url",
        "--api",
        dest="url",
        default=None,
        help="the API's base URL (default: VQ_API_HOST and VQ_API_PORT, http://127.0.0.1:8000)",
    )


def default_url(env: Mapping[str, str]) -> str:
    """Where `vq api` listens by default: the settings' VQ_API_HOST and VQ_API_PORT."""
    host = env.get("VQ_API_HOST") or "127.0.0.1"
    if host in ("0.0.0.0", "::"):
        host = "127.0.0.1"  # listening everywhere: reached on loopback
    return f"http://{host}:{env.get('VQ_API_PORT') or 8000}"


def api_key(env: Mapping[str, str]) -> str:
    key = env.get(KEY_VARIABLE, "").strip()
    if not key:
        raise UsageError(f"set {KEY_VARIABLE} to an API key (or access token) of the tenant")
    return key


@dataclass
class Streams:
    stdin: TextIO
    out: TextIO
    err: TextIO

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def warn(self, text: str) -> None:
        print(text, file=self.err, flush=True)


def _streams() -> Streams:
    return Streams(sys.stdin, sys.stdout, sys.stderr)


def _import(args: argparse.Namespace) -> int:
    return run_import(args, os.environ, _streams())


def _export(args: argparse.Namespace) -> int:
    return run_export(args, os.environ, _streams())


def run_import(args: argparse.Namespace, env: Mapping[str, str], io: Streams) -> int:
    try:
        key = api_key(env)
        for path in args.files:
            file_format(path, args.format)
    except UsageError as exc:
        io.warn(f"vq queues import: {exc}")
        return 2
    with Api(args.url or default_url(env), key) as api:
        try:
            return _import_with(api, args, io)
        except UsageError as exc:
            io.warn(f"vq queues import: {exc}")
            return 2
        except (ApiError, Unreachable) as exc:
            io.warn(f"vq queues import: {exc}")
            return 1


def _import_with(api: Api, args: argparse.Namespace, io: Streams) -> int:
    body, document = api.create_body()
    loaded: Loaded = load(list(args.files), args.format, body, document, io.stdin)
    if loaded.problems:
        for found in loaded.problems:
            io.warn(str(found))
        io.warn(f"vq queues import: {_count(len(loaded.problems), 'problem')}: nothing was changed")
        return 2
    steps, problems = plan(loaded.items, api.queues())
    if problems:
        for found in problems:
            io.warn(str(found))
        io.warn("vq queues import: nothing was changed")
        return 2
    files = ", ".join(dict.fromkeys(item.file for item in loaded.items)) or "the files"
    if args.dry_run:
        for step in steps:
            _show(io, PLAN_WORDS[step.action], step, None)
        io.say(f"dry run, nothing was changed: {_summary(steps, files, PLAN_WORDS)}")
        return 0
    applied = apply(api, steps, f"vq queues import {files}"[:500], lambda d: _done(io, d))
    if applied.error is not None:
        return _failed(io, applied, steps)
    _settled(io, api, applied.done, args.wait)
    io.say(_summary(steps, files, DONE_WORDS))
    return 0


def _show(io: Streams, word: str, step: Step, done: Done | None) -> None:
    line = f"{word:<13} {step.item.label}"
    if step.action == "update":
        line += ": " + ", ".join(_change(name, step) for name in step.changes)
    queue_id = done.queue_id if done is not None else step.queue_id
    if queue_id is not None:
        line += f"  (queue {queue_id})"
    if done is not None and done.replayed:
        line += " (made by an earlier run of this file: the API replayed its answer)"
    io.say(line)
    for note in step.notes:
        io.say(f"{'':<13}   note: {note}")


def _change(name: str, step: Step) -> str:
    before = None if step.queue is None else step.queue.get(name)
    after = step.changes[name]
    shown = f"{before!r} -> {after!r}"
    return f"{name} ({shown})" if len(shown) <= SHOWN_CHANGE else name


def _done(io: Streams, done: Done) -> None:
    _show(io, DONE_WORDS[done.step.action], done.step, done)


def _failed(io: Streams, applied: Applied, steps: Sequence[Step]) -> int:
    step = applied.failed
    assert step is not None
    what = "creating" if step.action == "create" else "updating"
    io.warn(f"{step.item.where} {step.item.label!r}: {what} it failed: {applied.error}")
    made = sum(1 for d in applied.done if d.step.action != "unchanged")
    later = [s for s in steps[len(applied.done) + 1 :] if s.action != "unchanged"]
    io.warn(
        "vq queues import: the API applies each queue on its own: "
        f"{_count(made, 'change')} made before this one {'is' if made == 1 else 'are'} kept "
        f"(listed above), {_count(len(later), 'change')} planned after it "
        f"{'was' if len(later) == 1 else 'were'} not sent. Fix the cause and run the import "
        "again: what is done then shows as unchanged."
    )
    return 1


def _settled(io: Streams, api: Api, done: Sequence[Done], wait: float) -> None:
    if wait <= 0:
        return
    try:
        behind = settle(api, done, wait)
    except (ApiError, Unreachable) as exc:
        io.warn(f"vq queues import: done, but could not read the queues back: {exc}")
        return
    if behind:
        names = ", ".join(d.step.item.label for d in behind)
        io.warn(
            f"note: GET /v1/queues does not show {names} as changed yet (after {wait:g}s): is the "
            "read side (`vq worker`) running? A run right now would not see these changes."
        )


def _summary(steps: Sequence[Step], files: str, words: Mapping[str, str]) -> str:
    counts = [f"{sum(1 for s in steps if s.action == a)} {words[a]}" for a in words]
    return f"{_count(len(steps), 'queue')} from {files}: {', '.join(counts)}"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def run_export(args: argparse.Namespace, env: Mapping[str, str], io: Streams) -> int:
    try:
        key = api_key(env)
        fmt = args.format or EXTENSIONS.get(Path(args.output).suffix.lower(), "yaml")
        url = args.url or default_url(env)
        with Api(url, key) as api:
            body, document = api.create_body()
            views = api.queues()
    except UsageError as exc:
        io.warn(f"vq queues export: {exc}")
        return 2
    except (ApiError, Unreachable) as exc:
        io.warn(f"vq queues export: {exc}")
        return 1
    if args.site is not None:
        views = [q for q in views if q.get("site") == args.site]
    fields = list(resolve(body, document).get("properties", {}))
    items = [exported(q, fields) for q in sorted(views, key=export_order)]
    _check_exported(io, items, body, document)
    text = dump(items, fmt, f"vq queues export of {url}: {_count(len(items), 'queue')}")
    try:
        _write(args.output, text, io)
    except OSError as exc:
        io.warn(f"vq queues export: {args.output}: {exc.strerror or exc}")
        return 2
    io.warn(f"exported {_count(len(items), 'queue')} ({fmt})")
    return 0


def _check_exported(io: Streams, items: list[dict[str, Any]], body: Any, document: Any) -> None:
    """An exported item the create body would not take (a setting the read API shows in a form
    the body does not): said, so an import of the file is not a surprise."""
    for index, item in enumerate(items):
        for failure in validate(item, body, document):
            where = show_path(failure.path)
            io.warn(f"warning: queues[{index}] {item['name']!r}: {where}: {failure.message}")


def _write(output: str, text: str, io: Streams) -> None:
    if output == "-":
        io.out.write(text)
        io.out.flush()
        return
    Path(output).write_text(text, encoding="utf-8")

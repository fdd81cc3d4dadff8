"""Queue files: parsing YAML and JSON, every problem reported with its file, item and field,
the plan (create / update / unchanged) from the queues there are, and the Idempotency-Key."""

from __future__ import annotations

import io
import json
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.settings import Settings
from queue_files.apply import Api, ApiError, Unreachable, apply
from queue_files.files import (
    Item,
    UsageError,
    check_items,
    dump,
    file_format,
    idempotency_key,
    load,
    parse,
)
from queue_files.plan import Step, exported, plan
from queue_files.schema import Schema, resolve, show_path, validate
from vq.api import create_app

EXAMPLE = Path(__file__).resolve().parents[3] / "queue_files" / "examples" / "branch.yaml"


@cache
def _document() -> Schema:
    """The API's own OpenAPI document, as `GET /openapi.json` answers it."""
    return dict(create_app(Settings()).openapi())


def _body() -> Schema:
    content = _document()["paths"]["/v1/queues"]["post"]["requestBody"]["content"]
    return dict(content["application/json"]["schema"])


def _load(*paths: str, fmt: str | None = None, stdin: str = "") -> Any:
    return load(list(paths), fmt, _body(), _document(), io.StringIO(stdin))


def _item(body: dict[str, Any], index: int = 0) -> Item:
    return Item("f.yaml", index, body, idempotency_key(b"file", body))


def _messages(document: Any) -> list[str]:
    return [str(p) for p in check_items("f.yaml", b"", document, _body(), _document()).problems]


# -- parsing -----------------------------------------------------------------------------------


def test_the_example_and_its_json_twin_load_alike(tmp_path: Path) -> None:
    from_yaml = _load(str(EXAMPLE))
    assert from_yaml.problems == []
    assert [i.label for i in from_yaml.items] == [
        "Tellers @ Downtown",
        "Accounts and advice @ Downtown",
        "Business banking @ Downtown",
    ]
    tellers = from_yaml.items[0].body
    assert tellers["counters"] == ["1", "2", "3", "4"]
    assert tellers["opening_hours"][3] == {"weekday": 3, "opens": "09:00", "closes": "18:30"}
    twin = tmp_path / "branch.json"
    twin.write_text(json.dumps({"queues": [i.body for i in from_yaml.items]}))
    from_json = _load(str(twin))
    assert from_json.problems == [] and [i.body for i in from_json.items] == [
        i.body for i in from_yaml.items
    ]
    piped = _load("-", fmt="json", stdin=twin.read_text())
    assert [i.file for i in piped.items] == ["<stdin>"] * 3


def test_yaml_reads_times_and_dates_as_text_and_refuses_a_key_given_twice() -> None:
    assert parse("a: 17:00\nb: 09:30\nc: 2026-01-05\nd: 12\n", "yaml") == {
        "a": "17:00",
        "b": "09:30",
        "c": "2026-01-05",
        "d": 12,
    }
    with pytest.raises(ValueError, match="line 2: the key 'a' is given twice"):
        parse("a: 1\na: 2\n", "yaml")
    for key in ("1", "null", "true", "[a]"):  # JSON has no such key (nor checks JSON Schema one)
        with pytest.raises(ValueError, match=r"line 3: the key .* is not text \(quote it\)"):
            parse(f"queues:\n- name: x\n  metadata: {{{key}: v}}\n", "yaml")
    with pytest.raises(ValueError, match="the key 'a' is given twice"):
        parse('{"a": 1, "a": 2}', "json")
    with pytest.raises(ValueError, match="not valid JSON: line 2"):
        parse('{"queues":\n', "json")
    with pytest.raises(ValueError, match="not valid YAML: line"):
        parse("queues: [\n", "yaml")


def test_the_format_comes_from_the_extension_or_the_option() -> None:
    assert file_format("a.YML", None) == "yaml" and file_format("a.json", None) == "json"
    assert file_format("a.txt", "json") == "json"
    with pytest.raises(UsageError, match="needs --format"):
        file_format("-", None)
    with pytest.raises(UsageError, match=r"\.yaml, \.yml or \.json"):
        file_format("queues.txt", None)


def test_a_file_that_is_not_a_queue_list_says_so(tmp_path: Path) -> None:
    assert _messages([1]) == ["f.yaml: expected a mapping with a `queues:` list, got array"]
    assert _messages({"queue": []}) == [
        "f.yaml: unknown top-level key 'queue' (only `queues:`)",
        "f.yaml: `queues:` must be a list of queues, got nothing",
    ]
    missing = _load(str(tmp_path / "gone.yaml"))
    assert [str(p) for p in missing.problems] == [
        f"{tmp_path / 'gone.yaml'}: No such file or directory"
    ]


# -- validation: every problem, with file, index and field path ---------------------------------


def test_every_problem_of_every_item_is_reported_with_where_it_is() -> None:
    bad = {
        "queues": [
            {"name": "Fine", "counters": ["1"]},
            {
                "name": "Tellers",
                "counters": [1, "2", "2"],
                "capcity": 3,
                "capacity": 0,
                "timezone": "Mars/Olympus",
                "opening_hours": [{"weekday": 7, "opens": "9:00", "closes": 1020}],
                "status": "gone",
            },
            "Loans",
            {"prefix": "L", "default_priority": "vip", "priority_classes": ["a", "b"]},
            {"name": "Loans", "default_priority": "vip", "priority_classes": ["a", "b"]},
            {
                "name": "Cards",
                "opening_hours": [{"weekday": 0, "opens": "17:00", "closes": "09:00"}],
            },
        ]
    }
    zones = len(_document()["components"]["schemas"]["TimeZoneName"]["enum"])
    # Each item's problems by field path; the words of some are jsonschema's (hence `in`).
    expected = [
        ("queues[1] 'Tellers': capacity", "0 is less than the minimum of 1"),
        ("queues[1] 'Tellers': capcity", "unknown field 'capcity' (did you mean 'capacity'?)"),
        ("queues[1] 'Tellers': counters", "'2' is given more than once (each at most once)"),
        ("queues[1] 'Tellers': counters[0]", "expected string, got integer 1 (in YAML, quote it)"),
        (
            "queues[1] 'Tellers': opening_hours[0].closes",
            "expected string, got integer 1020 (in YAML, quote it)",
        ),
        (
            "queues[1] 'Tellers': opening_hours[0].opens",
            "'9:00' does not match '^([01][0-9]|2[0-3]):[0-5][0-9]$'",
        ),
        ("queues[1] 'Tellers': opening_hours[0].weekday", "7 is greater than the maximum of 6"),
        ("queues[1] 'Tellers': status", "'gone' is not one of ['open', 'paused', 'closed']"),
        (
            "queues[1] 'Tellers': timezone",
            f"'Mars/Olympus' is not one of the {zones} allowed values: "
            "An IANA time zone name (e.g. Europe/Paris).",
        ),
        ("queues[2]", "expected object, got string 'Loans'"),
        ("queues[3]", "'name' is a required property"),
        ("queues[4] 'Loans': default_priority", "'vip' is not one of priority_classes ['a', 'b']"),
        ("queues[5] 'Cards': opening_hours[0]", "opens 17:00 is not before closes 09:00"),
    ]
    found = _messages(bad)
    assert len(found) == len(expected), found
    for message, (where, what) in zip(found, expected, strict=True):
        assert message.startswith(f"f.yaml: {where}: ") and what in message, (message, where, what)


def test_text_is_checked_as_the_server_reads_it() -> None:
    assert _messages({"queues": [{"name": "   "}]}) == [
        "f.yaml: queues[0]: name: must not be empty or only whitespace"
    ]
    long = {"queues": [{"name": "x" * 201, "metadata": {"": "v", "k": None}}]}
    assert _messages(long) == [
        "f.yaml: queues[0] '" + "x" * 201 + "': metadata['']: field name: has 0 characters, "
        "at least 1 needed",
        "f.yaml: queues[0] '" + "x" * 201 + "': metadata.k: expected string, got null None",
        "f.yaml: queues[0] '" + "x" * 201 + "': name: has 201 characters, at most 200 allowed",
    ]
    either = {"queues": [{"name": "Ok", "capacity": "3", "site": 5, "counters": []}]}
    assert _messages(either) == [
        "f.yaml: queues[0] 'Ok': capacity: expected integer or null, got string '3'",
        "f.yaml: queues[0] 'Ok': counters: has 0 items, at least 1 needed",
        "f.yaml: queues[0] 'Ok': site: expected string or null, got integer 5 (in YAML, quote it)",
    ]
    assert _messages({"queues": [{"name": "Ok", "capacity": 36.0, "capacity_": 1}]})[0].endswith(
        "capacity_: unknown field 'capacity_' (did you mean 'capacity'?)"
    )


def test_any_schema_in_the_document_is_checked_refs_alternatives_and_all() -> None:
    """What a newer API's schema may use: a $ref to a $ref, alternatives of one type, oneOf."""
    code = {"anyOf": [{"type": "string", "minLength": 3}, {"type": "string", "pattern": "^x"}, {"type": "integer"}]}  # fmt: skip
    real = {
        "type": "object",
        "properties": {
            "code": code,
            "day": {"enum": list("abcdefghij")},
            "tags": {"type": "object", "maxProperties": 1},
            "one": {"oneOf": [{"type": "integer"}, {"minimum": 0}]},
        },
        "additionalProperties": False,
    }
    document = {"components": {"schemas": {"Item": {"$ref": "#/components/schemas/Real"}, "Real": real}}}  # fmt: skip
    body = {"$ref": "#/components/schemas/Item"}
    assert resolve(body, document) == real
    assert validate({"code": "xab", "day": "a", "one": -1}, body, document) == []
    failures = validate({"one": 5, "code": "ab", "day": "z", "tags": {"a": "1", "b": "2"}, "x y": 1}, body, document)  # fmt: skip
    assert [(show_path(f.path), f.message) for f in failures if f.path != ("one",)] == [
        ("code", "has 2 characters, at least 3 needed"),  # the best of the two that are text
        ("day", "'z' is not one of the 10 allowed values"),
        ("tags", "has 2 fields, at most 1 allowed"),
        ("['x y']", "unknown field 'x y'"),
    ]
    [one] = [f.message for f in failures if f.path == ("one",)]
    assert "5 is valid under each of" in one  # jsonschema's words: matches 2, not exactly 1


def test_problems_of_several_files_and_duplicates_across_them(tmp_path: Path) -> None:
    one, two = tmp_path / "one.yaml", tmp_path / "two.json"
    one.write_text("queues:\n  - name: Tellers\n    site: North\n  - name: Tellers\n")
    two.write_text(json.dumps({"queues": [{"name": " Tellers ", "site": "North"}, {"name": 5}]}))
    loaded = _load(str(one), str(two))
    assert [str(p) for p in loaded.problems] == [
        f"{two}: queues[1]: name: expected string, got integer 5 (in YAML, quote it)",
        f"{two}: queues[0] 'Tellers': the same queue as {one}: queues[0]",
    ]
    with pytest.raises(UsageError, match="once"):
        _load("-", "-", fmt="yaml")


# -- the plan ------------------------------------------------------------------------------------


def _queue(name: str, **settings: Any) -> dict[str, Any]:
    view = {
        "queue_id": f"id-{name}",
        "version": 4,
        "name": name,
        "status": "open",
        "site": None,
        "prefix": "A",
        "counters": ["1"],
        "capacity": None,
        "opening_hours": [],
        "mean_service_seconds": 0,
        "waiting": 3,
    }
    return {**view, **settings}


def test_the_plan_creates_updates_and_leaves_alone() -> None:
    hours = [{"weekday": 1, "opens": "09:00", "closes": "12:00"}, {"weekday": 0, "opens": "09:00", "closes": "17:00"}]  # fmt: skip
    existing = [
        _queue("Tellers", site="North", capacity=10, opening_hours=list(reversed(hours))),
        _queue("Loans", counters=["1", "2"]),
        _queue("Tellers", site="South"),
    ]
    items = [
        _item({"name": "Tellers", "site": "North", "capacity": 10.0, "opening_hours": hours}),
        _item({"name": " Loans ", "counters": ["1", "3"], "capacity": None, "prefix": None}),
        _item({"name": "Cards", "prefix": "C", "status": "closed"}),
        _item({"name": "Loans", "site": "East"}),
        _item({"name": "Tellers", "site": "South", "status": "paused", "metadata": {"a": "b"}}),
    ]
    steps, problems = plan(items, existing)
    assert problems == []
    assert [(s.action, s.queue_id, s.changes) for s in steps] == [
        ("unchanged", "id-Tellers", {}),
        ("update", "id-Loans", {"counters": ["1", "3"]}),
        ("create", None, {}),
        ("create", None, {}),
        ("unchanged", "id-Tellers", {}),
    ]
    assert steps[3].notes == (
        "a queue of this name exists at site None: this one (site 'East') is new",
    )
    assert steps[4].notes == (
        "metadata is set when a queue is created, not compared after",
        "status 'paused' applies when a queue is created (it is open)",
    )


def test_a_null_clears_only_what_a_null_clears_and_a_name_at_two_sites_needs_its_site() -> None:
    existing = [_queue("Tellers", capacity=10, prefix="T")]
    [step], _ = plan([_item({"name": "Tellers", "capacity": None, "prefix": None})], existing)
    assert (step.action, step.changes) == ("update", {"capacity": None})
    two = [_queue("Tellers", site="North"), _queue("Tellers", site="South")]
    steps, problems = plan([_item({"name": "Tellers"}, index=2)], two)
    assert steps == [] and [str(p) for p in problems] == [
        "f.yaml: queues[2] 'Tellers': 2 queues are named so (at sites North, South): give "
        "`site:` to say which"
    ]
    [nowhere], _ = plan([_item({"name": "Tellers", "site": None})], two)
    assert nowhere.action == "create"


def test_an_export_is_a_valid_file_that_plans_unchanged() -> None:
    fields = list(resolve(_body(), _document())["properties"])
    view = _queue("Tellers", site="North", capacity=None, metadata_count=1, transfer_policy="back_of_line")  # fmt: skip
    item = exported(view, fields)
    assert item == {
        "name": "Tellers",
        "site": "North",
        "prefix": "A",
        "counters": ["1"],
        "opening_hours": [],
        "transfer_policy": "back_of_line",
    }
    assert validate(item, _body(), _document()) == []
    text = dump([item], "yaml", "exported")
    assert text.startswith("# exported\nqueues:\n- name: Tellers\n")
    [again] = check_items("x.yaml", text.encode(), parse(text, "yaml"), _body(), _document()).items
    [step], _ = plan([again], [view])
    assert step.action == "unchanged"
    assert parse(dump([item], "json"), "json") == {"queues": [item]}


# -- the Idempotency-Key ---------------------------------------------------------------------------


def test_the_idempotency_key_is_stable_for_the_same_content_and_item_only() -> None:
    body = {"name": "Tellers", "counters": ["1", "2"]}
    key = idempotency_key(b"queues: ...", body)
    assert key == idempotency_key(b"queues: ...", {"counters": ["1", "2"], "name": "Tellers"})
    assert key.startswith("vq-queues-import-") and len(key) <= 255 and key.isascii()
    assert key != idempotency_key(b"queues: ...", {**body, "counters": ["1", "3"]})
    assert key != idempotency_key(b"queues: ... (edited)", body)
    first = _load(str(EXAMPLE)).items
    assert [i.key for i in first] == [i.key for i in _load(str(EXAMPLE)).items]
    assert len({i.key for i in first}) == 3


# -- over HTTP (a stand-in API) ------------------------------------------------------------------


def test_a_create_carries_its_key_and_a_refusal_stops_the_run() -> None:
    sent: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        if request.method == "PATCH":
            problem = {"title": "This role may not do that", "detail": "staff may not"}
            return httpx.Response(403, json=problem)
        made = {"queue_id": "new", "stream_version": 1}
        return httpx.Response(201, json=made, headers={"Idempotent-Replayed": "true"})

    steps = [
        Step(_item({"name": "Cards"}), "create"),
        Step(_item({"name": "Loans"}), "update", _queue("Loans"), {"capacity": 5}),
        Step(_item({"name": "Tellers"}), "create"),
    ]
    done: list[Any] = []
    with Api("http://api.test/", "secret", transport=httpx.MockTransport(answer)) as api:
        applied = apply(api, steps, "vq queues import f.yaml", done.append)
    assert [(d.queue_id, d.replayed) for d in applied.done] == [("new", True)]
    assert applied.failed is steps[1] and isinstance(applied.error, ApiError)
    assert str(applied.error) == "403 This role may not do that: staff may not"
    assert sent[0].headers["Idempotency-Key"] == steps[0].item.key
    assert sent[0].headers["Authorization"] == "Bearer secret"
    assert sent[1].headers["If-Match"] == '"4"'
    assert json.loads(sent[1].content) == {"capacity": 5, "reason": "vq queues import f.yaml"}
    assert len(sent) == 2, "nothing after the refusal is sent"


def test_a_down_api_is_unreachable_not_a_traceback() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    with (
        Api("http://127.0.0.1:9", "secret", transport=httpx.MockTransport(down)) as api,
        pytest.raises(Unreachable, match=r"the API at http://127.0.0.1:9 is not reachable"),
    ):
        api.queues()

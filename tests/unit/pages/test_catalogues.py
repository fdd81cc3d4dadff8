"""Every word on a page comes from a catalogue, in every language the product speaks."""

from __future__ import annotations

import re
from importlib.resources import files

import pytest

from notifications.default_templates import _BARE_COUNTER
from notifications.templates import LANGUAGES as MESSAGE_LANGUAGES
from web.i18n import LANGUAGE_NAMES, LANGUAGES, catalogue, negotiate, parts, strings, translate

_TEMPLATE_KEY = re.compile(r"""\bt\(\s*["']([\w.-]+)["']""")
_SCRIPT_KEY = re.compile(r"""\bVQ\.t\(\s*["']([\w.-]+)["']""")
_PLURAL_KEY = re.compile(r"""\bVQ\.plural\(\s*["']([\w.-]+)["']""")
_JS_BARE_COUNTER = re.compile(r"const BARE_COUNTER = /\^\(\?:(.+)\)\$/;")
# A plural written for both numbers at once: "action(s)", "Nachricht(en)", "-räume", "vez/veces".
_BOTH_NUMBERS = re.compile(r"\w\((?:s|es|en|n|e)\)|/-\w|\bvez/veces\b")
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_MARKUP = re.compile(r"<[^<>]*>|\{\{[^{}]*\}\}")


def _sources(folder: str, suffix: str) -> dict[str, str]:
    root = files("web").joinpath(folder)
    return {
        p.name: p.read_text(encoding="utf-8") for p in root.iterdir() if p.name.endswith(suffix)
    }


def _all_keys(lang: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for part in parts():
        found.update(catalogue(lang, part))
    return found


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_language_has_every_key_with_the_same_placeholders(lang: str) -> None:
    english = _all_keys("en")
    other = _all_keys(lang)
    assert sorted(other) == sorted(english)
    for key, text in english.items():
        assert set(_PLACEHOLDER.findall(other[key])) == set(_PLACEHOLDER.findall(text)), key
        assert sorted(_MARKUP.findall(other[key])) == sorted(_MARKUP.findall(text)), key
        assert other[key].strip(), key


def test_the_pages_speak_every_language_the_messages_do() -> None:
    """A person who got a French SMS opens a French page: the two lists are the same, each
    language has its catalogue folder and the name the switcher shows."""
    assert sorted(LANGUAGES) == sorted(MESSAGE_LANGUAGES)
    folders = [p.name for p in files("web").joinpath("locales").iterdir() if p.is_dir()]
    assert sorted(folders) == sorted(LANGUAGES)
    assert sorted(LANGUAGE_NAMES) == sorted(LANGUAGES)
    for lang in LANGUAGES:
        folder = files("web").joinpath("locales", lang)
        missing = [part for part in parts() if not folder.joinpath(f"{part}.json").is_file()]
        assert not missing, (lang, missing)


def test_keys_live_in_their_part() -> None:
    for part in parts():
        for key in catalogue("en", part):
            assert key.split(".", 1)[0] in (part, "problem"), (part, key)


def test_every_key_a_page_uses_is_in_the_catalogues() -> None:
    known = _all_keys("en")
    used: dict[str, set[str]] = {}
    for name, text in _sources("templates", ".html").items():
        used[name] = set(_TEMPLATE_KEY.findall(text))
    for name, text in _sources("static", ".js").items():
        used[name] = set(_SCRIPT_KEY.findall(text))
        used[name] |= {key + form for key in _PLURAL_KEY.findall(text) for form in _FORMS}
    missing = {name: sorted(keys - set(known)) for name, keys in used.items() if keys - set(known)}
    assert not missing
    assert any(used.values())


_FORMS = ("_one", "_other")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_a_count_has_its_words_for_one_and_for_more(lang: str) -> None:
    """VQ.plural picks key_one or key_other (Intl.PluralRules: French 0 and 1 are "one"): both
    are there for every count, and no text writes its plural as "(s)" for both at once."""
    keys = _all_keys(lang)
    for key in keys:
        for form, pair in (("_one", "_other"), ("_other", "_one")):
            if key.endswith(form):
                assert key.removesuffix(form) + pair in keys, key
    assert not {key: text for key, text in keys.items() if _BOTH_NUMBERS.search(text)}


def test_the_pages_name_a_counter_by_the_messages_rule() -> None:
    """VQ.counterLabel (vq.js) tells a counter named by a number from one named in words with
    counter_label's own pattern (its cases are run in the pages: tests/browser)."""
    found = _JS_BARE_COUNTER.search(_sources("static", ".js")["vq.js"])
    assert found is not None
    assert found.group(1) == _BARE_COUNTER.pattern


def test_no_inline_script_or_style_in_templates() -> None:
    """The page policy is script-src 'self' and style-src 'self': inline code would not run."""
    for name, text in _sources("templates", ".html").items():
        for attrs in re.findall(r"<script\b([^>]*)>", text, re.I):
            assert "src=" in attrs or 'type="application/json"' in attrs, name
        assert not re.search(r"<style\b|\sstyle\s*=|\son[a-z]+\s*=", text, re.I), name


def test_language_is_the_choice_then_the_cookie_then_the_browser() -> None:
    assert negotiate("es", "en", "en") == "es"
    assert negotiate("xx", "es", "en") == "es"
    assert negotiate(None, None, "pt-BR,es;q=0.8,en;q=0.5") == "es"
    assert negotiate(None, None, "en;q=0.2, es-MX;q=0.9") == "es"
    assert negotiate(None, None, "es;q=0, en") == "en"
    assert negotiate(None, None, "it, pt;q=0.9") == "en"


def test_a_regional_browser_language_gets_its_base_language() -> None:
    assert negotiate(None, None, "fr-CA,fr;q=0.9,en;q=0.5") == "fr"
    assert negotiate(None, None, "fr-CA") == "fr"
    assert negotiate(None, None, "de-AT,en;q=0.5") == "de"
    assert negotiate(None, None, "it-CH, de-CH;q=0.8, fr-CH;q=0.9") == "fr"
    assert negotiate("DE", None, "fr") == "de"
    assert negotiate(None, "fr", "de-AT") == "fr"
    assert negotiate(None, None, ";;;,q=,es;q=abc") == "en"
    assert negotiate(None, None, None) == "en"


def test_translate_fills_placeholders_and_shows_missing_keys() -> None:
    table = strings("en", ())
    assert translate(table, "common.minute_range", low=12, high=18) == "12\u201318 min"
    assert translate(table, "no.such.key") == "no.such.key"
    assert translate({"k": "{a} and {b}"}, "k", a=1) == "1 and {b}"

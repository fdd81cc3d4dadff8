"""Settings refuse placeholder or short secrets unless VQ_ENV=dev, in one line that names the
variable and never shows the value; subprocesses get the environment and the secret key."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from pydantic import ValidationError

from core.settings import (
    SECRET_KEY_PLACEHOLDER,
    TOKEN_SECRET_PLACEHOLDER,
    Settings,
    SettingsError,
    get_settings,
    secret_refusal,
)

GOOD = "k" * 16 + "Xq3vZ8pL0aR7tY2w"  # 32 characters, no placeholder mark
OTHER = "s" * 20 + "9fJ2kQ7xP1mN"


def _prod(**overrides: str | None) -> Settings:
    values: dict[str, str | None] = {"token_secret": GOOD, "secret_key": OTHER, **overrides}
    return Settings(env="prod", **values)  # type: ignore[arg-type]


def _refusal(**overrides: str | None) -> str:
    """What the refusal says (pydantic's own report also shows its input: get_settings turns it
    into the one line a person sees, see below)."""
    with pytest.raises(ValidationError) as refused:
        _prod(**overrides)
    return "; ".join(str(error["msg"]) for error in refused.value.errors())


def test_the_session_runs_as_development() -> None:
    assert os.environ["VQ_ENV"] == "dev"
    assert Settings().env == "dev"  # the placeholders are accepted here


def test_production_refuses_the_placeholders_naming_each_variable() -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(env="prod")
    text = "; ".join(str(error["msg"]) for error in refused.value.errors())
    assert "VQ_TOKEN_SECRET is a placeholder" in text and "VQ_SECRET_KEY is a placeholder" in text
    assert "(or VQ_ENV=dev)" in text
    assert TOKEN_SECRET_PLACEHOLDER not in text and SECRET_KEY_PLACEHOLDER not in text


@pytest.mark.parametrize(
    ("field", "value", "variable", "why"),
    [
        ("token_secret", "short-but-random-9f2k", "VQ_TOKEN_SECRET", "too short (21 characters)"),
        ("secret_key", "x" * 31, "VQ_SECRET_KEY", "too short (31 characters)"),
        ("secret_key", "changethis" + "a" * 30, "VQ_SECRET_KEY", "a placeholder"),
        ("token_secret", "CHANGE-ME-" + "b" * 30, "VQ_TOKEN_SECRET", "a placeholder"),
        ("operator_key", "op-key-too-short", "VQ_OPERATOR_KEY", "too short (16 characters)"),
    ],
)
def test_production_refuses_short_or_placeholder_secrets(
    field: str, value: str, variable: str, why: str
) -> None:
    text = _refusal(**{field: value})
    assert f"{variable} is {why}" in text
    assert value not in text


def test_production_accepts_real_secrets_and_no_operator_key() -> None:
    assert _prod().env == "prod"
    assert _prod(operator_key=None).operator_key is None
    assert _prod(operator_key="").operator_key == ""  # empty: tenants are not made over HTTP
    assert _prod(operator_key=GOOD + "!").operator_key == GOOD + "!"
    assert Settings(env="dev", secret_key="x", token_secret="y").secret_key == "x"


def test_secret_refusal_never_contains_the_value() -> None:
    assert secret_refusal("VQ_SECRET_KEY", GOOD) is None
    for value in ("hunter2", "placeholder" * 4, " " * 40):
        reason = secret_refusal("VQ_SECRET_KEY", value)
        assert reason is not None and reason.startswith("VQ_SECRET_KEY is ")
        assert value.strip() == "" or value not in reason


@pytest.fixture
def production_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("VQ_ENV", "prod")
    monkeypatch.setenv("VQ_TOKEN_SECRET", "tok-" + "z" * 12)
    monkeypatch.delenv("VQ_SECRET_KEY", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.mark.usefixtures("production_env")
def test_get_settings_says_it_in_one_line() -> None:
    with pytest.raises(SettingsError) as refused:
        get_settings()
    line = str(refused.value)
    assert "\n" not in line and line.startswith("bad setting: ")
    assert "VQ_TOKEN_SECRET is too short (16 characters)" in line
    assert "VQ_SECRET_KEY is a placeholder" in line
    assert "zzzz" not in line


def test_the_vq_command_refuses_to_start_in_production_with_placeholders() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("VQ_TOKEN_SECRET", "VQ_SECRET_KEY")}
    env["VQ_ENV"] = "prod"
    ran = subprocess.run(
        [sys.executable, "-m", "vq.cli", "audit", "verify"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ran.returncode == 2, ran
    assert ran.stderr.count("\n") == 1 and "VQ_SECRET_KEY is a placeholder" in ran.stderr


def test_subprocesses_get_the_environment_and_the_secret_key() -> None:
    made = Settings(env="dev", secret_key="dev-secret-" + "q" * 30, operator_key="op")
    env = made.environment()
    assert env["VQ_ENV"] == "dev" and env["VQ_SECRET_KEY"] == made.secret_key
    assert env["VQ_OPERATOR_KEY"] == "op"
    assert "VQ_OPERATOR_KEY" not in Settings(env="dev").environment()
    prod = _prod().environment()
    assert prod["VQ_ENV"] == "prod" and prod["VQ_SECRET_KEY"] == OTHER

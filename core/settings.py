"""One `Settings` object, read from the environment (prefix `VQ_`) once and then frozen.

The defaults point at the native stack that `vq stack up` starts on loopback; each port is chosen so
that it does not clash with a system PostgreSQL (5432), Redis (6379) or Kafka (9092) already running.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import AwareDatetime, Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VQ_", frozen=True, extra="ignore")

    # Where the native stack keeps everything it owns: data, logs, pid files, Kafka jars.
    data_dir: Path = REPO_ROOT / ".vq"

    pg_host: str = "127.0.0.1"
    pg_port: int = 55432
    pg_user: str = "vq"
    pg_password: str = "vq"
    pg_database: str = "vq"
    # A full libpq URL overrides the parts above (testcontainers or a managed database).
    database_url: str | None = None
    # PostgreSQL schema that holds the event store; tests use a fresh one each.
    db_schema: str = "vq"

    redis_host: str = "127.0.0.1"
    redis_port: int = 56379
    redis_url: str | None = None
    redis_prefix: str = "vq"

    kafka_host: str = "127.0.0.1"
    kafka_port: int = 59092
    kafka_controller_port: int = 59093
    kafka_bootstrap: str | None = None
    kafka_partitions: int = Field(default=12, ge=1, le=1000)
    kafka_heap: str = "512m"
    # A folder of Kafka jars (e.g. the libs/ of an unpacked Kafka 4.x distribution) to run instead
    # of resolving them from Maven Central into <data_dir>/kafka/libs: for offline machines.
    kafka_libs: Path | None = None
    topic_prefix: str = "vq"

    # How often the write side's scheduler promotes tickets past their queue's aging bound.
    aging_interval_s: float = Field(default=15.0, gt=0)

    # How long analytics buckets are kept after they end (by event time).
    analytics_retention_days: int = Field(default=400, ge=1)

    api_host: str = "127.0.0.1"
    api_port: int = 8000

    # The API's clock (event times, opening hours, aging). Unset: real UTC time. A live simulation
    # sets the moment its scenario starts (ISO-8601 with a UTC offset) and how many times faster
    # than real time the clock runs from there (see core/clock.py).
    clock_start: AwareDatetime | None = None
    clock_speed: float = Field(default=1.0, gt=0, allow_inf_nan=False)

    # Bearer token that may create tenants over HTTP (POST /v1/tenants); unset disables that.
    operator_key: str | None = None

    # Secret for the ticket tokens a customer's QR code carries (HMAC of the ticket id).
    token_secret: str = "change-me-in-production-0123456789abcdef"

    @property
    def pg_url(self) -> str:
        if self.database_url:
            return self.database_url
        return (
            f"postgresql://{self.pg_user}:{self.pg_password}@{self.pg_host}:{self.pg_port}"
            f"/{self.pg_database}"
        )

    @property
    def redis_dsn(self) -> str:
        return self.redis_url or f"redis://{self.redis_host}:{self.redis_port}/0"

    @property
    def kafka_servers(self) -> str:
        return self.kafka_bootstrap or f"{self.kafka_host}:{self.kafka_port}"

    def environment(self) -> dict[str, str]:
        """The environment variables that make a `vq` subprocess use exactly these settings."""
        return {
            "VQ_DATABASE_URL": self.pg_url,
            "VQ_DB_SCHEMA": self.db_schema,
            "VQ_REDIS_URL": self.redis_dsn,
            "VQ_REDIS_PREFIX": self.redis_prefix,
            "VQ_KAFKA_BOOTSTRAP": self.kafka_servers,
            "VQ_TOPIC_PREFIX": self.topic_prefix,
            "VQ_KAFKA_PARTITIONS": str(self.kafka_partitions),
            "VQ_TOKEN_SECRET": self.token_secret,
            "VQ_AGING_INTERVAL_S": str(self.aging_interval_s),
            "VQ_ANALYTICS_RETENTION_DAYS": str(self.analytics_retention_days),
            "VQ_CLOCK_SPEED": str(self.clock_speed),
            **({"VQ_CLOCK_START": self.clock_start.isoformat()} if self.clock_start else {}),
        }

    @property
    def events_topic(self) -> str:
        return f"{self.topic_prefix}.queue-events"

    @property
    def positions_topic(self) -> str:
        return f"{self.topic_prefix}.positions"

    @property
    def worker_group(self) -> str:
        """The stream workers' Kafka consumer group (their Faust app id); the rebuild rewinds it."""
        return f"{self.topic_prefix}-projections"


class SettingsError(ValueError):
    """Unusable `VQ_*` variables, said in one line that names them (not a pydantic report)."""


def _one_line(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        name = "VQ_" + "_".join(str(part) for part in error["loc"]).upper()
        message = str(error["msg"]).removeprefix("Value error, ")
        problems.append(f"{name}={error['input']!r}: {message}")
    return "bad setting: " + "; ".join(problems)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        raise SettingsError(_one_line(exc)) from None

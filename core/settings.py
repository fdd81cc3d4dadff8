"""One `Settings` object, read from the environment (prefix `VQ_`) once and then frozen.

The defaults point at the native stack that `vq stack up` starts on loopback; each port is chosen so
that it does not clash with a system PostgreSQL (5432), Redis (6379) or Kafka (9092) already running.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AwareDatetime, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent
# The ways notifications reach someone; each has a delivery topic and a consumer group.
DELIVERY_CHANNELS = ("webhook", "email", "sms", "whatsapp", "push", "chat")

# Secrets: outside VQ_ENV=dev, at least this long and none of the well-known placeholders.
MIN_SECRET_LENGTH = 32
TOKEN_SECRET_PLACEHOLDER = "change-me-in-production-0123456789abcdef"
SECRET_KEY_PLACEHOLDER = "change-me-in-production-fedcba9876543210"
_PLACEHOLDER_MARKS = ("change-me", "changeme", "change_me", "changethis", "placeholder")


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
    # The schema registry (Confluent REST API): `vq stack up` runs Apicurio Registry on this port
    # (deploy/schema_registry.py). The relay registers every event schema there; with
    # events_wire_format "confluent" it also frames each value as magic byte + schema id + Avro.
    registry_port: int = Field(default=58081, ge=1, le=65535)
    registry_url: str | None = Field(default=None, pattern=r"^https?://[^\s?#]+$")
    registry_heap: str = "256m"
    events_wire_format: Literal["plain", "confluent"] = "plain"

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
    token_secret: str = TOKEN_SECRET_PLACEHOLDER

    # "dev" (what `make run` and the tests set) accepts the placeholder secrets above and below;
    # any other value refuses placeholder or short secrets at start.
    env: Literal["dev", "prod"] = "prod"

    # Access (see access/). The secret that encrypts what the database keeps of the token-signing
    # keys and of people's TOTP secrets (a copy of the database alone signs nothing).
    secret_key: str = SECRET_KEY_PLACEHOLDER
    # Access tokens (JWT, ES256, `kid` from GET /.well-known/jwks.json): issuer is `public_url`.
    jwt_audience: str = "vq-api"
    access_token_ttl_s: int = Field(default=900, ge=30, le=86400)
    refresh_token_ttl_s: int = Field(default=7 * 86400, ge=300, le=90 * 86400)
    # Whether anyone may sign up a new organisation (tenant) with its first admin over HTTP.
    signup_open: bool = False
    # Brute force: after `login_backoff_after` failures in a row, each further attempt waits
    # 2^n seconds; after `login_lockout_after`, the account is locked for `login_lockout_s`.
    login_backoff_after: int = Field(default=3, ge=1)
    login_lockout_after: int = Field(default=10, ge=2)
    login_lockout_s: float = Field(default=900.0, gt=0)
    # Requests per minute per client (key, user or address); a tenant may set its own.
    rate_limit_per_minute: int = Field(default=1000, ge=1)
    # Live streams (SSE and WebSockets) one API process holds open for one key or person, and in
    # all: past the first, 429 too-many-streams; past the second, 503 live-capacity, so that the
    # client tries again (another replica). A ticket's own token may hold 10.
    live_per_client: int = Field(default=500, ge=1)
    live_max: int = Field(default=20_000, ge=1)
    # Whether X-Forwarded-For names the client (behind a proxy the operator runs).
    trust_forwarded_for: bool = False
    # How long the API keeps an idle keep-alive connection open. Longer than the idle timeout of
    # the proxies and clients in front of it (60 s for most load balancers), so that the API is
    # never the one closing a connection just as a request is sent on it (which the client sees
    # as a reset, not an answer).
    keep_alive_s: int = Field(default=75, ge=1, le=3600)
    # How long a client has to send a request's line and headers (http_api/server_protocol.py):
    # a connection that never does (slowloris) is closed, not kept until the files run out.
    header_timeout_s: float = Field(default=10.0, gt=0, le=300)
    # Live followers are told the read side is delayed once records wait that the workers have
    # not moved past (or events the relay has not published) for this long (query_api/freshness).
    read_side_stall_s: float = Field(default=10.0, gt=0, le=3600)
    # The queues' states an API process keeps between commands, counted in tickets (waiting and
    # the finished ones a queue remembers; ~600 bytes each): the least recently used let go first.
    state_cache_tickets: int = Field(default=250_000, ge=1_000)
    # Origins (comma-separated) every tenant's browsers may call the API from; tenants add theirs.
    cors_origins: str = ""
    # TLS served by the API itself (PEM files); unset: plain HTTP (behind a proxy that ends TLS).
    tls_cert: Path | None = None
    tls_key: Path | None = None

    # Where people reach the product: the base of the links messages carry (a ticket's page).
    public_url: str = "http://127.0.0.1:8000"

    # Notifications (see notifications/). Networks outbound requests (webhooks, push services,
    # providers) may reach although they are not public, comma-separated (e.g. "127.0.0.0/8"
    # for a local receiver); empty: public addresses only.
    outbound_allow: str = ""
    # Email: the SMTP relay (`vq run` starts a local one that shows what arrived).
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=2525, ge=1, le=65535)
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_tls: Literal["none", "starttls", "tls"] = "none"
    smtp_from: str = "Virtual Queue <queue@localhost>"
    # SMS and WhatsApp: a provider speaking Twilio's Messages API at this base URL.
    sms_base_url: str = "https://api.twilio.com"
    sms_account_sid: str = "AC00000000000000000000000000000000"
    sms_auth_token: str | None = None
    sms_from: str = "+15005550006"
    whatsapp_from: str = "whatsapp:+14155238886"
    # Web push: the VAPID key pair (the private key, PEM or raw base64url); unset: one is made
    # and kept under the data folder.
    vapid_private_key: str | None = None
    vapid_subject: str = "mailto:operator@localhost"
    # When a failed delivery is tried again: seconds after the first attempt's failure, one per
    # retry (the Standard Webhooks schedule), scaled by `delivery_time_scale` (tests compress it).
    delivery_schedule: str = "5,300,1800,7200,18000,36000,50400,72000,86400"
    delivery_time_scale: float = Field(default=1.0, gt=0, le=1.0)
    # How long a notifier waits at start for topics that do not exist before it gives up (exit 1):
    # under systemd, its restarts then stay under the start limit.
    notifier_topics_wait_s: float = Field(default=30.0, gt=0, le=3600)
    # One webhook call's bound (the seed documents' is 30 s at most).
    webhook_timeout_s: float = Field(default=15.0, gt=0, le=30.0)
    # How long the delivery log keeps a message that is settled (delivered or dead).
    delivery_retention_days: int = Field(default=30, ge=1)
    # An endpoint that has failed for this long with no success in between is disabled.
    webhook_disable_after_s: float = Field(default=5 * 86400.0, gt=0)

    # Health and metrics (see observability/). GET /readyz fails (503) while the relay has more
    # than this many events not yet published, or the stream workers' group more than this many
    # not yet committed; 0: that lag is reported but never makes the API unready.
    ready_max_relay_lag: int = Field(default=10_000, ge=0)
    ready_max_consumer_lag: int = Field(default=10_000, ge=0)
    # Bearer token a scraper sends to GET /metrics; unset: /metrics answers loopback only.
    metrics_token: str | None = None
    # Where the relay, a worker or the notifier serves /metrics (`--metrics-port` wins); unset:
    # nowhere. One port per process: set it per process, not for all of them at once.
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    metrics_host: str = "127.0.0.1"

    # Traces and logs (see observability/). Spans go over OTLP/HTTP to this collector (e.g.
    # http://127.0.0.1:4318); unset: no tracing at all (not a span is made). The standard OTEL_*
    # variables tune it (OTEL_TRACES_SAMPLER, OTEL_BSP_SCHEDULE_DELAY, OTEL_EXPORTER_OTLP_HEADERS).
    otlp_endpoint: str | None = Field(default=None, pattern=r"^https?://[^\s/?#]+[^\s?#]*$")
    # Log lines: "json" (one object per line) or "text"; unset: json for the services (api, relay,
    # worker, notifier), text for the command-line tools.
    log_format: Literal["json", "text"] | None = None
    # The services' log level (`vq worker --loglevel` wins for the worker).
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    @field_validator("delivery_schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        try:
            delays = [float(part) for part in value.split(",") if part.strip()]
        except ValueError:
            raise ValueError(
                "seconds before each retry, comma-separated (e.g. 5,300,1800)"
            ) from None
        if not delays or len(delays) > 20 or any(d < 0 or d != d or d > 7 * 86400 for d in delays):
            raise ValueError("1 to 20 retry delays, each 0 to 604800 seconds")
        return value

    @model_validator(mode="after")
    def _real_secrets(self) -> Settings:
        """Outside development, no placeholder or short secret: a deployment that forgot to set
        one must not start with a value anyone can read in this file."""
        if self.env == "dev":
            return self
        refusals = [
            refusal
            for variable, value in (
                ("VQ_TOKEN_SECRET", self.token_secret),
                ("VQ_SECRET_KEY", self.secret_key),
                # Optional: unset (or empty) disables creating tenants over HTTP.
                ("VQ_OPERATOR_KEY", self.operator_key or None),
                ("VQ_METRICS_TOKEN", self.metrics_token or None),
            )
            if value is not None and (refusal := secret_refusal(variable, value))
        ]
        if refusals:
            raise ValueError("; ".join(refusals))
        return self

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
            "VQ_REGISTRY_URL": self.schema_registry_url,
            "VQ_EVENTS_WIRE_FORMAT": self.events_wire_format,
            "VQ_KAFKA_PARTITIONS": str(self.kafka_partitions),
            "VQ_ENV": self.env,
            "VQ_TOKEN_SECRET": self.token_secret,
            "VQ_SECRET_KEY": self.secret_key,
            **({"VQ_OPERATOR_KEY": self.operator_key} if self.operator_key else {}),
            "VQ_AGING_INTERVAL_S": str(self.aging_interval_s),
            "VQ_ANALYTICS_RETENTION_DAYS": str(self.analytics_retention_days),
            "VQ_CLOCK_SPEED": str(self.clock_speed),
            "VQ_PUBLIC_URL": self.public_url,
            "VQ_OUTBOUND_ALLOW": self.outbound_allow,
            "VQ_SMTP_HOST": self.smtp_host,
            "VQ_SMTP_PORT": str(self.smtp_port),
            "VQ_SMS_BASE_URL": self.sms_base_url,
            "VQ_SMS_ACCOUNT_SID": self.sms_account_sid,
            **({"VQ_SMS_AUTH_TOKEN": self.sms_auth_token} if self.sms_auth_token else {}),
            "VQ_WEBHOOK_TIMEOUT_S": str(self.webhook_timeout_s),
            "VQ_WEBHOOK_DISABLE_AFTER_S": str(self.webhook_disable_after_s),
            "VQ_DELIVERY_SCHEDULE": self.delivery_schedule,
            "VQ_DELIVERY_TIME_SCALE": str(self.delivery_time_scale),
            "VQ_NOTIFIER_TOPICS_WAIT_S": str(self.notifier_topics_wait_s),
            **({"VQ_OTLP_ENDPOINT": self.otlp_endpoint} if self.otlp_endpoint else {}),
            **({"VQ_LOG_FORMAT": self.log_format} if self.log_format else {}),
            "VQ_LOG_LEVEL": self.log_level,
            **({"VQ_CLOCK_START": self.clock_start.isoformat()} if self.clock_start else {}),
            **self._access_environment(),
        }

    def _access_environment(self) -> dict[str, str]:
        return {
            "VQ_JWT_AUDIENCE": self.jwt_audience,
            "VQ_ACCESS_TOKEN_TTL_S": str(self.access_token_ttl_s),
            "VQ_REFRESH_TOKEN_TTL_S": str(self.refresh_token_ttl_s),
            "VQ_SIGNUP_OPEN": str(self.signup_open).lower(),
            "VQ_LOGIN_BACKOFF_AFTER": str(self.login_backoff_after),
            "VQ_LOGIN_LOCKOUT_AFTER": str(self.login_lockout_after),
            "VQ_LOGIN_LOCKOUT_S": str(self.login_lockout_s),
            "VQ_RATE_LIMIT_PER_MINUTE": str(self.rate_limit_per_minute),
            "VQ_LIVE_PER_CLIENT": str(self.live_per_client),
            "VQ_LIVE_MAX": str(self.live_max),
            "VQ_TRUST_FORWARDED_FOR": str(self.trust_forwarded_for).lower(),
            "VQ_KEEP_ALIVE_S": str(self.keep_alive_s),
            "VQ_HEADER_TIMEOUT_S": str(self.header_timeout_s),
            "VQ_STATE_CACHE_TICKETS": str(self.state_cache_tickets),
            "VQ_READ_SIDE_STALL_S": str(self.read_side_stall_s),
            "VQ_CORS_ORIGINS": self.cors_origins,
            **({"VQ_TLS_CERT": str(self.tls_cert)} if self.tls_cert else {}),
            **({"VQ_TLS_KEY": str(self.tls_key)} if self.tls_key else {}),
        }

    @property
    def events_topic(self) -> str:
        return f"{self.topic_prefix}.queue-events"

    @property
    def events_dead_letter_topic(self) -> str:
        """Records of the events topic that a worker could not decode or apply (topics/)."""
        return f"{self.topic_prefix}.queue-events.dead"

    @property
    def schema_registry_url(self) -> str:
        """The Confluent-compatible API's base URL (`.../subjects`, `.../schemas/ids/N`)."""
        default = f"http://127.0.0.1:{self.registry_port}/apis/ccompat/v7"
        return (self.registry_url or default).rstrip("/")

    @property
    def positions_topic(self) -> str:
        return f"{self.topic_prefix}.positions"

    def deliveries_topic(self, channel: str) -> str:
        """Due messages of one channel (webhook, email, sms, whatsapp, push, chat)."""
        return f"{self.topic_prefix}.deliveries.{channel}"

    def retry_topic(self, retry: int) -> str:
        """Failed messages waiting for their `retry`-th attempt again (1-based), by delay."""
        return f"{self.topic_prefix}.deliveries.retry-{retry}"

    @property
    def dead_letter_topic(self) -> str:
        return f"{self.topic_prefix}.deliveries.dead"

    @property
    def delivery_topics(self) -> list[str]:
        """Every topic of the notifications pipeline: channels, retries, dead letters."""
        return [
            *(self.deliveries_topic(c) for c in DELIVERY_CHANNELS),
            *(self.retry_topic(n) for n in range(1, len(self.retry_delays) + 1)),
            self.dead_letter_topic,
        ]

    @property
    def retry_delays(self) -> tuple[float, ...]:
        """Seconds before each retry, as configured and scaled."""
        raw = [part.strip() for part in self.delivery_schedule.split(",") if part.strip()]
        return tuple(float(part) * self.delivery_time_scale for part in raw)

    @property
    def outbound_networks(self) -> tuple[str, ...]:
        return tuple(part.strip() for part in self.outbound_allow.split(",") if part.strip())

    @property
    def worker_group(self) -> str:
        """The stream workers' Kafka consumer group (their Faust app id); the rebuild rewinds it."""
        return f"{self.topic_prefix}-projections"


def secret_refusal(variable: str, value: str) -> str | None:
    """Why `value` will not do as the secret `variable` outside development (None: it will).
    The value itself is never part of the reason."""
    lowered = value.lower()
    if any(mark in lowered for mark in _PLACEHOLDER_MARKS):
        return (
            f"{variable} is a placeholder: set a random value of {MIN_SECRET_LENGTH}+ "
            "characters (or VQ_ENV=dev)"
        )
    if len(value.strip()) < MIN_SECRET_LENGTH:
        return (
            f"{variable} is too short ({len(value)} characters): set a random value of "
            f"{MIN_SECRET_LENGTH}+ characters (or VQ_ENV=dev)"
        )
    return None


class SettingsError(ValueError):
    """Unusable `VQ_*` variables, said in one line that names them (not a pydantic report)."""


def _one_line(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        message = str(error["msg"]).removeprefix("Value error, ")
        if not error["loc"]:  # a rule across settings (the secrets): it names its variables
            problems.append(message)
            continue
        name = "VQ_" + "_".join(str(part) for part in error["loc"]).upper()
        problems.append(f"{name}={error['input']!r}: {message}")
    return "bad setting: " + "; ".join(problems)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        raise SettingsError(_one_line(exc)) from None

"""RFC 9457 problem details: every error the API gives, with a stable `type` per kind of failure."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from domain.errors import Rejected, RejectionCode

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_BASE = "/problems/"

# code -> (HTTP status, title). The code is the last segment of the problem's `type` URI.
PROBLEMS: dict[str, tuple[int, str]] = {
    "queue-closed": (409, "The queue is closed"),
    "queue-paused": (409, "The queue is paused: nobody can be called"),
    "queue-full": (409, "The queue is full"),
    "queue-empty": (409, "Nobody is waiting"),
    # The queue's busy_counter_policy is "refuse": the detail names the ticket still at the
    # counter and what closes its visit; `counter` and `tickets` say the same for programs.
    "counter-busy": (409, "Someone is still called or being served at this counter"),
    "outside-hours": (409, "The queue is outside its opening hours"),
    "invalid-transition": (409, "The ticket or queue is not in a state that allows this"),
    # A request the document accepts that the queue's rules refuse (an unknown counter or class,
    # a setting that contradicts another). 422 is kept for requests that do not match the
    # document, so a client reading the OpenAPI document knows every 422 in advance.
    "rule-violated": (409, "The rules refuse this request"),
    "grace-expired": (409, "The no-show grace period is over"),
    "slot-full": (409, "That appointment slot is fully booked"),
    "already-exists": (409, "It exists already"),
    "version-conflict": (409, "The queue changed meanwhile"),
    "stale-read": (409, "The read model has not reached that version yet; retry later"),
    "not-found": (404, "Not found"),
    "validation": (422, "The request is not valid"),
    "malformed-request": (400, "The request body is not valid JSON"),
    # `%2F` or `%5C` in a path: a proxy in front sees one segment where the router, which
    # matches the decoded path, would see two (http_api/limits.py EncodedSlashMiddleware).
    "ambiguous-path": (400, "The path holds an encoded slash or backslash"),
    # 409 as most APIs answer it: the key's first request is the resource's state it conflicts
    # with (a retry of that same request replays its answer).
    "idempotency-key-reused": (409, "This Idempotency-Key was used with a different request"),
    "unauthorized": (401, "Valid credentials are required (an API key or an access token)"),
    "forbidden": (403, "This role may not do that"),
    "mfa-required": (401, "A second factor is required: send the current TOTP code"),
    "mfa-enrolment-required": (403, "This role must enrol a second factor first"),
    "invalid-credentials": (401, "The email or the password is wrong"),
    "too-many-attempts": (429, "Too many failed attempts; wait before trying again"),
    "rate-limited": (429, "Too many requests; slow down"),
    # Live streams: one key, person or ticket holds as many open as it may (close one), or the
    # server holds as many as it may (retry: another replica).
    "too-many-streams": (429, "Too many live streams open for this key, person or ticket"),
    "plan-under-way": (409, "A staffing plan is being made for this organisation; wait for it"),
    "live-capacity": (503, "This server holds as many live streams as it can; retry"),
    "link-expired": (404, "This link is unknown, has expired or was used already"),
    "wrong-code": (409, "The code does not match (or was used already)"),
    "token-reused": (401, "This refresh token was used already; its sessions are ended"),
    "origin-not-allowed": (403, "This origin may not call the API for this organisation"),
    "signup-closed": (403, "Signing up is closed on this deployment"),
    # A provider's webhook (Twilio's inbound messages) whose signature does not match.
    "signature-mismatch": (403, "The request is not signed as its sender signs"),
    "sso-failed": (401, "Single sign-on failed"),
    "payload-too-large": (413, "The request body is too large"),
    # Answered by the HTTP server itself, before the app (http_api/server_protocol.py).
    "malformed-http": (400, "The request is not valid HTTP/1.1"),
    "request-timeout": (408, "The request did not come in time"),
    "request-header-fields-too-large": (431, "The request's line and headers are too large"),
    "unsupported-media-type": (415, "Send application/json"),
    "method-not-allowed": (405, "Method not allowed"),
    "service-unavailable": (503, "A service the API depends on is unavailable; retry later"),
    "internal": (500, "Internal error"),
}

REJECTION_PROBLEMS: dict[RejectionCode, str] = {
    "queue-closed": "queue-closed",
    "queue-paused": "queue-paused",
    "queue-full": "queue-full",
    "queue-empty": "queue-empty",
    "counter-busy": "counter-busy",
    "outside-hours": "outside-hours",
    "invalid-transition": "invalid-transition",
    "grace-expired": "grace-expired",
    "slot-full": "slot-full",
    "not-found": "not-found",
    "already-exists": "already-exists",
    # The domain refuses what breaks the queue's rules; the request itself matched the document.
    "validation": "rule-violated",
}


class Problem(BaseModel):
    """An RFC 9457 problem details object."""

    type: str = Field(examples=["/problems/queue-closed"])
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[dict[str, Any]] | None = Field(
        default=None, description="Per-field validation errors (validation problems only)."
    )
    version: int | None = Field(
        default=None, description="The version the read model has (stale-read problems only)."
    )
    counter: str | None = Field(
        default=None, description="The counter that is busy (counter-busy problems only)."
    )
    tickets: list[dict[str, Any]] | None = Field(
        default=None,
        description="The tickets at that counter: `ticket_id`, `number`, `status` (`called` or "
        "`serving`) (counter-busy problems only).",
    )


class ProblemError(Exception):
    """Raised anywhere in request handling; rendered as problem+json."""

    def __init__(
        self,
        code: str,
        detail: str | None = None,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        extensions: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail or code)
        if code not in PROBLEMS:
            raise ValueError(f"unknown problem code {code}")
        self.code = code
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}
        if self.status == 401:  # every 401 names its challenge (RFC 9110 §15.5.2)
            self.headers.setdefault("WWW-Authenticate", "Bearer")
        # RFC 9457 extension members (e.g. the version a stale read model has).
        self.extensions = extensions or {}

    @property
    def status(self) -> int:
        return PROBLEMS[self.code][0]

    def body(self, instance: str | None = None) -> dict[str, Any]:
        status, title = PROBLEMS[self.code]
        problem = Problem(
            type=PROBLEM_BASE + self.code,
            title=title,
            status=status,
            detail=self.detail,
            instance=instance,
            errors=self.errors,
        )
        return {**self.extensions, **problem.model_dump(exclude_none=True)}


def rejection_problem(exc: Rejected) -> ProblemError:
    """The problem a domain rejection is; its facts become extension members."""
    return ProblemError(REJECTION_PROBLEMS[exc.code], exc.detail, extensions=exc.facts)


# What every API-key route can answer, whatever it does.
COMMON_PROBLEMS = ("unauthorized", "validation", "payload-too-large", "service-unavailable")


def problem_responses(
    *codes: str, common: tuple[str, ...] = COMMON_PROBLEMS
) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for a route: each listed problem, plus the ones every route can give."""
    by_status: dict[int, list[str]] = {}
    for code in dict.fromkeys((*codes, *common)):
        by_status.setdefault(PROBLEMS[code][0], []).append(code)
    return {
        status: {
            "model": Problem,
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
            "description": "; ".join(f"`{PROBLEM_BASE}{c}`: {PROBLEMS[c][1]}" for c in codes_),
        }
        for status, codes_ in sorted(by_status.items())
    }

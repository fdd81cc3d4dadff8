"""The public keys access tokens are verified with (JWKS, RFC 7517)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from access.permissions import PUBLIC
from http_api.auth import permission
from http_api.deps import ServicesDep
from http_api.problems import problem_responses

router = APIRouter(tags=["access"])

# Verifiers may keep the keys this long: a rotation publishes the next key before it signs, and a
# verifier meeting an unknown kid fetches the set again.
MAX_AGE_S = 300


class Jwk(BaseModel):
    kty: Literal["EC"]
    crv: Literal["P-256"]
    x: str = Field(description="The public point's x coordinate, base64url")
    y: str = Field(description="The public point's y coordinate, base64url")
    kid: str = Field(description="The key's RFC 7638 thumbprint, the `kid` of its tokens")
    use: Literal["sig"]
    alg: Literal["ES256"]


class Jwks(BaseModel):
    keys: list[Jwk]


@router.get(
    "/.well-known/jwks.json",
    response_model=Jwks,
    summary="The keys access tokens are signed with (current, next and recently retired)",
    responses=problem_responses("payload-too-large", "service-unavailable", common=()),
    openapi_extra=permission(PUBLIC),
)
async def jwks(svc: ServicesDep, response: Response) -> Jwks:
    response.headers["Cache-Control"] = f"public, max-age={MAX_AGE_S}"
    return Jwks.model_validate(await svc.tokens.jwks())

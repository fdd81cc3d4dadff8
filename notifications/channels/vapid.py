"""The application server's VAPID identity (RFC 8292): one P-256 key pair, and the JWT it signs.

A browser subscribes with our public key (`applicationServerKey`) and its push service then
accepts only messages signed by the matching private key. So the key must outlive restarts and
be the same in every process: the operator's `VQ_VAPID_PRIVATE_KEY` when set, otherwise one made
once and kept under the data folder, readable by its owner only.
"""

from __future__ import annotations

import base64
import os
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02

from core.settings import Settings

# RFC 8292 caps a token's life at 24 hours; half of that leaves room for clock skew.
TOKEN_SECONDS = 12 * 3600


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    text = text.strip().replace("+", "-").replace("/", "_").rstrip("=")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def key_path(settings: Settings) -> Path:
    return settings.data_dir / "vapid" / "private_key.pem"


def vapid_keys(settings: Settings) -> ec.EllipticCurvePrivateKey:
    """The key pair: the configured private key, else the one kept under the data folder (made
    now if there is none yet)."""
    if settings.vapid_private_key:
        return parse_private_key(settings.vapid_private_key)
    path = key_path(settings)
    if not path.exists():
        _create(path)
    return parse_private_key(path.read_text())


def parse_private_key(text: str) -> ec.EllipticCurvePrivateKey:
    """A P-256 private key as PEM, as the raw 32-byte scalar (base64url, what most VAPID tools
    print) or as DER (base64url)."""
    if "-----BEGIN" in text:
        key = serialization.load_pem_private_key(text.encode(), password=None)
    else:
        raw = b64url_decode(text)
        if len(raw) == 32:
            key = ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1())
        else:
            key = serialization.load_der_private_key(raw, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ValueError("a VAPID private key is an EC key on P-256")
    return key


def application_server_key(key: ec.EllipticCurvePrivateKey) -> str:
    """The public key as browsers take it (`applicationServerKey`): the uncompressed point,
    base64url without padding. It is also the `k=` of every Authorization header."""
    point = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return b64url(point)


def authorization(key: ec.EllipticCurvePrivateKey, endpoint: str, subject: str) -> str:
    """The `Authorization: vapid t=<JWT>,k=<public key>` header for a push service's endpoint
    (the JWT's audience is the endpoint's origin)."""
    parts = urlsplit(endpoint)
    claims = {
        "aud": f"{parts.scheme}://{parts.netloc}",
        "exp": int(time.time()) + TOKEN_SECONDS,
        "sub": subject,
    }
    return str(Vapid02(key).sign(claims)["Authorization"])


def _create(path: Path) -> None:
    """Makes and keeps a new key. Two processes starting at once must end up with the same key:
    each writes its own temporary file and links it into place, which fails if the other was
    first (then the other's key, complete by then, is the one used)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(pem)
            file.flush()
            os.fsync(file.fileno())
        os.link(temporary, path)
    except FileExistsError:
        pass
    finally:
        temporary.unlink(missing_ok=True)

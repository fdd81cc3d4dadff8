"""TLS served by `vq api` itself, given a certificate: 1.2 at least, 1.3 when the client can,
and HSTS on what it answers. A real server process; a certificate made here."""

from __future__ import annotations

import ipaddress
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from core.settings import Settings
from tests.integration.servers import free_port, settings_env
from vq.serve import harden

HOST = "127.0.0.1"


def _certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (and localhost), and its key (PEM files)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vq test")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address(HOST)), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def _client(cert: Path, version: ssl.TLSVersion | None = None) -> ssl.SSLContext:
    """A client trusting `cert`; with `version`, that version only (old ones allowed by the
    client's own OpenSSL: the refusal must come from the server)."""
    context = ssl.create_default_context(cafile=str(cert))
    if version is not None:
        with warnings.catch_warnings():  # TLS 1.1 is deprecated: that is the point
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = context.maximum_version = version
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
    return context


def _handshake(context: ssl.SSLContext, port: int) -> tuple[str | None, str | None]:
    """(TLS version, compression) of a fresh connection; raises ssl.SSLError when refused."""
    with (
        socket.create_connection((HOST, port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=HOST) as tls,
    ):
        return tls.version(), tls.compression()


@contextmanager
def _lenient_server(cert: Path, key: Path) -> Iterator[int]:
    """A TLS server that still speaks 1.1: proof that the client below really offers 1.1."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = ssl.TLSVersion.TLSv1_1
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    listener = socket.create_server((HOST, 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        try:
            conn, _ = listener.accept()
            with context.wrap_socket(conn, server_side=True):
                pass
        except (OSError, ssl.SSLError):
            pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        listener.close()
        thread.join(timeout=5)


@contextmanager
def _tls_api(settings: Settings, cert: Path, key: Path) -> Iterator[str]:
    port = free_port()
    env = {**settings_env(settings), "VQ_TLS_CERT": str(cert), "VQ_TLS_KEY": str(key)}
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "vq.cli", "api", "--host", HOST, "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        url = f"https://{HOST}:{port}"
        try:
            _wait_ready(url, proc, _client(cert), log)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_ready(
    url: str, proc: subprocess.Popen[bytes], verify: ssl.SSLContext, log: IO[bytes]
) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"vq api exited: {log.read().decode()[-2000:]}")
        try:
            if httpx.get(f"{url}/healthz", verify=verify, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"vq api at {url} did not start")


def test_the_api_serves_tls_1_2_and_1_3_only_with_hsts(settings: Settings) -> None:
    with tempfile.TemporaryDirectory() as folder:
        cert, key = _certificate(Path(folder))
        old_client = _client(cert, ssl.TLSVersion.TLSv1_1)
        with _lenient_server(cert, key) as lenient:
            try:
                assert _handshake(old_client, lenient)[0] == "TLSv1.1"
            except ssl.SSLError as unable:
                pytest.skip(f"this OpenSSL cannot speak TLS 1.1 at all ({unable})")
        with _tls_api(settings, cert, key) as url:
            port = int(url.rsplit(":", 1)[1])
            with pytest.raises(ssl.SSLError):
                _handshake(old_client, port)
            assert _handshake(_client(cert), port) == ("TLSv1.3", None)
            assert _handshake(_client(cert, ssl.TLSVersion.TLSv1_2), port)[0] == "TLSv1.2"
            answer = httpx.get(f"{url}/v1/clock", verify=_client(cert), timeout=10)
            assert answer.status_code == 200
            assert answer.headers["strict-transport-security"] == (
                "max-age=31536000; includeSubDomains"
            )


def test_the_servers_context_is_hardened_whatever_the_defaults() -> None:
    context = harden(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER))
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert context.options & ssl.OP_NO_COMPRESSION and context.options & ssl.OP_NO_RENEGOTIATION
    tls12 = [c["name"] for c in context.get_ciphers() if c["protocol"] == "TLSv1.2"]
    assert tls12 and all(("GCM" in c or "CHACHA20" in c) and "DHE" in c for c in tls12)

"""A real OpenID Provider on loopback for the single sign-on tests: the certified `oidc-provider`
package from npm (tests/oidc/), run by node, never a mock.

`OidcProvider(clients)` starts it on a port the system chooses (it writes its issuer to a file
once it listens), waits until its discovery document answers, and stops it afterwards. Its output
goes to a log file, printed when it fails to start. The npm packages are installed with
`npm ci --prefix tests/oidc` when node_modules is missing or older than the lock file (a fresh
machine); an install that fails fails the test loudly (nothing is skipped).

`sign_in` plays the person's browser at the provider: it opens the authorization URL, posts the
login form, and returns the redirect the provider sends back to the client (its redirect URI
with `code`, `state` and `iss`).
"""

from __future__ import annotations

import fcntl
import json
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO
from urllib.parse import urljoin

import httpx

OIDC_DIR = Path(__file__).resolve().parents[1] / "oidc"
START_TIMEOUT_S = 30.0
INSTALL_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class Account:
    login: str
    password: str
    sub: str
    email: str
    name: str
    groups: list[str] = field(default_factory=list)
    email_verified: bool = True


@dataclass(frozen=True)
class Client:
    client_id: str
    client_secret: str
    redirect_uris: list[str]


# The people the provider knows.
ALICE = Account("alice", "alice-pw-1", "7f1c2a9e-alice", "alice@clinic.example", "Alice Adams",
                ["queue-managers", "everyone"])  # fmt: skip
BOB = Account("bob", "bob-pw-2", "3b9d4e11-bob", "bob@clinic.example", "Bob Brown",
              ["front-desk", "everyone"])  # fmt: skip
CAROL = Account("carol", "carol-pw-3", "c4a7b2f0-carol", "carol@clinic.example", "Carol Cole",
                ["everyone"])  # fmt: skip
DAVE = Account("dave", "dave-pw-4", "d5e8f3a1-dave", "dave@elsewhere.example", "Dave Dunn",
               ["queue-managers"])  # fmt: skip
ERIN = Account("erin", "erin-pw-5", "e6f9a4b2-erin", "erin@clinic.example", "Erin Eyre",
               ["queue-managers"], email_verified=False)  # fmt: skip
ACCOUNTS = (ALICE, BOB, CAROL, DAVE, ERIN)


def _installed() -> bool:
    """node_modules is there and at least as new as the lock file (npm ci writes the hidden
    lock file node_modules/.package-lock.json)."""
    marker = OIDC_DIR / "node_modules" / ".package-lock.json"
    lock = OIDC_DIR / "package-lock.json"
    return marker.exists() and marker.stat().st_mtime >= lock.stat().st_mtime


def ensure_installed() -> None:
    """Install the provider's npm packages once (under a lock: parallel test processes take
    turns); raise with npm's output when that fails."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        raise RuntimeError("the SSO tests need node and npm (Node.js 20.19 or later) on PATH")
    if _installed():
        return
    with (OIDC_DIR / ".install.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _installed():
            return
        done = subprocess.run(
            ["npm", "ci", "--prefix", str(OIDC_DIR), "--no-audit", "--no-fund"],
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT_S,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"`npm ci --prefix tests/oidc` failed ({done.returncode}):\n"
                f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
            )


class OidcProvider:
    """The provider process; a context manager. `issuer` is known once it is entered."""

    def __init__(self, clients: Sequence[Client], accounts: Sequence[Account] = ACCOUNTS) -> None:
        self.clients, self.accounts = list(clients), list(accounts)
        self.issuer = ""
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._dir: tempfile.TemporaryDirectory[str] | None = None

    def __enter__(self) -> OidcProvider:
        ensure_installed()
        self._dir = tempfile.TemporaryDirectory(prefix="vq-oidc-")
        ready = Path(self._dir.name) / "ready.json"
        self._log = (Path(self._dir.name) / "provider.log").open("w+b")
        self._proc = subprocess.Popen(
            [
                "node",
                str(OIDC_DIR / "provider.mjs"),
                "--clients",
                json.dumps([asdict(c) for c in self.clients]),
                "--accounts",
                json.dumps([asdict(a) for a in self.accounts]),
                "--ready-file",
                str(ready),
            ],
            cwd=OIDC_DIR,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        try:
            self._wait(ready)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _wait(self, ready: Path) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"the OpenID provider exited:\n{self.log()}")
            if ready.exists() and ready.stat().st_size:
                self.issuer = json.loads(ready.read_text())["issuer"]
                try:
                    found = httpx.get(f"{self.issuer}/.well-known/openid-configuration", timeout=2)
                    if found.status_code == 200 and found.json()["issuer"] == self.issuer:
                        return
                except httpx.HTTPError:
                    pass
            time.sleep(0.05)
        raise RuntimeError(
            f"the OpenID provider did not answer in {START_TIMEOUT_S} s:\n{self.log()}"
        )

    def log(self) -> str:
        if self._log is None:
            return ""
        self._log.flush()
        self._log.seek(0)
        return self._log.read().decode(errors="replace")[-8000:]

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None


class LoginRefused(AssertionError):
    """The provider's login form answered again (wrong login or password)."""


async def sign_in(authorize_url: str, account: Account, *, redirect_uri: str) -> str:
    """Sign `account` in at the provider, as a browser would (a fresh one: no provider session),
    from the authorization URL to the provider's redirect back to `redirect_uri` (returned)."""
    async with httpx.AsyncClient(follow_redirects=False, timeout=10) as browser:
        url = authorize_url
        for _ in range(10):
            answer = await browser.get(url)
            if answer.status_code == 200 and "<form" in answer.text:
                answer = await _post_login(browser, url, answer.text, account)
            if answer.status_code not in (302, 303):
                raise AssertionError(f"the provider answered {answer.status_code}: {answer.text}")
            url = urljoin(url, answer.headers["location"])
            if url.startswith(redirect_uri):
                return url
        raise AssertionError("the provider kept redirecting")


async def _post_login(
    browser: httpx.AsyncClient, page_url: str, page: str, account: Account
) -> httpx.Response:
    action = re.search(r'<form method="post" action="([^"]+)"', page)
    assert action is not None, page
    answer = await browser.post(
        urljoin(page_url, action[1]), data={"login": account.login, "password": account.password}
    )
    if answer.status_code == 200:
        raise LoginRefused(f"the provider refused the login of {account.login}")
    return answer


async def abort(authorize_url: str, *, redirect_uri: str) -> str:
    """Open the authorization URL and press Cancel on the login form: the provider's redirect
    back (with error=access_denied)."""
    async with httpx.AsyncClient(follow_redirects=False, timeout=10) as browser:
        url = authorize_url
        for _ in range(10):
            answer = await browser.get(url)
            if answer.status_code == 200:
                cancel = re.search(r'<a href="([^"]+/abort)"', answer.text)
                assert cancel is not None, answer.text
                answer = await browser.get(urljoin(url, cancel[1]))
            url = urljoin(url, answer.headers["location"])
            if url.startswith(redirect_uri):
                return url
        raise AssertionError("the provider kept redirecting")

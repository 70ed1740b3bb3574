"""Who may use the workspace, and how a request proves it came from the workspace's own page.

- Address: the loopback by default. Any other address needs a password or token from the environment
  (SEGMAIL_UI_TOKEN, or SEGMAIL_UI_TOKEN_FILE naming a file that holds it; never the TOML) and HTTPS
  (`[ui] tls_cert`/`tls_key`), so neither the token nor the session cookie crosses a network in clear.
  A token set on the loopback turns the login on there too (for a machine several people share, or a
  reverse proxy in front).
- Host: a request must name the address the workspace serves (or localhost) in its Host header; a page
  on another site that re-points its own name at 127.0.0.1 (DNS rebinding) is refused.
- Sessions live in this process's memory, keyed by a 256-bit random id in a cookie that is HttpOnly,
  Secure (browsers keep Secure cookies for http://127.0.0.1 and localhost) and SameSite=Strict; a login
  gets a new id (no fixation), sessions expire after 8 idle hours, and a restart ends them all.
- CSRF: every form that changes something carries the session's random token, compared in constant
  time, and a cross-site Origin is refused before the form is read.
- Logins are throttled: after 5 wrong tokens within a minute, every attempt waits out the minute.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

TOKEN_ENV = "SEGMAIL_UI_TOKEN"
TOKEN_FILE_ENV = "SEGMAIL_UI_TOKEN_FILE"
MIN_TOKEN_CHARS = 16
COOKIE = "segmail_ui"
IDLE_SECONDS = 8 * 3600
MAX_SESSIONS = 1000
LOGIN_FAILURES = 5
LOGIN_WINDOW = 60.0


class SetupError(Exception):
    """The workspace cannot start as asked; the message says what to set."""


def read_token(env: Mapping[str, str]) -> str | None:
    """The token from the environment (or the file it names); None when neither is set."""
    token = env.get(TOKEN_ENV, "").strip()
    if not token and env.get(TOKEN_FILE_ENV):
        path = Path(env[TOKEN_FILE_ENV])
        try:
            token = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SetupError(f"{TOKEN_FILE_ENV}: cannot read {path}: {exc.strerror or exc}") from None
    if not token:
        return None
    if len(token) < MIN_TOKEN_CHARS:
        raise SetupError(
            f"{TOKEN_ENV}: at least {MIN_TOKEN_CHARS} characters, please (e.g. `openssl rand -hex 16`)"
        )
    return token


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(host: str, *, token: str | None, tls: bool) -> None:
    """Refuse an address other than the loopback without a token and HTTPS."""
    if is_loopback(host):
        return
    missing = [
        what
        for what, ok in ((f"a token in {TOKEN_ENV}", token), ("[ui] tls_cert and tls_key", tls))
        if not ok
    ]
    if missing:
        raise SetupError(
            f"--listen {host}: an address other than 127.0.0.1 needs {' and '.join(missing)}; "
            "to keep it on this machine, use 127.0.0.1"
        )


def allowed_hosts(host: str, port: int) -> frozenset[str] | None:
    """Host header values a request may carry: the served address, and localhost for the loopback;
    None (any) when serving every address of the machine, where the token and TLS guard it."""
    if host in ("0.0.0.0", "::"):
        return None
    shown = f"[{host}]" if ":" in host else host
    names = {f"{shown}:{port}".lower()}
    if is_loopback(host):
        names |= {f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}"}
    return frozenset(names)


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


@dataclass
class Session:
    sid: str
    csrf: str
    authed: bool = False
    seen: float = field(default_factory=time.monotonic)


class Sessions:
    """In-memory sessions: nothing to leak from a disk, and a restart logs everyone out."""

    def __init__(self) -> None:
        self._by_id: dict[str, Session] = {}
        self._lock = threading.Lock()

    def new(self, *, authed: bool = False) -> Session:
        session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), authed)
        with self._lock:
            if len(self._by_id) >= MAX_SESSIONS:  # the least recently seen goes
                oldest = min(self._by_id.values(), key=lambda s: s.seen)
                del self._by_id[oldest.sid]
            self._by_id[session.sid] = session
        return session

    def get(self, sid: str | None) -> Session | None:
        if not sid:
            return None
        now = time.monotonic()
        with self._lock:
            session = self._by_id.get(sid)
            if session is None:
                return None
            if now - session.seen > IDLE_SECONDS:
                del self._by_id[sid]
                return None
            session.seen = now
            return session

    def login(self, old: Session) -> Session:
        """A fresh id and CSRF token for the logged-in session; the old id stops working."""
        with self._lock:
            self._by_id.pop(old.sid, None)
        return self.new(authed=True)

    def drop(self, session: Session) -> None:
        with self._lock:
            self._by_id.pop(session.sid, None)


class LoginThrottle:
    """At most LOGIN_FAILURES wrong tokens per LOGIN_WINDOW seconds, for the whole process."""

    def __init__(self) -> None:
        self._failures: list[float] = []
        self._lock = threading.Lock()

    def blocked(self) -> bool:
        now = time.monotonic()
        with self._lock:
            self._failures = [t for t in self._failures if now - t < LOGIN_WINDOW]
            return len(self._failures) >= LOGIN_FAILURES

    def failed(self) -> None:
        with self._lock:
            self._failures.append(time.monotonic())

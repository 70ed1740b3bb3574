"""The workspace served for real (uvicorn in a thread, port 0) and a plain HTTP client for it.

The client keeps the session cookie by hand: Python's cookie jar never returns a Secure cookie over
http, which is right for the open web and wrong for the loopback, where browsers do.
"""

from __future__ import annotations

import http.client
import re
import urllib.parse
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from segmail.jobs.config import load_config
from segmail.store.db import Store
from segmail.ui.server import Options, Served, prepare

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@contextmanager
def served(
    config_path: Path | None,
    store: Store,
    *,
    now: datetime,
    env: Mapping[str, str] | None = None,
    read_only: bool = False,
    listen: str = "127.0.0.1:0",
) -> Iterator[Served]:
    config = load_config(config_path, env={}) if config_path else load_config(None, env={})
    server = prepare(
        config, store, Options(listen=listen, read_only=read_only), env=dict(env or {}), now=lambda: now
    ).start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    def csrf(self) -> str:
        found = CSRF.search(self.text)
        assert found, "no CSRF field on the page"
        return found.group(1)


class Client:
    """One browser-like session: its cookie, never following redirects."""

    def __init__(self, url: str) -> None:
        parts = urllib.parse.urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.cookie: str | None = None
        self.cookies_set: list[str] = []

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: Mapping[str, str] | None = None
    ) -> Answer:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        sent = {"Host": f"{self.host}:{self.port}", **(headers or {})}
        if self.cookie and "Cookie" not in sent:
            sent["Cookie"] = f"segmail_ui={self.cookie}"
        try:
            conn.request(method, path, body=body, headers=sent)
            response = conn.getresponse()
            data = response.read()
            for name, value in response.getheaders():
                if name.lower() == "set-cookie":
                    self.cookies_set.append(value)
                    self.cookie = value.split(";", 1)[0].split("=", 1)[1]
            return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, data)
        finally:
            conn.close()

    def get(self, path: str, **headers: str) -> Answer:
        return self.request("GET", path, headers=headers)

    def post(self, path: str, form: Mapping[str, str], **headers: str) -> Answer:
        body = urllib.parse.urlencode(form).encode()
        return self.request(
            "POST", path, body, {"Content-Type": "application/x-www-form-urlencoded", **headers}
        )

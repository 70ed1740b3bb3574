"""Serving the workspace with uvicorn: in the foreground (`segmail ui`), or in a thread of `segmail run`.

The socket is bound before the application is built, so the Host check knows the real port (port 0
in tests picks a free one). uvicorn runs with its pure-Python HTTP parser (h11), no WebSocket, no
access log (a query string can hold an email address) and no proxy headers trusted.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import uvicorn

from segmail.jobs.config import AppConfig, split_listen
from segmail.store.db import Store
from segmail.ui import security
from segmail.ui.app import build_app
from segmail.ui.views import compile_pages
from segmail.ui.workspace import Workspace, utc_now

log = logging.getLogger("segmail.ui")
DEFAULT_LISTEN = "127.0.0.1:8765"


@dataclass(frozen=True, kw_only=True)
class Options:
    listen: str
    read_only: bool = False
    tls_cert: Path | None = None
    tls_key: Path | None = None


def options_from(config: AppConfig, *, listen: str | None = None, read_only: bool = False) -> Options:
    """`[ui]` of the config, overridden by the command line's --listen and --read-only."""
    ui = config.ui
    return Options(
        listen=listen or ui.listen or DEFAULT_LISTEN,
        read_only=read_only or ui.read_only,
        tls_cert=config.relative(ui.tls_cert) if ui.tls_cert else None,
        tls_key=config.relative(ui.tls_key) if ui.tls_key else None,
    )


@dataclass
class Served:
    """A bound, configured server; `url` is where the browser goes."""

    server: uvicorn.Server
    sock: socket.socket
    url: str
    thread: threading.Thread | None = None

    def run(self) -> None:
        """In the foreground until Ctrl-C (uvicorn handles SIGINT/SIGTERM in the main thread)."""
        self.server.run(sockets=[self.sock])

    def start(self) -> Served:
        """In a daemon thread; returns once it accepts connections."""
        self.thread = threading.Thread(target=self.run, name="segmail-ui", daemon=True)
        self.thread.start()
        while not self.server.started and self.thread.is_alive():
            self.thread.join(0.02)
        if not self.server.started:
            raise RuntimeError("the workspace server did not start (see the log)")
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(10)
        self.sock.close()


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise security.SetupError(
            f"--listen {host}:{port}: cannot listen there: {exc.strerror or exc}"
        ) from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def prepare(
    config: AppConfig,
    store: Store,
    options: Options,
    *,
    env: Mapping[str, str],
    now: Callable[[], datetime] = utc_now,
) -> Served:
    """Check the exposure rules, bind, and build the app; SetupError says what is missing."""
    host, port = split_listen(options.listen)
    token = security.read_token(env)
    https = options.tls_cert is not None and options.tls_key is not None
    security.check_exposure(host, token=token, tls=https)
    for path in (options.tls_cert, options.tls_key):
        if path is not None and not path.is_file():
            raise security.SetupError(f"[ui] tls_cert/tls_key: no such file {path}")
    sock = _bind(host, port)
    port = sock.getsockname()[1]
    workspace = Workspace(config, store, read_only=options.read_only, now=now, env=env)
    app = build_app(workspace, host=host, port=port, token=token, https=https)
    threading.Thread(target=compile_pages, name="segmail-ui-templates", daemon=True).start()
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            http="h11",
            ws="none",
            lifespan="off",
            access_log=False,
            log_level="warning",
            proxy_headers=False,
            server_header=False,
            ssl_certfile=str(options.tls_cert) if https else None,
            ssl_keyfile=str(options.tls_key) if https else None,
            timeout_graceful_shutdown=5,
        )
    )
    shown = f"[{host}]" if ":" in host else host
    return Served(server=server, sock=sock, url=f"{'https' if https else 'http'}://{shown}:{port}/")

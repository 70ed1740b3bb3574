"""The sandbox's HTTP plumbing: a keep-alive threaded server that hands every request to one function."""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
import random
import socket
import struct
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

from segmail.sandbox.faults import FAULT_KINDS, MAILCHIMP_ONLY, Faults

__all__ = ["Exchange", "HttpServer", "Reply"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reply:
    status: int = 0
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    reset: bool = False  # close the connection with a TCP reset instead of answering


# (method, request target, headers, body) -> what to send back
Exchange = Callable[[str, str, dict[str, str], bytes], Reply]


class HttpServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], exchange: Exchange, on_connect: Callable[[], None]) -> None:
        self.exchange = exchange
        self.on_connect = on_connect
        self.lock = threading.Lock()
        self.connections: set[socket.socket] = set()
        self.threads: list[threading.Thread] = []
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        """One thread per connection, tracked so close() can join them."""
        self.on_connect()
        thread = threading.Thread(target=self.process_request_thread, args=(request, client_address),
                                  name="mailchimp-sandbox-connection", daemon=True)  # fmt: skip
        with self.lock:
            self.threads = [t for t in self.threads if t.is_alive()]
            self.threads.append(thread)
        thread.start()

    def close(self) -> None:
        """Stop serving, end idle kept-alive connections (they block in a read), join every thread."""
        self.shutdown()
        with self.lock:
            connections, threads = list(self.connections), list(self.threads)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for thread in threads:
            thread.join(timeout=5)
        self.server_close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        _log.debug("connection from %s ended with an error", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so a client with a session reuses its connection
    timeout = 30  # an idle kept-alive connection is closed after this many seconds
    server: HttpServer

    def setup(self) -> None:
        super().setup()
        with self.server.lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.lock:
            self.server.connections.discard(self.connection)
        with contextlib.suppress(OSError):  # the client may already be gone
            super().finish()

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        reply = self.server.exchange(self.command, self.path, dict(self.headers.items()), body)
        if reply.reset:
            self._reset()
            return
        try:
            self.send_response(reply.status)
            for name, value in reply.headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)
        except OSError:  # the client gave up (e.g. its read timeout fired first)
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def _reset(self) -> None:
        """SO_LINGER 0 makes close() send RST: the client sees the connection die with no response."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()

    def log_message(self, format: str, *args: Any) -> None:
        _log.debug("%s - %s", self.address_string(), format % args)


def basic_credentials(headers: Mapping[str, str]) -> tuple[str, str] | None:
    """(user, password) of an `Authorization: Basic` header, or None when absent or malformed."""
    value = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
    scheme, _, encoded = value.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return user, password


def json_or_none(body: bytes | None) -> Any:
    """A logged body parsed as JSON, or None when it is empty or not JSON."""
    try:
        return json.loads(body) if body else None
    except ValueError:
        return None


class ServedSandbox:
    """The lifecycle every sandbox shares: one HttpServer in a daemon thread, a context manager.

    Subclasses call `_init_serving` in `__init__` and build their server in `start()` via `_serve`.
    """

    _server: HttpServer | None
    _thread: threading.Thread | None
    _stopping: threading.Event
    _address: tuple[str, int]
    _lock: threading.RLock
    _faults: Faults
    _fault_rng: random.Random
    fault_kinds: frozenset[str] = frozenset(FAULT_KINDS) - MAILCHIMP_ONLY  # what this sandbox can inject

    def _init_serving(self, host: str, port: int, faults: Faults | None) -> None:
        self._lock = threading.RLock()
        self._stopping = threading.Event()  # wakes requests sleeping in an injected latency or timeout
        self._address = (host, port)
        self._server = None
        self._thread = None
        self.faults = faults or Faults()

    @property
    def faults(self) -> Faults:
        return self._faults

    @faults.setter
    def faults(self, faults: Faults) -> None:
        """Swap the faults mid-test; the draw sequence restarts from the new seed."""
        unsupported = faults.kinds() - self.fault_kinds
        if unsupported:
            raise ValueError(f"{type(self).__name__} cannot inject {', '.join(sorted(unsupported))}")
        with self._lock:
            self._faults = faults
            self._fault_rng = random.Random(faults.seed)

    def start(self) -> None:
        raise NotImplementedError

    def _begin(self) -> None:
        if self._server is not None:
            raise RuntimeError("the sandbox is already running")
        self._stopping.clear()

    def _serve(self, server: HttpServer, name: str) -> None:
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=name, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def root_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the sandbox has not been started")
        return f"http://{self._address[0]}:{self._server.server_address[1]}"

"""A requests transport that calls a plain function: a client's HTTP tested without a server or a thread.

`HandlerTransport(handler)` is mounted through the `transport=` argument every connector takes;
`handler(PreparedRequest) -> (status, headers, body)` answers each request (a dict or list body is sent
as JSON), or raises a `requests` error to stand for a reset or a timeout. The requests it saw are kept,
so a test can assert that every expected request was made. Where a test needs a real socket (the
pool, a connection dropped mid-body, the official spec checks), the threaded sandboxes stay.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from requests import PreparedRequest

from segmail.connector.http import Response, Transport, make_response

Answer = tuple[int, Mapping[str, str], str | bytes | dict[str, Any] | list[Any]]
Handler = Callable[[PreparedRequest], Answer]


class HandlerTransport(Transport):
    def __init__(self, handler: Handler) -> None:
        super().__init__()
        self.handler = handler
        self.requests: list[PreparedRequest] = []

    def send(self, request: PreparedRequest, stream: bool = False, timeout: Any = None, verify: Any = True,
             cert: Any = None, proxies: Any = None) -> Response:  # fmt: skip
        self.requests.append(request)
        status, headers, body = self.handler(request)
        response = make_response(status, headers, body)
        response.request = request
        response.url = request.url or ""
        return response

    def close(self) -> None:
        pass


def answers(*replies: Answer | BaseException) -> Handler:
    """A handler giving `replies` in turn (an exception is raised), whatever the request."""
    queue = list(replies)

    def handler(_request: PreparedRequest) -> Answer:
        reply = queue.pop(0)
        if isinstance(reply, BaseException):
            raise reply
        return reply

    return handler

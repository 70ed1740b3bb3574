"""Service logging: plain text for a terminal, JSON lines for log shippers; secrets always masked.

The redaction runs on the final formatted line (message, arguments and traceback together), so a
key that slips into an exception message from a library is masked as well.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from segmail.connector.http import Redactor

# environment variables whose values never appear in a log line
SECRET_ENV = (
    "MAILCHIMP_API_KEY",
    "SHOPIFY_ACCESS_TOKEN",
    "WC_CONSUMER_KEY",
    "WC_CONSUMER_SECRET",
    "SEGMAIL_STORE_URL",
    "SEGMAIL_UI_TOKEN",  # the workspace's password (segmail/ui)
)
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        data.update({k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")})
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str)


class RedactingFormatter(logging.Formatter):
    def __init__(self, inner: logging.Formatter, redact: Redactor) -> None:
        super().__init__()
        self.inner = inner
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        return self.redact(self.inner.format(record))


def secrets_from(env: Mapping[str, str], extra: Iterable[str] = ()) -> list[str]:
    found = [env[name] for name in SECRET_ENV if env.get(name)]
    for value in list(found):
        if "://" in value and "@" in value:  # a store URL: its password alone, too
            userinfo = value.split("://", 1)[1].split("@", 1)[0]
            if ":" in userinfo:
                found.append(userinfo.split(":", 1)[1])
    return found + [s for s in extra if s]


def setup_logging(fmt: str, *, secrets: Iterable[str], level: int = logging.INFO) -> None:
    inner: logging.Formatter = JsonFormatter() if fmt == "json" else _TEXT
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter(inner, Redactor(secrets)))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


@contextmanager
def command_log_lines(*, secrets: Iterable[str], level: int = logging.INFO) -> Iterator[None]:
    """Text log lines on stderr while one command runs, unless logging is already set up (a service, a test)."""
    root = logging.getLogger()
    if root.handlers:
        yield
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter(_TEXT, Redactor(secrets)))
    before = root.level
    root.addHandler(handler)
    root.setLevel(level)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(before)


_TEXT = logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

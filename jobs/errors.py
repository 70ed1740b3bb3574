"""What a failed `segmail` command prints: one line naming what failed and what to do, and its exit status.

The CLI's `main` hands every exception to `failure`, so a user never sees a Python traceback for a
failure they can cause or meet; `--debug` adds the traceback for a bug report. Exit statuses
(README "Using it"): 0 ok, 1 a failure (an API, the network, the store, or a bug), 2 bad config or
input (a retry cannot help until it is fixed), 130 interrupted by Ctrl-C (128 + SIGINT, as shells do).
"""

from __future__ import annotations

import errno
import os
import sys
from dataclasses import dataclass

from segmail.connector.csv_files import CsvFileError
from segmail.connector.http import ApiError, ConfigurationError, Redactor, TransientError
from segmail.jobs.config import ENV_STORE_URL, ConfigError
from segmail.jobs.logs import secrets_from
from segmail.jobs.start_error import StartError
from segmail.jobs.wiring import WiringError
from segmail.store.db import StoreError, StoreUrlError, driver_error

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

INTERRUPTED = "interrupted; every completed batch is stored and a re-run continues idempotently"
DEBUG_HINT = "run with --debug for the traceback"


class UsageError(Exception):
    """Bad command-line input; printed without a traceback, exit status 2."""


@dataclass(frozen=True, slots=True)
class Failure:
    message: str
    exit_code: int


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _api_failure(exc: ApiError) -> Failure:
    if isinstance(exc, ConfigurationError):
        return Failure(f"error: {exc} — check the credentials and their permissions", EXIT_USAGE)
    if isinstance(exc, TransientError) and exc.status is None:
        return Failure(
            f"error: {exc}, on every attempt — check the URL in the config ([mailchimp] api_url, "
            "[shop] url) and the network, then run again",
            EXIT_FAILED,
        )
    if isinstance(exc, TransientError):
        return Failure(
            f"error: {exc}, on every attempt — the service is busy or down; run again later", EXIT_FAILED
        )
    return Failure(f"error: {exc} — the request was refused; fix what the message names", EXIT_FAILED)


def _raised_by(exc: BaseException, module: str, name: str) -> bool:
    """`isinstance(exc, module.name)` without importing the module: a command that never loaded the
    prediction models (and SciPy, 1.7 s of every start) cannot have raised their errors."""
    loaded = sys.modules.get(module)
    return loaded is not None and isinstance(exc, getattr(loaded, name))


def failure(exc: BaseException) -> Failure:
    """The one table from exception type to message and exit status; secrets are masked."""
    if isinstance(exc, ConfigError) and len(exc.problems) == 1:
        found = Failure(f"invalid config {exc.origin}: {exc.problems[0]}", EXIT_USAGE)
    elif isinstance(exc, ConfigError):
        found = Failure(str(exc), EXIT_USAGE)  # every problem at once, one line each naming its TOML key
    elif isinstance(exc, UsageError | CsvFileError | WiringError):
        found = Failure(f"error: {exc}", EXIT_USAGE)
    elif _raised_by(exc, "segmail.segments.clv", "PredictionRefused"):  # more orders or a later --as-of
        found = Failure(f"error: {exc} — import more orders or choose a later --as-of", EXIT_USAGE)
    elif _raised_by(exc, "segmail.segments.mle", "FitFailed"):
        found = Failure(f"error: the model fit failed: {_first_line(exc)} — {DEBUG_HINT}", EXIT_FAILED)
    elif isinstance(exc, StartError):
        found = Failure(f"error: {exc}", exc.exit_code)
    elif isinstance(exc, StoreUrlError):
        found = Failure(f"store error: {exc}", EXIT_USAGE)
    elif isinstance(exc, StoreError):
        found = Failure(f"store error: {exc}", EXIT_FAILED)
    elif (cause := driver_error(exc)) is not None:
        found = Failure(
            f"store error: {type(cause).__name__}: {_first_line(cause)} — check that the "
            "database is reachable and has space, then run again",
            EXIT_FAILED,
        )
    elif isinstance(exc, ApiError):
        found = _api_failure(exc)
    elif isinstance(exc, OSError) and exc.filename:
        found = Failure(f"error: {exc.filename}: {exc.strerror or exc}", EXIT_USAGE)
    elif isinstance(exc, OSError) and exc.errno in (errno.EADDRINUSE, errno.EADDRNOTAVAIL):
        found = Failure(
            f"error: cannot listen: {exc.strerror} — choose another address ([service] listen, or "
            "`sandbox serve --port`; 0 picks a free port) or stop the process holding it",
            EXIT_USAGE,
        )
    elif isinstance(exc, OSError):
        found = Failure(f"error: {type(exc).__name__}: {exc.strerror or exc} — {DEBUG_HINT}", EXIT_FAILED)
    else:
        found = Failure(
            f"error: unexpected {type(exc).__name__}: {_first_line(exc)} — this is a bug; {DEBUG_HINT} "
            "and report it",
            EXIT_FAILED,
        )
    # the store URL is masked by its password only (secrets_from adds it): the rest names the database
    store_url = os.environ.get(ENV_STORE_URL)
    redact = Redactor(s for s in secrets_from(os.environ) if s != store_url)
    return Failure(redact(found.message), found.exit_code)


def stdout_closed() -> int:
    """The reader of our output went away (`segmail ... | head`): stop quietly, as the Python docs say.

    https://docs.python.org/3/library/signal.html#note-on-sigpipe — point stdout at devnull so the
    interpreter's final flush cannot fail again, and exit 1 as Python does on EPIPE. No message: the
    reader closed the pipe on purpose, and Unix tools stay silent then.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a real file (a test's capture): nothing to flush
        pass
    return EXIT_FAILED

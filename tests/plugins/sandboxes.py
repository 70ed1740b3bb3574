"""Sandbox fixtures shared by several test modules, registered as a plugin in tests/conftest.py.

A test asks for one by name; no module imports another module's fixtures. A module that defines a
fixture of the same name (several define their own `sandbox`) uses its own: pytest prefers it.

- `mailchimp_sandbox`: a running Mailchimp sandbox whose every exchange is checked against the spec.
  Pin time with `mailchimp_sandbox.clock = lambda: T`, inject failures with `.faults = Faults(...)`.
- `clock` and `sandbox`: the send tests' clock pinned at NOW, and a checked sandbox reading it (API
  key KEY), so scheduled campaigns are delivered when a test moves the clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from segmail.sandbox.mailchimp import MailchimpSandbox
from tests.mailchimp_fixture import Clock, checked_sandbox

KEY = "0123456789abcdef0123456789abcdef-us6"
NOW = datetime(
    2026, 11, 30, 6, 0, tzinfo=UTC
)  # a Monday; the send tests' VIP broadcast is on Tuesday 1 December


@pytest.fixture
def mailchimp_sandbox() -> Iterator[MailchimpSandbox]:
    with checked_sandbox() as sandbox:
        yield sandbox


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def sandbox(clock: Clock) -> Iterator[MailchimpSandbox]:
    with checked_sandbox(api_key=KEY, clock=clock) as box:
        yield box

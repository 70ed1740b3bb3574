"""A Mailchimp sandbox whose every exchange is checked against the spec, and the helpers around it.

The fixtures built on it (`mailchimp_sandbox`, the send tests' `sandbox`) are in tests/plugins/sandboxes.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import mailchimp_marketing
import pytest

from segmail.sandbox.mailchimp import MailchimpSandbox

SHOWN_VIOLATIONS = 5


def spec_violations(sandbox: MailchimpSandbox) -> list[str]:
    """Every spec violation of every exchange the sandbox logged."""
    from segmail.sandbox.spec import (
        validate,  # openapi-core takes most of a second to import: only when checking
    )

    return [problem for entry in list(sandbox.requests_log) for problem in validate(entry)]


@contextmanager
def checked_sandbox(**kwargs: Any) -> Iterator[MailchimpSandbox]:
    """A started sandbox with list "list1"; on a clean exit, fails if any exchange broke the spec."""
    sandbox = MailchimpSandbox(**kwargs)
    sandbox.add_list("list1", "segmail test list")
    with sandbox:
        yield sandbox
    violations = spec_violations(sandbox)
    if violations:
        shown = "\n".join(f"  - {v}" for v in violations[:SHOWN_VIOLATIONS])
        pytest.fail(
            f"{len(violations)} Mailchimp spec violation(s) in the sandbox log:\n{shown}", pytrace=False
        )


class Clock:
    """A clock the test moves: the sandbox (and a sender) read it, so scheduled sends happen on cue."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def official_client(sandbox: MailchimpSandbox, **config: Any) -> mailchimp_marketing.Client:
    """The official client pointed at the sandbox, configured as the contract notes say."""
    client = mailchimp_marketing.Client()
    client.set_config({"api_key": sandbox.api_key, "server": "us6", **config})
    client.api_client.host = sandbox.base_url
    return client

"""The shared HTTP layer: the error table, the retry policy (no real sleeping), redaction."""

from __future__ import annotations

import pytest

from segmail.connector.http import (
    ConfigurationError,
    HttpStats,
    ItemError,
    Redactor,
    TransientError,
    classify,
    parse_retry_after,
    problem_detail,
    retry_policy,
)


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (None, TransientError),
        (429, TransientError),
        (500, TransientError),
        (502, TransientError),
        (503, TransientError),
        (401, ConfigurationError),
        (403, ConfigurationError),
        (400, ItemError),
        (404, ItemError),
    ],
)
def test_status_table(status, kind):
    assert type(classify(status, "x")) is kind


def _run(policy, outcomes):
    calls = []

    def op():
        calls.append(1)
        outcome = outcomes[len(calls) - 1]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    for attempt in policy:
        with attempt:
            return op(), len(calls)
    raise AssertionError("unreachable")


def test_transient_errors_are_retried_with_retry_after_honoured():
    waits: list[float] = []
    stats = HttpStats()
    policy = retry_policy(attempts=5, sleep=waits.append, stats=stats)
    result, calls = _run(
        policy, [TransientError("429", status=429, retry_after=3.0), TransientError("502", status=502), "ok"]
    )
    assert (result, calls) == ("ok", 3)
    assert waits[0] == 3.0 and 0 <= waits[1] <= 60
    assert stats.retries == 2 and stats.attempts == 3 and stats.waited_s == pytest.approx(sum(waits))


def test_attempts_are_bounded_and_the_last_error_is_raised():
    waits: list[float] = []
    policy = retry_policy(attempts=3, sleep=waits.append)
    with pytest.raises(TransientError, match="third"):
        _run(policy, [TransientError("first"), TransientError("second"), TransientError("third"), "never"])
    assert len(waits) == 2


@pytest.mark.parametrize("error", [ItemError("bad", status=400), ConfigurationError("key", status=401)])
def test_non_transient_errors_are_not_retried(error):
    waits: list[float] = []
    with pytest.raises(type(error)):
        _run(retry_policy(attempts=5, sleep=waits.append), [error, "never"])
    assert waits == []


def test_retry_after_cap_and_parsing():
    waits: list[float] = []
    _run(
        retry_policy(attempts=2, max_wait_s=10, sleep=waits.append),
        [TransientError("x", retry_after=999), "ok"],
    )
    assert waits == [10]
    assert parse_retry_after("2") == 2.0 and parse_retry_after(None) is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") is None


# https://mailchimp.com/developer/marketing/docs/errors/: {type, title, status, detail, instance} and, for
# "Invalid Resource", an `errors` array of {field, message}.
def test_problem_detail_reads_mailchimp_error_bodies():
    body = '{"type": "t", "title": "Invalid Resource", "status": 400, "detail": "Bad", "instance": "i", "errors": [{"field": "FNAME", "message": "Please enter a value"}]}'
    assert problem_detail(body) == "Invalid Resource — Bad — FNAME: Please enter a value"
    assert problem_detail("<html>502</html>") == ""
    assert problem_detail(None) == ""


def test_redactor_masks_every_secret():
    redact = Redactor(["abc123def456-us6", ""])
    assert (
        redact("key abc123def456-us6 in https://user:abc123def456-us6@x") == "key *** in https://user:***@x"
    )

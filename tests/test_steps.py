"""The pipeline declared once: what each command selects, and how a selection runs.

Fake steps stand in for the jobs (the end-to-end tests in test_sync.py, test_shop_pull.py and
test_service.py run the real ones), so each rule of the runner is checked on its own.
"""

from __future__ import annotations

import pytest

from segmail.jobs import steps
from segmail.jobs.steps import Inputs, Step, run_steps
from segmail.jobs.stopping import Interrupted
from tests.conftest import T


def names(selection):
    return [s.name for s in selection]


def inputs(**kw):
    return Inputs(store=None, config=None, now=lambda: T, **kw)  # fake steps never read them


def test_each_command_selects_from_the_one_cycle():
    assert names(steps.STEPS) == [
        "shop pull",
        "pull members",
        "pull engagement",
        "refit predictions",
        "compute",
        "push tags",
        "plan sends",
    ]
    assert names(steps.SYNC) == [
        "pull members",
        "pull engagement",
        "refit predictions",
        "compute",
        "push tags",
    ]  # sync --once
    assert names(steps.SHOP) == ["shop pull"]  # shop pull --once
    assert names(steps.CYCLE) == ["shop pull", *names(steps.SYNC)]  # run, no campaigns
    assert names(steps.CYCLE_AND_SENDS) == names(steps.STEPS)  # run, with campaigns
    assert names(steps.select("push tags", "shop pull")) == ["shop pull", "push tags"]  # the cycle's order
    with pytest.raises(ValueError, match="no such step: push"):
        steps.select("push")


def ok(name, value=1, **kw):
    return Step(name, lambda _i: value, lambda v: {"value": v}, **kw)


def boom(name, exc=None):
    def run(_i):
        raise exc or RuntimeError("boom")

    return Step(name, run, lambda v: {})


def test_within_a_run_a_failed_step_is_recorded_and_the_next_one_runs():
    selection = [
        ok("a"),
        boom("b"),
        ok("c", needs=("b",)),  # its input failed: skipped
        ok("d", value=7, problem=lambda v: f"{v} unconfirmed"),  # a result that is a failure
        ok("e"),
    ]
    outcome = run_steps(inputs(), selection, run_id=4)
    got = [(r.name, r.status, r.counts, r.error) for r in outcome.records]
    assert got == [
        ("a", "ok", {"value": 1}, None),
        ("b", "failed", {}, "RuntimeError: boom"),
        ("c", "skipped", {"reason": "b failed"}, None),
        ("d", "failed", {"value": 7}, "7 unconfirmed"),
        ("e", "ok", {"value": 1}, None),
    ]
    assert not outcome.interrupted and outcome.results == {"a": 1, "d": 7, "e": 1}
    assert outcome.get(selection[1]) is None and outcome.result(selection[3]) == 7


def test_a_single_pass_stops_at_the_first_failure():
    ran = []
    selection = [boom("a", ValueError("bad key")), Step("b", ran.append, lambda _: {})]
    with pytest.raises(ValueError, match="bad key"):
        run_steps(inputs(), selection)
    assert ran == []


def test_a_stop_between_steps_ends_the_selection():
    stopped = []
    selection = [Step("a", lambda _i: stopped.append(True), lambda _: {}), ok("b")]
    outcome = run_steps(inputs(stop=lambda: bool(stopped)), selection, run_id=1)
    assert outcome.interrupted and names(outcome.records) == ["a"]
    stopped.clear()
    with pytest.raises(Interrupted):
        run_steps(inputs(stop=lambda: bool(stopped)), selection)


def test_a_stop_inside_a_step_marks_it_interrupted():
    outcome = run_steps(inputs(), [boom("a", Interrupted("stopping")), ok("b")], run_id=1)
    assert outcome.interrupted and [(r.name, r.status) for r in outcome.records] == [("a", "interrupted")]


def test_progress_names_each_step_and_a_shop_without_source_is_skipped():
    seen = []
    outcome = run_steps(inputs(), [steps.SHOP_PULL, ok("b")], run_id=1, progress=seen.append)
    assert seen == ["shop pull", "b"]
    (shop, _) = outcome.records
    assert (shop.status, shop.counts, shop.seconds) == (
        "skipped",
        {"reason": "orders come from CSV imports"},
        0.0,
    )

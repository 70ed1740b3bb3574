"""Prediction features in rules (issue 13) on SQLite and PostgreSQL, on the CDNOW sample.

The store holds the CDNOW customers as contacts with their orders (and one subscriber who never
bought). Segments reading p_alive, clv_percentile and the RFM scores must hold exactly the customers
the pure models (segments.clv, fitted to the same orders) put there; without a stored fit at or before
T the features are missing, the segments empty, and both `segments compute` and `rules check` say so.
The service's refit step is checked for when it runs, skips and refuses.
"""

from __future__ import annotations

import csv
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from segmail.jobs import predict
from segmail.jobs.cli import main
from segmail.jobs.config import AppConfig, parse_config
from segmail.segments import clv
from segmail.segments.clv_data import summarise
from segmail.store.db import open_store
from tests.test_predict_models import CALIBRATION_END, cdnow_orders, day_relative

AS_OF = "1997-09-30T23:59:59Z"
NEVER_BOUGHT = "never.bought@example.com"
CONFIG = """
[segments.at_risk]
enabled = true

[segments.champions]
rule = 'rfm_group == "champions" and rfm_r >= 4'

[segments.likely_gone]
rule = "p_alive < 0.2 or p_alive is None"
"""


def parse(data: dict[str, object]) -> AppConfig:
    return parse_config(data, origin="test", base_dir=Path("."), env={})


def email(customer: str) -> str:
    return f"cdnow{customer}@example.com"


@pytest.fixture(scope="module")
def shop_files(tmp_path_factory) -> tuple[str, str]:
    folder = tmp_path_factory.mktemp("cdnow-shop")
    orders, contacts = folder / "orders.csv", folder / "contacts.csv"
    customers = sorted({o.customer for o in cdnow_orders()})
    with open(contacts, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["email", "status", "opted_in_at"])
        for c in [*customers]:
            writer.writerow([email(c), "subscribed", "1996-12-01T00:00:00Z"])
        writer.writerow([NEVER_BOUGHT, "subscribed", "1996-12-01T00:00:00Z"])
    with open(orders, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["order_id", "email", "created_at", "total", "currency", "status"])
        for n, order in enumerate(cdnow_orders()):
            at = order.placed_at.isoformat().replace("+00:00", "Z")
            writer.writerow([f"cd{n}", email(order.customer), at, str(order.amount), "USD", "paid"])
    return str(contacts), str(orders)


@pytest.fixture(scope="module")
def expected() -> dict[str, set[str]]:
    """Each segment's members by the pure models, from the same orders (up to the calibration end)."""
    orders = [o for o in cdnow_orders() if o.placed_at.date() <= CALIBRATION_END]
    summary = summarise(orders, CALIBRATION_END)
    models = clv.fit_models(summary)
    pred = clv.predict(models, summary)
    relative = day_relative(models, orders, CALIBRATION_END)  # ranks against the buyers before T's day
    percentile, scores = relative.clv_percentile, relative.rfm
    counts = Counter(o.customer for o in orders)
    found: dict[str, set[str]] = {"at_risk": set(), "champions": set(), "likely_gone": {NEVER_BOUGHT}}
    for i, c in enumerate(summary.customers):
        if counts[c] >= 2 and pred.p_alive[i] < 0.5 and percentile[i] >= 50:
            found["at_risk"].add(email(c))
        if scores.group[i] == "champions" and scores.r[i] >= 4:
            found["champions"].add(email(c))
        if pred.p_alive[i] < 0.2:
            found["likely_gone"].add(email(c))
    # customers whose first order is after the calibration end have no scores yet: missing
    later = {o.customer for o in cdnow_orders()} - set(summary.customers)
    found["likely_gone"] |= {email(c) for c in later}
    return found


@pytest.fixture
def env(monkeypatch, store_url, tmp_path, shop_files):
    config = tmp_path / "segmail.toml"
    config.write_text(CONFIG)
    monkeypatch.setenv("SEGMAIL_STORE_URL", store_url)
    monkeypatch.setenv("SEGMAIL_CONFIG", str(config))
    monkeypatch.chdir(tmp_path)
    contacts, orders = shop_files
    assert main(["import", "contacts", contacts]) == 0
    assert main(["import", "orders", orders]) == 0
    return store_url


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def members(capsys, tmp_path) -> dict[str, set[str]]:
    out = tmp_path / "members.csv"
    assert run(capsys, "segments", "export", "--out", str(out))[0] == 0
    found: dict[str, set[str]] = {}
    with open(out) as f:
        for row in csv.DictReader(f):
            found.setdefault(row["segment"], set()).add(row["email"])
    return found


def test_rules_read_the_stored_fit_scored_at_t(env, capsys, tmp_path, expected):
    assert run(capsys, "predict", "fit", "--as-of", AS_OF)[0] == 0
    code, _, err = run(capsys, "segments", "compute", "--as-of", AS_OF)
    assert code == 0, err
    assert "buyer(s) scored with fit #1" in err
    got = members(capsys, tmp_path)
    assert expected["at_risk"], "the CDNOW sample has valuable repeat buyers who have gone quiet"
    assert expected["champions"]
    for name in ("at_risk", "champions", "likely_gone"):
        assert got.get(name, set()) == expected[name], name
    assert "high_potential" not in got  # shipped disabled
    assert NEVER_BOUGHT not in got.get("at_risk", set())  # no order: missing, every comparison false


def test_without_a_fit_the_features_are_missing_and_both_commands_say_so(env, capsys, tmp_path):
    code, _, err = run(capsys, "rules", "check")
    assert code == 0
    assert "segments.at_risk.rule: reads clv_percentile, p_alive, but no prediction fit is stored" in err
    assert "segments.champions.rule: reads rfm_group, rfm_r" in err
    code, _, err = run(capsys, "segments", "compute", "--as-of", AS_OF)
    assert code == 0
    assert "warning: prediction features are missing for everyone: no prediction fit stored" in err
    got = members(capsys, tmp_path)
    assert "at_risk" not in got and "champions" not in got
    # `p_alive is None` holds for every contact: the missing value is asked for explicitly
    assert len(got["likely_gone"]) == 2357 + 1


def test_a_fit_made_after_t_is_not_used(env, capsys, tmp_path):
    """A fit as of a later day has seen orders after T; a back-dated compute must not read it."""
    assert run(capsys, "predict", "fit", "--as-of", AS_OF)[0] == 0
    code, _, err = run(capsys, "segments", "compute", "--as-of", "1997-06-30T00:00:00Z")
    assert code == 0
    assert "missing for everyone" in err
    assert "at_risk" not in members(capsys, tmp_path)
    code, _, err = run(capsys, "rules", "check")
    assert "no prediction fit is stored" not in err  # a fit exists: nothing to warn about


def test_explain_shows_each_prediction_and_the_fit_behind_it(env, capsys, expected):
    assert run(capsys, "predict", "fit", "--as-of", AS_OF)[0] == 0
    member = sorted(expected["at_risk"])[0]
    code, out, _ = run(capsys, "segments", "explain", member, "--as-of", AS_OF)
    assert code == 0
    for feature in ("p_alive", "clv_percentile", "predicted_clv_365d", "rfm_group", "expected_orders_90d"):
        assert feature in out
    assert "predictions: fit #1 as of 1997-09-30T23:59:59+00:00, scored at T" in out
    assert "at_risk" in out and "every clause holds" in out
    code, out, _ = run(capsys, "segments", "explain", NEVER_BOUGHT, "--as-of", AS_OF)
    line = next(line for line in out.splitlines() if "p_alive" in line)
    assert "missing" in line


def test_the_service_refits_when_due_and_records_a_refusal(store_url):
    off = parse({})
    on = parse({"segments": {"at_risk": {"enabled": True}}, "predict": {"refit_every": "1d"}})
    store = open_store(store_url)
    now = datetime(2026, 12, 1, 12, tzinfo=UTC)
    try:
        assert (
            predict.refit_skip_reason(store, off, now=now) == "no enabled segment reads a prediction feature"
        )
        assert predict.refit_skip_reason(store, on, now=now) is None  # never fitted: due
        refused = predict.refit(store, on, as_of=now, now=now)  # an empty store
        assert refused.fitted is None
        assert refused.refused is not None and "50 customers with a repeat purchase needed" in refused.refused
    finally:
        store.dispose()


def test_a_fresh_fit_is_not_refitted_until_refit_every_has_passed(env):
    on = parse({"segments": {"at_risk": {"enabled": True}}, "predict": {"refit_every": "6h"}})
    store = open_store(env)
    fitted_at = datetime(2026, 12, 1, 12, tzinfo=UTC)
    try:
        as_of = datetime(1997, 9, 30, 23, 59, 59, tzinfo=UTC)
        result = predict.refit(store, on, as_of=as_of, now=fitted_at)
        assert result.fitted is not None and result.refused is None
        reason = predict.refit_skip_reason(store, on, now=fitted_at + timedelta(hours=5, minutes=59))
        assert reason is not None and "younger than [predict] refit_every (6:00:00)" in reason
        assert predict.refit_skip_reason(store, on, now=fitted_at + timedelta(hours=6)) is None
    finally:
        store.dispose()


def test_scores_are_kept_until_an_order_changes_and_a_fresh_order_leaves_at_risk(
    env, capsys, tmp_path, expected
):
    assert run(capsys, "predict", "fit", "--as-of", AS_OF)[0] == 0
    assert "buyer(s) scored with fit #1" in run(capsys, "segments", "compute", "--as-of", AS_OF)[2]
    # nothing changed: the stored scores rest on the same fit, day and orders
    assert "buyer(s) as scored before with fit #1" in run(capsys, "segments", "compute", "--as-of", AS_OF)[2]
    member = sorted(expected["at_risk"])[0]
    order = tmp_path / "today.csv"
    order.write_text(
        "order_id,email,created_at,total,currency,status\n"
        f"fresh-1,{member},1997-09-30T08:00:00Z,20.00,USD,paid\n"
    )
    assert run(capsys, "import", "orders", str(order))[0] == 0
    code, _, err = run(capsys, "segments", "compute", "--as-of", AS_OF)
    assert code == 0 and "buyer(s) kept, 1 rescored for orders of T's day, with fit #1" in err  # only they
    got = members(capsys, tmp_path)
    assert member not in got["at_risk"]  # bought this morning: alive again, whatever last night said
    assert expected["at_risk"] - {member} <= got["at_risk"]  # the others are still at risk


def test_a_cycle_refits_then_computes_with_the_new_fit(env, tmp_path):
    """The service's steps: "refit predictions" stores a fit, the compute right after reads it."""
    from segmail.jobs import steps

    config = parse({"segments": {"at_risk": {"enabled": True}}})
    store = open_store(env)
    now = datetime(2026, 12, 1, 12, tzinfo=UTC)
    as_of = datetime(1997, 9, 30, 23, 59, 59, tzinfo=UTC)
    try:
        inputs = steps.Inputs(store=store, config=config, now=lambda: now, as_of=as_of)
        first = steps.run_steps(inputs, steps.select("refit predictions", "compute"), run_id=1)
        assert [(r.name, r.status) for r in first.records] == [("refit predictions", "ok"), ("compute", "ok")]
        assert first.records[0].counts == {
            "fit": 1,
            "customers": 2357,
            "repeat": 946,
        }  # 2357 - 1411 one-time buyers
        computed = first.result(steps.COMPUTE)
        assert computed.predictions is not None and computed.predictions.fit_id == 1
        assert computed.changes["at_risk"].size > 0
        again = steps.run_steps(inputs, steps.select("refit predictions", "compute"), run_id=2)
        assert again.records[0].status == "skipped"  # fitted a moment ago
    finally:
        store.dispose()

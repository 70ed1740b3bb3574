"""`segmail predict check` on the CDNOW sample: the papers' 39-week calibration and 39-week holdout.

The holdout's actual repeat purchases are counted independently from the raw file; the predictions must
be the pure model's conditional expectations (segments.bgnbd) summed per calibration frequency class.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from datetime import date

import numpy as np
import pytest

from segmail.segments import bgnbd, clv
from segmail.segments.clv_data import summarise
from tests.test_predict_cli import cdnow_csv, env, run  # noqa: F401  (fixtures)
from tests.test_predict_models import CALIBRATION_END, CDNOW, cdnow_orders

HOLDOUT_END = "1998-06-30T23:59:59Z"


def raw_holdout_counts() -> Counter[str]:
    """Holdout purchase days per sample id straight from the file (one line per customer and day)."""
    days = {(line.split()[1], line.split()[2]) for line in CDNOW.read_text().splitlines()}
    return Counter(who for who, day in days if day > "19970930")


def test_check_json_matches_the_raw_file_and_the_pure_model(env, cdnow_csv, capsys):  # noqa: F811
    assert run(capsys, "import", "orders", cdnow_csv)[0] == 0
    code, out, err = run(
        capsys, "predict", "check", "--as-of", HOLDOUT_END, "--holdout-days", "273", "--format", "json"
    )
    assert code == 0, err
    doc = json.loads(out)
    assert (doc["calibration_end"], doc["holdout_end"], doc["holdout_days"]) == (
        "1997-09-30",
        "1998-06-30",
        273,
    )
    counts = raw_holdout_counts()
    assert doc["actual"] == sum(counts.values()) == 1882
    assert doc["customers"] == 2357

    summary = summarise(cdnow_orders(), CALIBRATION_END)
    models = clv.fit_models(summary)
    expected = bgnbd.expected_purchases(
        models.bg_nbd.params, 273.0, summary.frequency, summary.recency, summary.T
    )
    assert doc["predicted"] == pytest.approx(float(expected.sum()), rel=1e-9)
    assert math.isfinite(doc["predicted"]) and doc["predicted"] > 0
    assert doc["error"] == pytest.approx((doc["predicted"] - 1882) / 1882)

    classes = doc["by_frequency"]
    assert [c["frequency"] for c in classes] == ["0", "1", "2", "3", "4", "5", "6", "7+"]
    cls = np.minimum(summary.frequency, 7)
    actual = np.array([counts[c] for c in summary.customers])
    for k, c in enumerate(classes):
        members = cls == k
        assert c["customers"] == int(members.sum())
        assert c["predicted"] == pytest.approx(float(expected[members].sum()), rel=1e-9)
        assert c["actual"] == int(actual[members].sum())
        assert c["predicted_mean"] == pytest.approx(c["predicted"] / c["customers"])
    assert classes[0]["customers"] == 1411  # FHL 2005: 1,411 of the 2,357 made no repeat purchase
    assert sum(c["customers"] for c in classes) == 2357
    assert sum(c["actual"] for c in classes) == 1882

    cumulative = doc["cumulative"]
    assert [p["day"] for p in cumulative] == list(range(7, 274, 7))
    assert cumulative[-1]["actual"] == 1882
    assert cumulative[-1]["predicted"] == pytest.approx(doc["predicted"])
    predicted = [p["predicted"] for p in cumulative]
    actuals = [p["actual"] for p in cumulative]
    assert predicted == sorted(predicted) and actuals == sorted(actuals)
    in_week_one = sum(1 for who, day in {(ln.split()[1], ln.split()[2]) for ln in CDNOW.read_text().splitlines()}
                      if "19971001" <= day <= "19971007")  # fmt: skip
    assert cumulative[0]["actual"] == in_week_one

    # kept for its day and holdout: the workspace shows the same document without fitting again
    from segmail.jobs import predict_checks
    from segmail.store.db import open_store

    store = open_store(env)
    try:
        kept = predict_checks.stored(store, day=date(1998, 6, 30), holdout_days=273)
        assert kept is not None and not isinstance(kept, str)
        assert json.loads(json.dumps(predict_checks.document(kept))) == doc
        assert predict_checks.stored(store, day=date(1998, 6, 30), holdout_days=91) is None
    finally:
        store.dispose()


def test_check_table_and_plot(env, cdnow_csv, capsys, tmp_path):  # noqa: F811
    assert run(capsys, "import", "orders", cdnow_csv)[0] == 0
    plot = tmp_path / "check.png"
    code, out, err = run(
        capsys, "predict", "check", "--as-of", HOLDOUT_END, "--holdout-days", "273", "--plot", str(plot)
    )
    assert code == 0, err
    assert "actual 1882" in out and "7+" in out and "1411" in out
    assert f"plot written to {plot}" in err
    assert plot.stat().st_size > 10_000
    import matplotlib.image

    pixels = matplotlib.image.imread(str(plot))
    assert pixels.shape[0] >= 400 and pixels.shape[1] >= 1000
    assert len(np.unique(pixels.reshape(-1, pixels.shape[-1]), axis=0)) > 10  # not a blank canvas


def test_default_holdout_and_bad_input(env, cdnow_csv, capsys):  # noqa: F811
    assert run(capsys, "import", "orders", cdnow_csv)[0] == 0
    code, out, err = run(capsys, "predict", "check", "--as-of", HOLDOUT_END, "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["holdout_days"] == 91 and doc["calibration_end"] == "1998-03-31"
    assert doc["customers"] == 2357 and doc["actual"] > 0

    code, _, err = run(capsys, "predict", "check", "--as-of", HOLDOUT_END, "--holdout-days", "0")
    assert code == 2 and "--holdout-days must be at least 1" in err
    # a calibration before the first order: the fit's one-line refusal, exit 2
    code, _, err = run(capsys, "predict", "check", "--as-of", HOLDOUT_END, "--holdout-days", "700")
    assert code == 2 and err.strip() and "Traceback" not in err


def test_first_purchases_in_the_holdout_are_left_out():
    from segmail.segments.clv_check import holdout_purchase_days
    from segmail.segments.clv_data import summarise_days

    # customer 0 buys in calibration (day 10) and twice on one holdout day; customer 1 first buys in the holdout
    codes = np.array([0, 0, 0, 1, 0], dtype=np.int64)
    base = date(2024, 1, 1).toordinal()
    days = np.array([base + 10, base + 25, base + 25, base + 26, base + 40], dtype=np.int64)
    summary = summarise_days(("a", "b"), codes, days, np.ones(5), date(2024, 1, 21))
    index, day = holdout_purchase_days(summary, codes, days, date(2024, 2, 5))
    assert summary.customers == ("a",)
    assert index.tolist() == [0] and day.tolist() == [5]  # day 40 is after the holdout end

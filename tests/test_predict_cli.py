"""`segmail predict fit` and `predict export` end to end on SQLite and PostgreSQL, on the CDNOW sample.

The CDNOW sample (tests/data, the same reader as test_predict_models) is written as segmail's orders CSV
with one email per customer id, imported through `segmail import orders`, and fitted at the papers'
calibration end: the CLI must give exactly what the pure models give on the same orders.
"""

from __future__ import annotations

import csv
import io
import json
import math

import pytest

from segmail.jobs.cli import main
from segmail.segments import clv, day_reference
from segmail.segments.clv_data import summarise
from segmail.store.db import open_store
from segmail.store.predict_fits import latest_fit
from tests.test_predict_models import CALIBRATION_END, cdnow_orders, day_relative

AS_OF = "1997-09-30T23:59:59Z"
COLUMNS = {
    "email",
    "frequency",
    "recency_days",
    "t_days",
    "p_alive",
    "expected_orders_90d",
    "predicted_clv_365d",
    "rfm_r",
    "rfm_f",
    "rfm_m",
    "rfm_group",
    "clv_percentile",
}


def email(customer: str) -> str:
    return f"cdnow{customer}@example.com"


@pytest.fixture(scope="module")
def cdnow_csv(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("cdnow") / "orders.csv"
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["order_id", "email", "created_at", "total", "currency", "status"])
        for n, order in enumerate(cdnow_orders()):
            at = order.placed_at.isoformat().replace("+00:00", "Z")
            writer.writerow([f"cd{n}", email(order.customer), at, str(order.amount), "USD", "paid"])
    return str(path)


@pytest.fixture(scope="module")
def pure_models() -> tuple[clv.Models, clv.Predictions, day_reference.Relative]:
    summary = summarise(cdnow_orders(), CALIBRATION_END)
    models = clv.fit_models(summary)
    return models, clv.predict(models, summary), day_relative(models, cdnow_orders(), CALIBRATION_END)


@pytest.fixture
def env(monkeypatch, store_url, tmp_path):
    monkeypatch.setenv("SEGMAIL_STORE_URL", store_url)
    monkeypatch.delenv("SEGMAIL_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    return store_url


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_fit_json_equals_the_pure_models_and_is_stored(env, cdnow_csv, pure_models, capsys):
    assert run(capsys, "import", "orders", cdnow_csv)[0] == 0
    code, out, err = run(capsys, "predict", "fit", "--as-of", AS_OF, "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert set(doc) == {"bg_nbd", "gamma_gamma", "customers", "repeat_customers", "log_likelihood", "as_of"}
    assert set(doc["bg_nbd"]) == {"r", "alpha", "a", "b", "time_unit"} and doc["bg_nbd"]["time_unit"] == "day"
    assert set(doc["gamma_gamma"]) == {"p", "q", "v"}
    assert (doc["customers"], doc["repeat_customers"], doc["as_of"]) == (2357, 946, AS_OF)
    models, _, _ = pure_models
    bg, gg = models.bg_nbd.params, models.gamma_gamma.params
    for name in ("r", "alpha", "a", "b"):
        assert doc["bg_nbd"][name] == pytest.approx(getattr(bg, name), rel=1e-6)
    for name in ("p", "q", "v"):
        assert doc["gamma_gamma"][name] == pytest.approx(getattr(gg, name), rel=1e-6)
    assert doc["log_likelihood"] == pytest.approx(models.bg_nbd.log_likelihood, rel=1e-9)
    assert doc["bg_nbd"]["alpha"] == pytest.approx(30.90, rel=0.01)  # the published fit, in days

    store = open_store(env)
    try:
        with store.engine.connect() as conn:
            row = latest_fit(conn)
    finally:
        store.dispose()
    assert row is not None
    assert (row.customers, row.repeat_customers) == (2357, 946)
    assert (row.r, row.alpha, row.a, row.b) == tuple(doc["bg_nbd"][k] for k in ("r", "alpha", "a", "b"))
    assert (row.p, row.q, row.v) == tuple(doc["gamma_gamma"][k] for k in ("p", "q", "v"))
    assert row.log_likelihood == doc["log_likelihood"]

    code, out, _ = run(capsys, "predict", "fit", "--as-of", AS_OF)  # the table
    assert code == 0 and "Gamma-Gamma" in out and "2357 customers, 946 with a repeat purchase" in out


def test_export_csv_one_row_per_buyer_at_full_precision(env, cdnow_csv, pure_models, capsys, tmp_path):
    assert run(capsys, "import", "orders", cdnow_csv)[0] == 0
    code, out, err = run(capsys, "predict", "export", "--as-of", AS_OF, "--format", "csv")
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 2357 and len({r["email"] for r in rows}) == 2357
    assert set(rows[0]) >= COLUMNS
    assert "2357 customer row(s) exported" in err
    by_email = {r["email"]: r for r in rows}
    _, pure, relative = pure_models
    for i in (0, 1, 500, 2356):
        row = by_email[email(pure.customers[i])]
        for column, values in (
            ("p_alive", pure.p_alive),
            ("expected_orders_90d", pure.expected_orders_90d),
            ("predicted_clv_365d", pure.predicted_clv_365d),
        ):
            text = row[column]
            assert repr(float(text)) == text  # written by repr: full precision, not rounded
            assert float(text) == pytest.approx(float(values[i]), rel=1e-6)
        # relative scores rank against the buyers as of the start of T's day (segments.day_reference)
        assert (int(row["rfm_r"]), int(row["rfm_f"]), int(row["rfm_m"])) == (
            relative.rfm.r[i],
            relative.rfm.f[i],
            relative.rfm.m[i],
        )
        assert row["rfm_group"] == relative.rfm.group[i]
        assert float(row["clv_percentile"]) == pytest.approx(float(relative.clv_percentile[i]), abs=1e-9)
    first = by_email[email("0001")]  # Hardie's ID 1: x = 2, t_x = 213 days, T = 272 days
    assert (first["frequency"], first["recency_days"], first["t_days"]) == ("2", "213", "272")
    assert any(len(r["p_alive"].split(".")[-1]) > 6 for r in rows)  # not rounded for display
    percentiles = [float(r["clv_percentile"]) for r in rows]
    assert min(percentiles) == 0.0 and max(percentiles) == 100.0
    top = max(rows, key=lambda r: float(r["predicted_clv_365d"]))
    assert float(top["clv_percentile"]) == 100.0

    code, _, err = run(
        capsys, "predict", "export", "--as-of", AS_OF, "--format", "json", "--out", str(tmp_path / "p.json")
    )
    assert code == 0, err
    items = json.loads((tmp_path / "p.json").read_text())
    assert len(items) == 2357 and set(items[0]) >= COLUMNS
    assert all(isinstance(item["p_alive"], float) and math.isfinite(item["p_alive"]) for item in items)


def test_too_little_data_is_refused_in_one_line(env, tmp_path, capsys):
    path = tmp_path / "few.csv"
    path.write_text(
        "order_id,email,created_at,total,currency,status\n"
        "1,a@example.com,2026-01-05T10:00:00Z,10.00,EUR,paid\n"
        "2,a@example.com,2026-02-05T10:00:00Z,12.00,EUR,paid\n"
        "3,b@example.com,2026-02-10T10:00:00Z,0.00,EUR,paid\n"
    )
    assert run(capsys, "import", "orders", str(path))[0] == 0
    for command in ("fit", "export"):
        argv = ["predict", command, "--as-of", "2026-03-01T00:00:00Z", "--format", "json"]
        code, out, err = run(capsys, *argv)
        assert code == 2 and out == ""
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1
        assert err.startswith(
            "error: not enough data to predict: 50 customers with a repeat purchase needed, found 1"
        )
        assert "90 days of order history needed, found 55" in err
    store = open_store(env)
    try:
        with store.engine.connect() as conn:
            assert latest_fit(conn) is None  # a refusal stores nothing
    finally:
        store.dispose()


def test_an_empty_store_is_refused_too(env, capsys):
    code, out, err = run(capsys, "predict", "fit", "--as-of", AS_OF)
    assert code == 2 and out == "" and "found 0" in err and "Traceback" not in err


def test_export_discounts_the_clv_at_the_configured_rate(env, cdnow_csv, capsys, tmp_path):
    summary = summarise(cdnow_orders(), CALIBRATION_END)
    models = clv.fit_models(summary)
    discounted = clv.predict(models, summary, 0.1)
    config = tmp_path / "segmail.toml"
    config.write_text("[predict]\nannual_discount_rate = 0.1\n")
    assert run(capsys, "import", "orders", cdnow_csv)[0] == 0
    code, out, err = run(
        capsys, "--config", str(config), "predict", "export", "--as-of", AS_OF, "--format", "csv"
    )
    assert code == 0, err
    by_email = {r["email"]: r for r in csv.DictReader(io.StringIO(out))}
    undiscounted = clv.predict(models, summary)
    for i in (0, 1, 500, 2356):
        clv_365d = float(by_email[email(discounted.customers[i])]["predicted_clv_365d"])
        assert clv_365d == pytest.approx(float(discounted.predicted_clv_365d[i]), rel=1e-6)
        if undiscounted.predicted_clv_365d[i] > 0:
            assert clv_365d < undiscounted.predicted_clv_365d[i]

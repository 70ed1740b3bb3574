"""`segmail report campaigns|segments|movements` end to end on a generated shop, on SQLite and PostgreSQL:
the issue's CSV columns, JSON, the table, the plots, and bad input.

The shop (sandbox/shopgen.py, 900 contacts) has 150 weekly campaigns; bench/report_data.py registers
them as campaign results, and the segments are computed every week of the last quarter, so the history
has entries and exits to report.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest

from bench.report_data import register_campaigns
from segmail.jobs.cli import main
from segmail.jobs.compute import compute
from segmail.jobs.config import load_config
from segmail.jobs.importer import import_csv
from segmail.sandbox.shopgen import generate_shop
from segmail.store.db import open_store

AS_OF = datetime(2026, 11, 1, tzinfo=UTC)
CAMPAIGN_COLUMNS = [
    "campaign_id",
    "title",
    "sent_at",
    "segment",
    "variant",
    "recipients",
    "holdout",
    "opens",
    "clicks",
    "unsubscribes",
    "bounces",
    "attributed_orders",
    "attributed_revenue",
    "revenue_per_recipient",
    "lift",
    "lift_low",
    "lift_high",
]
SEGMENT_COLUMNS = [
    "segment",
    "members_start",
    "members_end",
    "entered",
    "left",
    "orders",
    "revenue",
    "revenue_while_member",
    "attributed_revenue",
    "revenue_per_member",
]


@pytest.fixture
def shop(store_url, tmp_path, monkeypatch):
    config_path = tmp_path / "segmail.toml"
    config_path.write_text('[mailchimp]\nlist_id = "list1"\n[shop]\ncurrency = "EUR"\n')
    monkeypatch.setenv("SEGMAIL_STORE_URL", store_url)
    monkeypatch.delenv("SEGMAIL_CONFIG", raising=False)
    files = generate_shop(tmp_path / "shop", contacts=900, seed=7, as_of=AS_OF)
    store = open_store(store_url)
    try:
        for kind in ("contacts", "orders", "events"):
            import_csv(store, getattr(files, kind), kind, now=AS_OF)
        cfg = load_config(config_path)
        for week in range(12, -1, -1):
            at = AS_OF - timedelta(weeks=week)
            compute(store, cfg, as_of=at, now=at)
        register_campaigns(store, as_of=AS_OF)
    finally:
        store.dispose()
    return config_path


def run(capsys, config_path, *argv):
    code = main(["--config", str(config_path), "report", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


PERIOD = ("--since", "2026-08-01", "--until", "2026-11-02")


def test_campaigns_csv_has_the_issue_columns_and_consistent_figures(shop, capsys):
    code, out, err = run(capsys, shop, "campaigns", *PERIOD, "--format", "csv")
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    header = next(csv.reader(io.StringIO(out)))
    assert header[: len(CAMPAIGN_COLUMNS)] == CAMPAIGN_COLUMNS
    assert len(rows) > 5
    sent = [r["sent_at"] for r in rows]
    assert sent == sorted(sent) and all("2026-08-01" <= s < "2026-11-02" for s in sent)
    # segmail's own campaigns are one row each however many sends; Mailchimp's one row per campaign
    series = [r for r in rows if r["campaign_id"].endswith("_series")]
    assert {r["segment"] for r in series} <= {"welcome", "repeat_buyer", "vip", "lapsed", "unengaged"}
    assert 3 <= len(series) == len({r["campaign_id"] for r in series}) <= 5
    assert {r["segment"] for r in rows if r["target"] == "other"} == {"other"}
    for r in rows:
        assert r["variant"] == r["holdout"] == r["lift"] == r["lift_low"] == r["lift_high"] == ""
        money, recipients = Decimal(r["attributed_revenue"]), int(r["recipients"])
        assert int(r["clicks"]) <= int(r["opens"]) + int(r["proxy_opens"]) <= recipients
        if recipients:
            assert abs(Decimal(r["revenue_per_recipient"]) - money / recipients) < Decimal("0.0001")
    assert sum(int(r["attributed_orders"]) for r in rows) > 0
    assert sum(int(r["bounces"]) for r in rows) > 0 and sum(int(r["proxy_opens"]) for r in rows) > 0


def expected_moves(store_url, since, until):
    """The movements, computed independently: each member's segments at both ends, from the raw history."""
    from sqlalchemy import create_engine, text

    engine = create_engine(store_url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT email_key, segment, at, kind FROM segment_history")).all()
    engine.dispose()
    at_start: dict[str, set[str]] = {}
    at_end: dict[str, set[str]] = {}
    for state, bound in ((at_start, since), (at_end, until)):
        net: dict[tuple[str, str], int] = {}
        for key, seg, at, kind in rows:
            if at <= bound:
                net[(key, seg)] = net.get((key, seg), 0) + (1 if kind == "enter" else -1)
        for (key, seg), n in net.items():
            if n > 0:
                state.setdefault(key, set()).add(seg)
    moves: dict[tuple[str, str], int] = {}
    for key in set(at_start) | set(at_end):
        gone, came = (
            at_start.get(key, set()) - at_end.get(key, set()),
            at_end.get(key, set()) - at_start.get(key, set()),
        )
        if gone or came:
            for a in gone or {"(none)"}:
                for b in came or {"(none)"}:
                    moves[(a, b)] = moves.get((a, b), 0) + 1
    return moves


def test_segments_and_movements_agree(shop, store_url, capsys):
    period = ("--since", "2026-08-15", "--until", "2026-11-02")  # the first compute ran on 2026-08-09
    code, out, err = run(capsys, shop, "segments", *period, "--format", "csv")
    assert code == 0, err
    header = next(csv.reader(io.StringIO(out)))
    assert header[: len(SEGMENT_COLUMNS)] == SEGMENT_COLUMNS
    rows = {r["segment"]: r for r in csv.DictReader(io.StringIO(out))}
    assert set(rows) == {"welcome", "repeat_buyer", "vip", "lapsed", "unengaged"}
    for r in rows.values():
        start, end, entered, left = (int(r[k]) for k in ("members_start", "members_end", "entered", "left"))
        assert end == start + entered - left
    assert all(int(r["members_start"]) > 0 for r in rows.values())
    assert sum(int(r["entered"]) + int(r["left"]) for r in rows.values()) > 0
    assert Decimal(rows["vip"]["revenue"]) > 0 and Decimal(rows["repeat_buyer"]["revenue_while_member"]) > 0
    code, out, err = run(capsys, shop, "movements", *period, "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["since"] == "2026-08-15" and doc["until"] == "2026-11-02"
    moves = {(m["from"], m["to"]): m["members"] for m in doc["rows"]}
    since, until = (
        int(datetime(2026, m, d, tzinfo=UTC).timestamp()) * 1_000_000 for m, d in ((8, 15), (11, 2))
    )
    assert moves == expected_moves(store_url, since, until)
    assert any(a != "(none)" and b != "(none)" for a, b in moves)  # a real move between two segments


def test_table_json_and_plots(shop, capsys, tmp_path):
    code, out, err = run(capsys, shop, "campaigns", *PERIOD)
    assert code == 0 and "revenue" in out and "money in EUR" in out
    code, out, err = run(capsys, shop, "campaigns", *PERIOD, "--format", "json")
    doc = json.loads(out)
    assert doc["currency"] == "EUR" and doc["rows"][0]["lift"] is None
    assert isinstance(doc["rows"][0]["attributed_revenue"], str)  # exact decimals
    import matplotlib.image

    for kind in ("campaigns", "segments", "movements"):
        plot = tmp_path / f"{kind}.png"
        code, _, err = run(capsys, shop, kind, *PERIOD, "--plot", str(plot))
        assert code == 0 and f"plot written to {plot}" in err, err
        pixels = matplotlib.image.imread(str(plot))
        assert pixels.shape[0] >= 500 and pixels.shape[1] >= 800
        assert len(np.unique(pixels.reshape(-1, pixels.shape[-1]), axis=0)) > 50  # not a blank canvas
    svg = tmp_path / "segments.svg"
    assert run(capsys, shop, "segments", *PERIOD, "--plot", str(svg))[0] == 0
    assert svg.read_text().lstrip().startswith("<?xml") and svg.stat().st_size > 20_000


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--since", "2026-13-01"), "--since '2026-13-01' is not a date such as 2026-11-01"),
        (("--since", "2026-11-02", "--until", "2026-11-01"), "until (2026-11-01) must be after since"),
        (("--plot", "x.pdf"), "--plot x.pdf: the file must end in .png or .svg"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.setenv("SEGMAIL_STORE_URL", f"sqlite:///{tmp_path / 's.db'}")
    config_path = tmp_path / "c.toml"
    config_path.write_text("")
    code, _, err = run(capsys, config_path, "segments", *argv)
    assert code == 2 and message in err and "Traceback" not in err

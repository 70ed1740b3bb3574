"""`segmail send plan` says which compute it read, what --as-of means, and why it planned nobody."""

from __future__ import annotations

from datetime import timedelta

import pytest

from segmail.jobs.cli import main
from segmail.jobs.compute import compute
from tests.shop import Shop, config
from tests.test_send import NOW, VIP
from tests.test_send_cli import write_toml

AS_OF = "2026-11-30T06:00:00Z"
SEGMENTS = {"vip": {"rule": "orders_count >= 1"}}
WELCOME = {**VIP, "trigger": "on_enter"}
del WELCOME["date"]


def plan(capsys, toml, campaign, as_of=AS_OF):
    code = main(["--config", str(toml), "send", "plan", "--campaign", campaign, "--as-of", as_of])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return captured.out, " ".join(captured.err.split())


def shop_with(store, statuses, *, orders=True):
    shop = Shop(store)
    for i, status in enumerate(statuses):
        email = shop.contact(f"c{i}@x.io", status=status)
        if orders:
            shop.order(email, NOW - timedelta(days=10), "50.00")
    shop.flush(NOW)
    compute(store, config(SEGMENTS), as_of=NOW, now=NOW)


@pytest.fixture
def toml(tmp_path, store_url):
    campaigns = {"vip_early": VIP, "welcome": WELCOME}
    return write_toml(tmp_path / "c.toml", store_url, "https://us6.api.mailchimp.com/3.0", campaigns)


def test_before_any_compute_it_says_to_compute_first(toml, store, capsys):
    out, err = plan(capsys, toml, "vip_early")
    assert out.splitlines() == ["email,timezone,tz_source,send_at_utc,bucket"]
    assert "from no compute yet: 0 recipient(s)" in err
    assert (
        "nobody to send to: nothing computed yet: run `segmail segments compute` or `segmail sync --once` first"
        in err
    )


def test_the_summary_names_the_compute_and_what_as_of_means(toml, store, capsys):
    shop_with(store, ["subscribed", "subscribed"])
    _, err = plan(capsys, toml, "vip_early")
    assert "planned as of 2026-11-30T06:00:00+00:00 (--as-of: the plan's clock" in err
    assert "from compute run 1 (as of 2026-11-30T06:00:00+00:00): 2 recipient(s)" in err
    assert "0 skipped; nothing written" in err and "nobody to send to" not in err


def test_all_skipped_gives_the_counts_by_rule(toml, store, capsys):
    shop_with(store, ["unsubscribed", "unsubscribed", "pending"])
    out, err = plan(capsys, toml, "vip_early")
    assert len(out.splitlines()) == 4 and all(",skip:status " in line for line in out.splitlines()[1:])
    assert "3 skipped (status unsubscribed=2, status pending=1)" in err
    assert (
        "nobody to send to: all 3 recipient(s) skipped, by rule: status unsubscribed=2, status pending=1"
        in err
    )


def test_an_empty_segment_is_named(toml, store, capsys):
    shop_with(store, ["subscribed"], orders=False)
    _, err = plan(capsys, toml, "vip_early")
    assert "nobody to send to: segment vip has no members in compute run 1" in err


def test_on_enter_without_backfill_explains_the_entry_cut_off(toml, store, capsys):
    shop_with(store, ["subscribed", "subscribed"])
    _, err = plan(capsys, toml, "welcome")  # they entered at --as-of itself: planned
    assert "2 recipient(s)" in err and "nobody to send to" not in err
    _, err = plan(capsys, toml, "welcome", "2026-12-01T06:00:00Z")  # a day later, never seen by a service
    assert (
        "campaign welcome is on_enter without backfill: it mails only members who entered vip from "
        "2026-12-01T06:00:00+00:00 on" in err
    )
    assert "all 2 entered earlier; set campaigns.welcome.backfill = true to mail them" in err


def test_send_plan_help_says_how_as_of_is_used(capsys):
    with pytest.raises(SystemExit):
        main(["send", "plan", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "the plan's clock" in text and "last compute" in text

"""`[privacy] keep_*`: old events, send history and run logs deleted a chunk at a time, on both stores,
without changing what segments and sends rely on."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from segmail.jobs import retention
from segmail.jobs.config_check import retention_warnings
from segmail.store import audit, ledger
from segmail.store.codec import to_us
from segmail.store.runs import finish_run, start_run
from segmail.store.schema import events, feature_dirty, features, memberships, runs, send_buckets, send_ledger
from tests.conftest import T
from tests.shop import Shop, config, days


def count(store, table, *where):
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def old_and_new_events(store) -> Shop:
    """Ten contacts, each with an open three years ago; the even ones opened last week too."""
    shop = Shop(store)
    for n in range(10):
        email = shop.contact(f"p{n}@x.example", opted_in_at=T - days(2000))
        shop.event(email, T - days(3 * 365))
        shop.event(email, T - days(3 * 365) + timedelta(seconds=1), type="click")
        if n % 2 == 0:
            shop.event(email, T - days(7))
    shop.flush(T)
    return shop


def test_old_events_go_in_chunks_and_only_the_features_they_carried_go_stale(store):
    shop = old_and_new_events(store)
    before = shop.segments(T)
    c = config(privacy={"keep_events": "2y"})
    first = retention.run(store, c, now=T, command="test", batch=4, max_chunks=1)
    assert not first.finished and 0 < first.rows["events"] < 20  # one chunk of about 4 rows
    done = retention.run(store, c, now=T, command="test", batch=4, max_chunks=None)
    assert done.finished and first.rows["events"] + done.rows["events"] == 20
    assert count(store, events) == 5  # last week's opens stay
    with store.engine.connect() as conn:
        stale = set(conn.execute(select(feature_dirty.c.email_key)).scalars())
    assert stale == {f"p{n}@x.example" for n in range(10)}  # every click went; odd ones lost their open too
    # the defaults change no built-in segment (unengaged reads a missing open as none in the window)
    assert shop.segments(T) == before
    with store.engine.connect() as conn:
        row = conn.execute(select(features).where(features.c.email_key == "p1@x.example")).mappings().one()
        log = audit.entries(conn)
    assert row["last_open_at"] is None and row["last_click_at"] is None
    assert [(e["kind"], e["rows"]) for e in log] == [("retention", {"events": done.rows["events"]}),
                                                     ("retention", {"events": first.rows["events"]})]  # fmt: skip


def test_ledger_rows_an_entry_still_needs_are_kept(store):
    shop = Shop(store)
    stays = shop.contact("stays@x.example", opted_in_at=T - days(1000))
    left = shop.contact("left@x.example", opted_in_at=T - days(1000))
    shop.segments(T - days(900), config({"all": {"rule": "orders_count >= 0"}}))  # both enter at T-900d
    with store.engine.connect() as conn:
        entered = conn.execute(
            select(memberships.c.entered_at).where(memberships.c.email_key == stays)
        ).scalar()
    slot = to_us(T - days(899))
    rows = (ledger.Entry(stays, f"enter:{entered}", slot, "UTC", "default", None),
            ledger.Entry(left, "enter:12345", slot, "UTC", "default", None))  # fmt: skip
    bucket = ledger.NewBucket(
        prefix="hello-1", slot_at=slot, send_at=slot, variant="{}", title="t", entries=rows
    )
    with store.engine.begin() as conn:
        ledger.write_slot(conn, ledger.SlotWrite(campaign="hello", created_at=slot, buckets=(bucket,)))
        ledger.set_ledger_status(conn, "hello-1-0", "sent")
        ledger.update_bucket(conn, "hello-1-0", status="sent")
    retention.run(store, config(), now=T, command="test", max_chunks=None)
    with store.engine.connect() as conn:
        kept = set(conn.execute(select(send_ledger.c.email_key)).scalars())
    assert kept == {stays}  # without it, the on_enter planner would mail her again for the same entry
    assert count(store, send_buckets) == 1  # a kept row still points at its bucket


def test_old_runs_go_but_the_newest_of_each_kind_keeps_the_numbering(store):
    with store.engine.begin() as conn:
        for n in range(5):
            at = T - days(400 - n)
            finish_run(
                conn,
                start_run(conn, kind="cycle" if n < 4 else "compute", as_of=at, now=at),
                now=at,
                stats={},
            )
    retention.run(store, config(), now=T, command="test", max_chunks=None)
    with store.engine.connect() as conn:
        left = conn.execute(select(runs.c.id, runs.c.kind).order_by(runs.c.id)).all()
    assert [tuple(r) for r in left] == [(4, "cycle"), (5, "compute")]
    with store.engine.begin() as conn:
        assert start_run(conn, kind="cycle", as_of=T, now=T) == 6


def test_rules_that_look_back_further_than_keep_events_are_warned_about():
    assert retention_warnings(config()) == []  # the defaults fit every built-in rule
    warned = retention_warnings(config(privacy={"keep_events": "90d"}))
    assert len(warned) == 1 and warned[0].startswith("segments.unengaged: its rule looks 180 days back")
    with pytest.raises(Exception, match=r"privacy\.keep_ledger: must be at least 30d"):
        config(privacy={"keep_ledger": "1w"})
    assert config(privacy={"keep_events": "2y"}).privacy.keep_events == timedelta(days=730)


def test_rules_check_prints_the_retention_warning(tmp_path, capsys):
    from segmail.jobs.cli import main

    conf = tmp_path / "segmail.toml"
    conf.write_text('[privacy]\nkeep_events = "90d"\n')
    assert main(["--config", str(conf), "rules", "check"]) == 0  # a warning, not an error
    assert "warning: segments.unengaged: its rule looks 180 days back" in capsys.readouterr().err


def test_the_example_config_states_the_privacy_defaults():
    from pathlib import Path

    from segmail.jobs.config import load_config

    example = load_config(Path(__file__).resolve().parents[1] / "config.example.toml", env={})
    assert example.privacy == config().privacy


def test_the_service_schedules_retention_daily_and_never_postpones_it(store, monkeypatch):
    from segmail.jobs.service import RETENTION_JOB_ID, Service

    svc = Service(config(), store, api=None, source=None, now=lambda: T)  # type: ignore[arg-type]
    jobs = {j.id: j for j in svc._scheduler().get_jobs()}
    assert jobs[RETENTION_JOB_ID].next_run_time == T + timedelta(minutes=1)  # never run: soon after start
    retention.run(store, config(), now=T - timedelta(hours=3), command="test")
    jobs = {j.id: j for j in svc._scheduler().get_jobs()}
    assert jobs[RETENTION_JOB_ID].next_run_time == T + timedelta(hours=21)  # a day after the last pass

"""Run numbers count 1, 2, 3 … without gaps: a rolled-back run gives its number to the next one."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select, text

from segmail.jobs import compute as compute_job
from segmail.jobs.compute import compute
from segmail.store.runs import RUN_NUMBER_LOCK, start_run
from segmail.store.schema import runs
from tests.conftest import T
from tests.shop import Shop, config


def run_rows(store):
    with store.engine.connect() as conn:
        return [(r.id, r.kind, r.status) for r in conn.execute(select(runs).order_by(runs.c.id))]


def test_a_failed_compute_leaves_no_gap(store, monkeypatch):
    shop = Shop(store)
    shop.contact("a@x.io")
    shop.flush(T)
    cfg = config({"vip": {"rule": "orders_count >= 1"}})
    assert compute(store, cfg, as_of=T, now=T).run_id == 1

    def broken(*_a, **_k):
        raise RuntimeError("disk full")

    with monkeypatch.context() as m:
        m.setattr(compute_job.engine, "apply", broken)
        with pytest.raises(RuntimeError):
            compute(store, cfg, as_of=T, now=T)  # its first insert rolls back; the failure is logged after
    with store.engine.begin() as conn:
        assert start_run(conn, kind="cycle", as_of=T, now=T) == 3
    assert compute(store, cfg, as_of=T, now=T).run_id == 4
    assert run_rows(store) == [
        (1, "compute", "ok"),
        (2, "compute", "failed"),
        (3, "cycle", "running"),
        (4, "compute", "ok"),
    ]


def test_a_rolled_back_run_number_is_reused(store):
    with store.engine.connect() as conn, conn.begin() as tx:
        assert start_run(conn, kind="compute", as_of=T, now=T) == 1
        tx.rollback()
    with store.engine.begin() as conn:
        assert start_run(conn, kind="compute", as_of=T, now=T) == 1


@pytest.mark.postgres
@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
def test_postgresql_concurrent_writer_waits_and_takes_the_freed_number(store):
    """Writer B asks for a number while A holds 1 uncommitted; A rolls back, so B gets 1, not 2."""
    got: list[int] = []
    with store.engine.connect() as a, a.begin() as tx:
        assert start_run(a, kind="compute", as_of=T, now=T) == 1

        def writer_b():
            with store.engine.begin() as b:
                got.append(start_run(b, kind="cycle", as_of=T, now=T))

        thread = threading.Thread(target=writer_b)
        thread.start()
        with store.engine.connect() as watch:  # B is blocked on the advisory lock: deterministic order
            waiting = text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objid = :key "
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            ).bindparams(key=RUN_NUMBER_LOCK)
            for _ in range(10_000):
                if watch.execute(waiting).scalar_one():
                    break
                watch.rollback()
            else:
                pytest.fail("writer B never waited for the run-number lock")
        tx.rollback()
    thread.join(timeout=30)
    assert got == [1]
    assert run_rows(store) == [(1, "cycle", "running")]

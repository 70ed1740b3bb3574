"""kill -9 during `segmail forget`: the store keeps either everything or nothing of the erasure.

The forget runs as its own process with SEGMAIL_TEST_PAUSE_IN_ERASURE set: once every table's work is
done inside the transaction, and before the commit, it creates `P.ready` and waits for `P.go`. The test
kills it at that point, or lets it go on: a file handshake, no timed guess.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from segmail.jobs.privacy import PAUSE_ENV
from tests.conftest import T
from tests.privacy_data import JANE, JANE_KEY, add_jane, base, found_anywhere, mail_history, segments

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def snapshot(url: str) -> dict[str, int]:
    """Rows per table, and where her address is."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            names = [r[0] for r in conn.execute(text(
                "SELECT name FROM sqlite_master WHERE type = 'table'" if url.startswith("sqlite")
                else "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            ))]  # fmt: skip
            return {n: conn.execute(text(f'SELECT count(*) FROM "{n}"')).scalar_one() for n in sorted(names)}
    finally:
        engine.dispose()


def start_forget(url: str, tmp_path: Path) -> tuple[subprocess.Popen[bytes], Path]:
    pause = tmp_path / "pause"
    conf = tmp_path / "segmail.toml"
    conf.write_text("[privacy]\n")
    env = {**os.environ, PAUSE_ENV: str(pause), "SEGMAIL_STORE_URL": url}
    proc = subprocess.Popen(
        [sys.executable, "-m", "segmail.jobs.cli", "--config", str(conf), "forget", JANE, "--no-mailchimp"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    ready = Path(f"{pause}.ready")
    deadline = time.monotonic() + 120  # a bound for a broken run only: the handshake decides
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"forget never reached its pause: {proc.communicate()[0].decode()}")
        time.sleep(0.02)
    return proc, pause


@pytest.fixture
def jane_everywhere(store, store_url):
    shop = base(store)
    add_jane(shop)
    shop.flush(T)
    segments(store)
    mail_history(store)
    store.dispose()
    return store_url


def test_kill_9_inside_the_transaction_leaves_everything(jane_everywhere, tmp_path):
    url = jane_everywhere
    before = snapshot(url)
    where_before = found_anywhere(url, [JANE_KEY])
    proc, _ = start_forget(url, tmp_path)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert snapshot(url) == before  # nothing erased, nothing suppressed, nothing audited
    assert found_anywhere(url, [JANE_KEY]) == where_before != []


def test_a_forget_that_commits_leaves_nothing(jane_everywhere, tmp_path):
    url = jane_everywhere
    proc, pause = start_forget(url, tmp_path)
    Path(f"{pause}.go").touch()
    output = proc.communicate(timeout=120)[0].decode()
    assert proc.returncode == 0, output
    assert "erased 1 people (1 held here)" in output
    assert found_anywhere(url, [JANE_KEY]) == []
    after = snapshot(url)
    assert after["suppressions"] == 1 and after["privacy_audit"] == 2

"""Editing a segment in the config file (jobs/config_edit.py) and a running service taking it up at its
next cycle (jobs/config_watch.py)."""

from __future__ import annotations

import logging
import os
import stat
import tomllib
from datetime import UTC, datetime

import pytest

from segmail.jobs import config_edit
from segmail.jobs.config import load_config
from segmail.jobs.config_watch import ConfigWatch, fingerprint
from segmail.jobs.send import Sender, make_renderer
from segmail.jobs.service import Service
from segmail.store.db import open_store

NOW = datetime(2026, 6, 15, 12, 0, 0, 123456, tzinfo=UTC)
FILE = """# comments stay
[store]
path = "s.db"  # beside the file

[segments]
paid_statuses = ["paid"]  # only paid

[segments.vip]
# the big spenders
top_percent = 10  # ten per cent
rule = 'orders_count >= 1 and total_spent >= top_spenders_threshold(top_percent)'

[segments.dach]
rule = 'country in markets'
markets = ["DE", "AT"]

[schedule]
sync_every = "15m"
"""


def edit(segment="vip", rule="orders_count >= 2", params="top_percent = 10", enabled=True):
    return config_edit.SegmentEdit(segment=segment, rule=rule, params_text=params, enabled=enabled)


@pytest.fixture
def path(tmp_path):
    p = tmp_path / "segmail.toml"
    p.write_text(FILE, encoding="utf-8")
    os.chmod(p, 0o664)  # group-writable: a save must narrow this, never keep or widen it
    return p


def save(path, change, expected=None):
    token = expected or fingerprint(path).token()
    return config_edit.save(path, change, expected=token, env={}, now=NOW)


def test_a_save_changes_that_segment_only_keeps_comments_and_a_backup(path):
    saved = save(path, edit(rule="orders_count >= 2 and total_spent >= 500", params="top_percent = 5"))
    text = path.read_text(encoding="utf-8")
    for comment in ("# comments stay", "# beside the file", "# only paid", "# the big spenders"):
        assert comment in text
    after, before = tomllib.loads(text), tomllib.loads(FILE)
    assert after["segments"]["vip"] == {"top_percent": 5, "rule": "orders_count >= 2 and total_spent >= 500"}
    assert {k: v for k, v in after.items() if k != "segments"} == {
        k: v for k, v in before.items() if k != "segments"
    }
    assert after["segments"]["dach"] == before["segments"]["dach"]
    assert saved.backup.name == "segmail.toml.20260615T120000123456Z.bak"
    assert saved.backup.read_text(encoding="utf-8") == FILE
    assert saved.config.segment_defs["vip"].rule == "orders_count >= 2 and total_spent >= 500"
    for f in (path, saved.backup):
        assert stat.S_IMODE(f.stat().st_mode) == 0o644  # group write dropped, nothing added
    assert not list(path.parent.glob(".*.tmp"))


def test_a_built_in_gets_a_table_with_only_what_differs_from_its_defaults(path):
    save(path, edit(segment="lapsed", rule="orders_count >= 1 and days_since_last_order > min_days",
                    params="min_days = 45\ninterval_multiplier = 2.0"))  # fmt: skip
    table = tomllib.loads(path.read_text(encoding="utf-8"))["segments"]["lapsed"]
    assert table == {"rule": "orders_count >= 1 and days_since_last_order > min_days", "min_days": 45}


def test_parameters_removed_in_the_editor_leave_the_file_and_enabled_is_written(path):
    save(path, edit(segment="dach", rule='country == "DE"', params="", enabled=False))
    assert tomllib.loads(path.read_text(encoding="utf-8"))["segments"]["dach"] == {
        "rule": 'country == "DE"',
        "enabled": False,
    }


def test_a_new_segment_becomes_a_new_table(path):
    save(path, edit(segment="boots", rule='"boots" in categories', params=""))
    assert tomllib.loads(path.read_text(encoding="utf-8"))["segments"]["boots"] == {
        "rule": '"boots" in categories'
    }
    assert load_config(path, env={}).segment_defs["boots"].enabled


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (
            edit(rule="orders_count >= 1 and total_spend >= 5"),
            "segments.vip.rule: column 23: unknown name 'total_spend'",
        ),
        (edit(params="top_percent = 140"), "segments.vip.top_percent"),
        (edit(params="top_percent = "), "segments.vip (parameters): not valid TOML"),
        (edit(params="tag = 'x'"), "segments.vip.tag: edit it in the file"),
        (
            edit(segment="dach", rule="country == 'DE'", params='markets = ["DE"]'),
            "parameter(s) markets not used",
        ),
    ],
)
def test_an_invalid_edit_is_refused_with_the_errors_of_rules_check(path, change, problem):
    before = path.read_bytes()
    assert any(problem in p for p in config_edit.prepare(path, change, {}).problems)
    with pytest.raises(config_edit.EditRefused, match="not saved"):
        save(path, change)
    assert path.read_bytes() == before
    assert not list(path.parent.glob("*.bak"))


def test_a_file_changed_since_the_editor_opened_it_is_never_overwritten(path):
    opened = fingerprint(path).token()
    path.write_text(FILE.replace('sync_every = "15m"', 'sync_every = "5m"'), encoding="utf-8")
    with pytest.raises(config_edit.FileChanged, match="changed on disk"):
        save(path, edit(), expected=opened)
    assert 'sync_every = "5m"' in path.read_text(encoding="utf-8")


def test_a_folder_the_user_cannot_write_is_refused_with_what_to_do(path, monkeypatch):
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if mode == os.W_OK else real(p, mode))
    with pytest.raises(config_edit.EditRefused, match="not writable by this user"):
        save(path, edit())


def test_params_text_round_trips(path):
    params = load_config(path, env={}).segment_defs["dach"].params
    assert config_edit.parse_params("dach", config_edit.params_text(params)) == (dict(params), [])


# ---- the running service takes the change up at its next cycle ---------------------------------


@pytest.fixture
def service(path):
    config = load_config(path, env={})
    store = open_store(config.store_url())
    sender = Sender(store, config, None, make_renderer(config), now=lambda: NOW)
    svc = Service(config, store, None, None, sender=sender, now=lambda: NOW, watch=ConfigWatch(path, {}))  # type: ignore[arg-type]
    yield svc
    store.dispose()


def test_the_service_takes_up_saved_segments_before_its_next_cycle(service, path, caplog):
    service._take_up_config()  # nothing changed: nothing taken up
    assert service.config.segment_defs["vip"].rule.startswith("orders_count >= 1")
    save(path, edit(rule="orders_count >= 3"))
    with caplog.at_level(logging.INFO, logger="segmail.config"):
        service._take_up_config()
    assert service.config.segment_defs["vip"].rule == "orders_count >= 3"
    assert service.sender is not None and service.sender.config is service.config
    assert "[segments] taken up" in caplog.text


def test_other_sections_wait_for_a_restart_and_a_broken_file_is_not_taken_up(service, path, caplog):
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace('sync_every = "15m"', 'sync_every = "5m"').replace(">= 1", ">= 4"), encoding="utf-8"
    )
    with caplog.at_level(logging.INFO, logger="segmail.config"):
        service._take_up_config()
    assert service.config.segment_defs["vip"].rule.startswith("orders_count >= 4")
    assert service.config.schedule.sync_every.total_seconds() == 900  # read at start only
    assert "[schedule] changed too and take effect after a restart" in caplog.text
    path.write_text(text.replace("orders_count >= 1", "orders_cont >= 1"), encoding="utf-8")
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="segmail.config"):
        service._take_up_config()
    assert service.config.segment_defs["vip"].rule.startswith("orders_count >= 4")  # kept
    assert "is not valid, so the service keeps the config it runs" in caplog.text
    assert "unknown name 'orders_cont'" in caplog.text
